package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * A process's {@link ChunkCatalog.Seed}: the chunks its rank's rows of the tier's newest committed step name, in the
 * forms those rows record, read from metadata the process reads anyway (the MANIFEST, which the open reads ahead,
 * and, where a MANIFEST of several ranks keeps its rows in the rank indexes, this rank's index, checked against the
 * MANIFEST's reference to it). Nothing is listed: a tier with no committed step seeds nothing, and a tier's seed costs
 * at most one index read however many chunks the tier holds.
 *
 * <p>Why the seeded chunks are stored: a committed step's chunks are present unless a collector retired that step,
 * and no collector retires the newest step; one retired since the open (a newer step came from another writer) has
 * its chunks deleted only after the grace period, and whatever the catalog says, a commit confirms in the store every
 * chunk its save did not put itself ({@link ChunkConfirmation}). A differential chunk is seeded only with every base
 * of its chain, as rows of the same step record them: a chunk without its chain is unusable.
 *
 * <p>What it does not know (chunks other ranks put, chunks only older steps name, orphans of a failed save) a save
 * takes for not stored and creates, keeping the stored form where the tier held the key after all
 * ({@code ChunkForms#put}).
 */
public final class NewestCommittedRows implements ChunkCatalog.Seed {
    /** The newest step committed in a tier as this process knows it, or -1 when none. */
    @FunctionalInterface
    public interface NewestStep {
        long of(Tier tier) throws IOException;
    }

    private final CommitProtocol commits;
    private final NewestStep newest;
    private final int rank;

    /**
     * @param newest where the newest committed step comes from ({@link HighestCommitted#atFirstSave}: the listing of
     *               the steps at open)
     * @param rank   this process's rank, whose rows are read
     */
    public NewestCommittedRows(CommitProtocol commits, NewestStep newest, int rank) {
        this.commits = commits;
        this.newest = newest;
        this.rank = rank;
    }

    /**
     * Marks the chunks of this rank's rows of the newest committed step. A step gone since (retired by a collector) or
     * rows that cannot be trusted (CORRUPT, a newer format) seed nothing: the saves then put what they need. A store
     * that cannot be read fails the seed, and the next use of the catalog asks again.
     */
    @Override
    public void fill(Tier tier, ChunkCatalog catalog) throws IOException {
        long step = newest.of(tier);
        if (step < 0) {
            return;
        }
        Manifest rows;
        try {
            Manifest global = commits.readGlobal(tier, step);
            if (global.worldSize() > 1 && rank >= global.worldSize()) {
                return; // this rank did not save that step (the world grew)
            }
            rows = global.complete() ? global : commits.withRanks(tier, global, Set.of(rank));
        } catch (NoSuchFileException retired) {
            return;
        } catch (CheckpointException untrusted) {
            return;
        }
        Map<String, ChunkRef> named = new HashMap<>();
        for (EntryRecord e : rows.entries()) {
            if (rows.worldSize() == 1 || e.rank() == rank) {
                for (ChunkRef c : e.chunks()) {
                    named.putIfAbsent(c.hash(), c);
                }
            }
        }
        for (ChunkRef c : named.values()) {
            if (named.keySet().containsAll(c.bases())) {
                catalog.markCommitted(c.hash(), c.storedLength(), c.codec(), c.bases());
            }
        }
        catalog.committed(step, named.keySet());
    }
}
