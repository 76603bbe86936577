package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The API's {@code list()}: every step committed in any of a checkpointer's tiers, newest first, fastest tier first. */
public final class CommittedCheckpoints {
    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final Map<String, Integer> order = new HashMap<>();

    public CommittedCheckpoints(List<Tier> tiers, CommitProtocol commits) {
        this.tiers = tiers;
        this.commits = commits;
        for (Tier t : tiers) {
            order.put(t.name(), t.index());
        }
    }

    /** One entry per step and tier whose MANIFEST reads; an unreachable tier or unreadable manifest lists nothing. */
    public List<CheckpointInfo> list() {
        List<CheckpointInfo> out = new ArrayList<>();
        for (Tier t : tiers) {
            try {
                for (long step : commits.committedSteps(t)) {
                    try {
                        Manifest m = commits.readGlobal(t, step); // sizes and counts without the rank indexes
                        out.add(new CheckpointInfo(m.run(), step, t.name(), m.worldSize(), (int) m.entryCount(), m.rawBytes(),
                                m.storedBytes(), m.createdAt()));
                    } catch (CheckpointException | IOException e) {
                        // An unreadable manifest is not a checkpoint anyone can restore; verify reports it.
                    }
                }
            } catch (IOException e) {
                // An unreachable tier lists nothing.
            }
        }
        out.sort(Comparator.comparingLong(CheckpointInfo::step).reversed()
                .thenComparingInt(i -> order.get(i.tier())));
        return out;
    }
}
