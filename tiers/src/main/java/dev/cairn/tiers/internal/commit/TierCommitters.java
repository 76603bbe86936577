package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.GcReport;
import dev.cairn.tiers.internal.Tier;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.function.ObjLongConsumer;

/** Each tier's {@link TierCommitter}, by tier index, and the API's {@code gc} over all of them. */
public final class TierCommitters {
    private final List<TierCommitter> committers = new ArrayList<>();
    /** Told of each collection asked for, with the {@code System.nanoTime()} it began (events and metrics). */
    private final ObjLongConsumer<GcReport> collected;

    /** @param rankCommits where a multi-rank save commits; null in a single-rank run (see {@link TierCommitter}) */
    public TierCommitters(List<Tier> tiers, CommitProtocol commits, String run, TierCommitter.Retention retention,
                          Executor rankCommits, ObjLongConsumer<GcReport> collected) {
        for (Tier t : tiers) {
            committers.add(new TierCommitter(t, commits, run, retention, rankCommits));
        }
        this.collected = collected;
    }

    /** The commit owner of the tier with index {@code tier}. */
    public TierCommitter of(int tier) {
        return committers.get(tier);
    }

    /** Collects every tier in turn; fails on the first tier whose store cannot be read. */
    public List<GcReport> collect(boolean dryRun) {
        List<GcReport> reports = new ArrayList<>();
        for (TierCommitter c : committers) {
            try {
                long began = System.nanoTime();
                GcReport report = c.collect(dryRun);
                collected.accept(report, began);
                reports.add(report);
            } catch (IOException e) {
                throw new CheckpointException(Reason.STORAGE, "gc of tier " + c.tier().name() + " failed: " + e.getMessage(), e);
            }
        }
        return reports;
    }
}
