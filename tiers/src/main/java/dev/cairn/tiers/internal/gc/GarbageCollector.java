package dev.cairn.tiers.internal.gc;

import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One collection of one tier. A {@link Collector#WRITER} collection runs with the tier's commit lock held, so no
 * commit of this process interleaves; an {@link Collector#OUTSIDER} one needs no lock (the command line's, or rank 0
 * of a multi-rank run on its own thread): what protects a chunk from it is the grace period and the re-check of
 * its age, and this process's pins.
 */
public final class GarbageCollector {
    private final CommitProtocol commits;

    public GarbageCollector(CommitProtocol commits) {
        this.commits = commits;
    }

    /** Who runs a collection, which decides what protects a chunk that a save in flight relies on. */
    public enum Collector {
        /**
         * The process that writes the run: its saves pin every chunk they reuse before relying on it, so chunks that
         * only retired steps referenced can go at once.
         */
        WRITER,
        /**
         * Another process (the command line): it cannot see the writer's pins, so every unreferenced chunk, retired
         * steps' included, must also be older than the grace period, measured from its last write: a writer that
         * counts on an old chunk writes it again first, and confirms it in the store before it commits.
         */
        OUTSIDER
    }

    /**
     * Applies retention and sweeps {@code tier}.
     *
     * @param stepsInFlight steps this process is saving now: never treated as abandoned
     */
    public GcReport collect(Tier tier, Duration grace, Set<Long> stepsInFlight, boolean dryRun, Collector who)
            throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return collectOnce(tier, grace, stepsInFlight, dryRun, who);
            } catch (StaleListing e) {
                if (attempt >= LISTING_ATTEMPTS) {
                    throw e.gone;
                }
            }
        }
    }

    /**
     * Listings a collection makes before it gives up because another collector keeps retiring steps it would retain;
     * each of those retires at least one step, so this is only reached when many collect at once.
     */
    static final int LISTING_ATTEMPTS = 4;

    /** A step this collection would retain was retired by another collector since the listing: list again. */
    private static final class StaleListing extends Exception {
        private static final long serialVersionUID = 1L;
        final java.nio.file.NoSuchFileException gone;

        StaleListing(java.nio.file.NoSuchFileException gone) {
            super(gone.getMessage(), gone, false, false);
            this.gone = gone;
        }
    }

    private GcReport collectOnce(Tier tier, Duration grace, Set<Long> stepsInFlight, boolean dryRun, Collector who)
            throws IOException, StaleListing {
        StoreLayout layout = tier.layout();
        Instant cutoff = Instant.now().minus(grace);
        Map<Long, List<ObjectInfo>> byStep = new TreeMap<>();
        Set<Long> committed = new HashSet<>();
        for (ObjectInfo o : tier.store().list(layout.stepsPrefix())) {
            layout.stepOf(o.key()).ifPresent(step -> {
                byStep.computeIfAbsent(step, s -> new ArrayList<>()).add(o);
                if (layout.isManifestKey(o.key())) {
                    committed.add(step);
                }
            });
        }
        List<Long> committedDesc = committed.stream().sorted((a, b) -> Long.compare(b, a)).toList();
        List<Long> retained = committedDesc.subList(0, Math.min(tier.config().keepLast(), committedDesc.size()));
        List<Long> retired = committedDesc.subList(retained.size(), committedDesc.size());
        List<Long> abandoned = new ArrayList<>();
        for (Map.Entry<Long, List<ObjectInfo>> e : byStep.entrySet()) {
            long step = e.getKey();
            if (!committed.contains(step) && !stepsInFlight.contains(step)
                    && e.getValue().stream().allMatch(o -> o.lastModified().isBefore(cutoff))) {
                abandoned.add(step);
            }
        }
        // References come from retained manifests only; if one cannot be read, sweeping could delete its chunks.
        // Another collector (rank 0's background one, the command line's) may have retired a listed step since: a
        // retained one gone means the listing is stale (newer steps came), and nothing has been deleted yet.
        Set<String> referenced = new HashSet<>();
        for (long step : retained) {
            try {
                referenced.addAll(commits.read(tier, step).referencedHashes());
            } catch (java.nio.file.NoSuchFileException gone) {
                throw new StaleListing(gone);
            }
        }
        // Chunks that only retired steps referenced are known garbage and go at once; the grace period is for
        // chunks no manifest names, which may belong to a save still in flight somewhere.
        Set<String> retiredOnly = new HashSet<>();
        List<Long> retiredHere = new ArrayList<>();
        for (long step : retired) {
            try {
                retiredOnly.addAll(commits.read(tier, step).referencedHashes());
                retiredHere.add(step);
            } catch (dev.cairn.CheckpointException unreadable) {
                // Its chunks fall under the grace period instead.
                retiredHere.add(step);
            } catch (java.nio.file.NoSuchFileException retiredByAnother) {
                // Another collector retired it since the listing; its chunks fall under the grace period here.
                commits.evict(tier, step);
            }
        }
        retiredOnly.removeAll(referenced);
        if (who == Collector.OUTSIDER) {
            retiredOnly.clear();
        }
        if (!dryRun) {
            for (long step : retired) {
                if (worldSizeOf(tier, step) > 1) {
                    // Another rank may still be waiting for this MANIFEST (a slow rank of a pipelined run, whose link
                    // to this one was down when the step's index delete was sent): the marker tells it the step was
                    // committed, rather than leaving it to wait out its deadline.
                    tier.store().put(layout.retiredKey(step), java.nio.ByteBuffer.allocate(0));
                }
                tier.store().delete(layout.manifestKey(step));
                commits.evict(tier, step);
                deleteAll(tier, byStep.get(step));
            }
            for (long step : abandoned) {
                deleteAll(tier, byStep.get(step));
            }
        }
        long chunks = 0;
        long bytes = 0;
        ChunkCatalog catalog = tier.catalog();
        for (ObjectInfo o : tier.store().list(layout.chunksPrefix())) {
            String hash = layout.hashOfChunkKey(o.key());
            if (hash == null || referenced.contains(hash) || catalog.isPinned(hash)
                    || (!retiredOnly.contains(hash) && !o.lastModified().isBefore(cutoff))) {
                continue;
            }
            if (!retiredOnly.contains(hash) && !stillOlderThan(tier, o.key(), cutoff)) {
                continue; // written again since the listing: a writer counts on it
            }
            if (!dryRun && !catalog.deleteUnlessPinned(hash, () -> tier.store().delete(o.key()))) {
                continue;
            }
            chunks++;
            bytes += o.size();
        }
        return new GcReport(tier.name(), dryRun, List.copyOf(retiredHere), List.copyOf(abandoned), chunks, bytes);
    }

    /**
     * Asks the store again, just before deleting, whether {@code key} is still older than {@code cutoff}: a writer in
     * another process that reuses an old chunk writes it again first (restarting its age), possibly after the listing
     * this sweep works from, which may be long ago on a large store.
     */
    private static boolean stillOlderThan(Tier tier, String key, Instant cutoff) throws IOException {
        try {
            return tier.store().stat(key).lastModified().isBefore(cutoff);
        } catch (java.nio.file.NoSuchFileException gone) {
            return false;
        }
    }

    private int worldSizeOf(Tier tier, long step) {
        try {
            return commits.read(tier, step).worldSize();
        } catch (IOException | dev.cairn.CheckpointException unreadable) {
            return 2; // a marker too many costs an empty object until the grace period ends
        }
    }

    private static void deleteAll(Tier tier, List<ObjectInfo> objects) throws IOException {
        for (ObjectInfo o : objects) {
            tier.store().delete(o.key());
        }
    }
}
