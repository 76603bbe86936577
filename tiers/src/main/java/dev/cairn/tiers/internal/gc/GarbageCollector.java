package dev.cairn.tiers.internal.gc;

import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
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
 * Collections of a process's tiers, of two kinds.
 *
 * <ul>
 *   <li>{@link #retire}, after a commit: retention from what this process knows ({@link RetainedSteps}, filled by
 *       {@link #committed} from each commit's manifest, and at its first collection by the step marks of group 0, or
 *       where there are none by one listing of the steps):
 *       the steps beyond keepLast are retired (MANIFEST first, then their rank indexes and commit notices), and the chunks their
 *       manifests named that no held step names are deleted in batches ({@link dev.cairn.ObjectStore#deleteAll}).
 *       Nothing is listed and no chunk's age is asked: its requests grow with what the retired steps named, not
 *       with what the tier holds.</li>
 *   <li>{@link #collect}, a sweep: lists every step and chunk, as the only way to find what no manifest names
 *       (steps that never committed, chunks of a save that died, steps another process committed), and the commit
 *       notices (removing those of steps no longer committed), and re-learns the
 *       held steps from the listing. Run every {@code gcSweepEvery} commits counted in the tier
 *       ({@link SweepSchedule}), and whenever asked.</li>
 * </ul>
 *
 * <p>Both keep one rule per collector. A {@link Collector#WRITER} collection runs with the tier's commit lock held,
 * so no commit of this process interleaves, and this process's pins protect what its saves rely on; an
 * {@link Collector#OUTSIDER} one needs no lock (the command line's, or rank 0 of a multi-rank run on its own thread):
 * what protects a chunk from it is the grace period (a sweep re-checks each candidate's age just before its batch's
 * delete; a retirement waits the grace out, in a tier in memory one collection, before it deletes what the retired
 * steps alone named, see {@link #retire}),
 * this process's pins, and the newest committed step it knows, whose chunks no collection of this process deletes.
 */
public final class GarbageCollector {
    private final CommitProtocol commits;
    /** What this process knows of each tier's steps, by tier index. */
    private final java.util.concurrent.ConcurrentHashMap<Integer, RetainedSteps> known =
            new java.util.concurrent.ConcurrentHashMap<>();

    /** Epoch milliseconds: when a chunk is due and when a marker or a recorded deletion is old. */
    private final java.util.function.LongSupplier millis;

    public GarbageCollector(CommitProtocol commits) {
        this(commits, System::currentTimeMillis);
    }

    /**
     * @param millis the wall clock in epoch milliseconds ({@code System::currentTimeMillis}; a simulation's own)
     */
    public GarbageCollector(CommitProtocol commits, java.util.function.LongSupplier millis) {
        this.commits = commits;
        this.millis = millis;
    }

    /** The keys of the pages of {@code m}'s directory (format 5 of several ranks), or none. */
    private static List<String> pages(Tier tier, Manifest m) {
        return m.paged() ? m.indexed().pages().keys(tier.layout(), m.step()) : List.of();
    }

    private RetainedSteps known(Tier tier) {
        return known.computeIfAbsent(tier.index(), i -> new RetainedSteps());
    }

    /**
     * Records that {@code step} is committed in {@code tier} (by this process): its MANIFEST, in the commit cache, is
     * read for the chunks it names (with its rank indexes, where a format-4 MANIFEST of several ranks keeps its chunk
     * rows: {@link CommitProtocol#read} follows them; rank 0 merged them at the commit, so they are cached), which no collection of this process deletes while the step is held. If it cannot
     * be read, what this process knows of the tier is dropped, so that the next collection learns the steps again
     * instead of missing this one's chunks.
     */
    public void committed(Tier tier, long step) {
        RetainedSteps steps = known(tier);
        try {
            Manifest m = commits.readGlobal(tier, step);
            steps.add(step, m.worldSize(), pages(tier, m), commits.referencedHashes(tier, step));
        } catch (IOException | RuntimeException e) {
            steps.forget();
        }
    }

    /**
     * Drops what this process knows of {@code tier}'s steps: a commit failed in a way that may have left its step
     * committed (its MANIFEST create was attempted), so the next collection lists the steps and reads their MANIFESTs
     * again instead of taking that step's chunks for unused.
     */
    public void forget(Tier tier) {
        known(tier).forget();
    }

    /**
     * The steps an {@code who} collection of {@code tier} keeps beyond its keepLast: for an {@link Collector#OUTSIDER},
     * those this process is promoting out of the tier ({@link Tier#holdWhilePromoted}). Rank 0 of a multi-rank run
     * cannot see the other ranks' pins, and in a tier in memory the chunks only a retired step named go at its next
     * collection: a promotion slower than keepLast + 1 of the tier's commits would find the other ranks' parts of the
     * step deleted. A {@link Collector#WRITER}'s promotions pin what they read, which its collections spare.
     */
    private static Set<Long> promotedOut(Tier tier, Collector who) {
        return who == Collector.OUTSIDER ? tier.stepsPromotedOut() : Set.of();
    }

    /** Who runs a collection, which decides what protects a chunk that a save in flight relies on. */
    public enum Collector {
        /**
         * The process that writes the run: its saves pin every chunk they reuse before relying on it, so chunks that
         * only retired steps referenced can go at once.
         */
        WRITER,
        /**
         * Another process (the command line, or rank 0 for the other ranks): it cannot see the writer's pins. A sweep
         * deletes an unreferenced chunk only once it is older than the grace period, measured from its last write: a
         * writer that counts on an old chunk writes it again first, and confirms in the store before its index every
         * chunk it did not put itself, writing again each one that is old by then and not named by its newest step.
         * A retirement deletes what only the retired steps named once the grace period has passed since the
         * retirement ({@link GarbageCollector#retire}).
         */
        OUTSIDER
    }

    /**
     * Applies retention and sweeps {@code tier}: lists every step and chunk. Afterwards (unless a dry run) this
     * process holds the steps the sweep retained, as {@link #retire} needs.
     *
     * @param stepsInFlight steps this process is saving now: never treated as abandoned
     */
    public GcReport collect(Tier tier, Duration grace, Set<Long> stepsInFlight, boolean dryRun, Collector who)
            throws IOException {
        synchronized (known(tier).collecting) {
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
    }

    /**
     * What writers killed mid-write left under the run's keys in {@code tier}'s store that is no object (a disk tier's
     * temporary files, each as large as the object it was to become; S3's unfinished multipart uploads): removed by a
     * sweep once older than {@code grace}, and never younger than {@link #ABANDONED_WRITE_AGE}, so that no write in
     * progress (whose file grows as it is written) loses its file. Best effort: what fails is left to the next sweep.
     */
    private static void deleteAbandonedWrites(Tier tier, Duration grace) {
        Duration age = grace.compareTo(ABANDONED_WRITE_AGE) > 0 ? grace : ABANDONED_WRITE_AGE;
        try {
            int removed = tier.store().deleteAbandonedWrites(tier.layout().run() + "/", age);
            if (removed > 0) {
                LOG.log(System.Logger.Level.INFO, "tier {0}: removed {1} file(s) of writes abandoned more than {2} ago",
                        tier.name(), removed, age);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "tier {0}: writes abandoned in {1} could not be removed: {2}", tier.name(),
                    tier.store().describe(), e.toString());
        }
    }

    /** The least age at which a sweep takes a write for abandoned ({@link #deleteAbandonedWrites}). */
    static final Duration ABANDONED_WRITE_AGE = Duration.ofHours(1);
    private static final System.Logger LOG = System.getLogger(GarbageCollector.class.getName());

    /**
     * Retention after a commit, without a listing (unless this process knows nothing of the tier yet: then it learns
     * the steps once, from the step marks of group 0, or from a listing of the steps where there are none): the held
     * steps beyond the tier's keepLast are retired, oldest first (a RETIRED marker for a
     * multi-rank step, its MANIFEST, then its rank indexes and commit notices), and the chunks that only they named are deleted in
     * batches: at once by a {@link Collector#WRITER} unless pinned, by an {@link Collector#OUTSIDER} at the first
     * collection once {@code grace} has passed since the retirement (in a tier in memory: at the next collection),
     * unless a step committed meanwhile names them
     * ({@link #due}; no request per chunk). Markers older than {@code grace} are removed. Steps that never committed
     * and chunks no manifest named are left to the next sweep.
     *
     * <p>What an OUTSIDER's deferred deletion risks, exactly: a save in flight on another rank that relies on a pending
     * chunk when it becomes due (puts it again, or found it stored and confirmed it before its index). Rank 0's commit
     * of that save asks the store again for every chunk its ranks name that this process deleted in the last
     * {@code grace} ({@code ChunkCatalog#pinNamed}) and fails the step with STORAGE if one is gone: a lost checkpoint,
     * never a committed one missing a chunk. Outside that: a save that relies on a chunk for longer than {@code grace}
     * (its deletion is forgotten by then), and steps committed into the tier by another process, which only a sweep
     * learns ({@link RetainedSteps}).
     */
    public GcReport retire(Tier tier, Duration grace, Collector who) throws IOException {
        RetainedSteps steps = known(tier);
        synchronized (steps.collecting) {
            long generation = steps.generation();
            if (!steps.known()) {
                learnSteps(tier, steps, generation);
            }
            StoreLayout layout = tier.layout();
            List<RetainedSteps.Retired> retired = steps.retireBeyond(tier.config().keepLast(), () -> promotedOut(tier, who));
            long now = millis.getAsLong();
            List<Long> retiredSteps = new ArrayList<>();
            try {
                List<String> indexes = new ArrayList<>();
                for (RetainedSteps.Retired r : retired) {
                    if (r.worldSize() > 1) {
                        // As in a sweep: a slow rank still waiting for this MANIFEST learns that the step committed.
                        tier.store().put(layout.retiredKey(r.step()), java.nio.ByteBuffer.allocate(0));
                        steps.markerPut(r.step(), now);
                    }
                    tier.store().delete(layout.manifestKey(r.step()));
                    commits.evict(tier, r.step());
                    retiredSteps.add(r.step());
                    steps.pend(r.unreferenced(), due(who, tier, now, grace)); // uncommitted now: what only it named may go
                    for (int rank = 0; rank < r.worldSize(); rank++) {
                        indexes.add(layout.indexKey(r.step(), rank));
                    }
                    indexes.addAll(r.pages()); // the MANIFEST's directory (format 5), gone with it
                    indexes.addAll(layout.noticeKeys(r.step(), r.worldSize())); // uncommitted now: its notices go too
                    indexes.addAll(commits.marks().keysOf(tier, r.step())); // its step marks, after its MANIFEST
                }
                tier.store().deleteAll(indexes);
            } catch (IOException | RuntimeException e) {
                // A MANIFEST may still be there while its step is no longer held: learn the steps again next time.
                steps.forget();
                throw e;
            }
            long[] deleted = deletePending(tier, steps, generation, grace, now);
            List<Long> oldMarkers = steps.markersPutBefore(now - grace.toMillis());
            if (!oldMarkers.isEmpty()) {
                tier.store().deleteAll(oldMarkers.stream().map(layout::retiredKey).toList());
            }
            return new GcReport(tier.name(), false, List.copyOf(retiredSteps), List.of(), deleted[0], deleted[1]);
        }
    }

    /**
     * When chunks that a retirement at {@code nowMillis} left unreferenced are due: at once for a
     * {@link Collector#WRITER}, whose saves pin what they rely on; for an {@link Collector#OUTSIDER} once
     * {@code grace} has passed since the retirement. No age is asked of the store: a chunk that any step committed
     * meanwhile names (as far as this process knows: the steps it committed, and those a sweep listed) leaves the
     * queue, and one a save in flight elsewhere relies on when it goes is found by that save's commit
     * ({@code ChunkCatalog#pinNamed}), which then fails instead of committing without it.
     */
    private static long due(Collector who, Tier tier, long nowMillis, Duration grace) {
        if (who == Collector.WRITER) {
            return nowMillis;
        }
        // A tier in memory (peer memory) holds a few steps by design: waiting out a grace of minutes there kept every
        // step of that time, and a multi-rank run saving 25 MB a rank every second filled 1 GiB of peer memory in 43
        // steps with keepLast 2. Its chunks are due at the next collection instead (one commit later); what that risks
        // is what the javadoc above says: a step that relied on one fails, none commits without it.
        return tier.store().inMemory() ? nowMillis + 1 : nowMillis + grace.toMillis();
    }

    /**
     * Deletes the pending chunks that are due and that no held step names, unless pinned (a pinned one waits for the
     * next collection), in batches, without asking the store their age ({@link #due}). Returns the chunks and bytes
     * deleted.
     */
    private static long[] deletePending(Tier tier, RetainedSteps steps, long generation, Duration grace, long now)
            throws IOException {
        List<String> due = steps.due(now);
        if (due.isEmpty()) {
            return new long[2];
        }
        ChunkCatalog catalog = tier.catalog();
        Map<String, Long> sizes = new java.util.HashMap<>();
        for (String hash : due) {
            sizes.put(hash, Math.max(0, catalog.sizeOf(hash)));
        }
        List<String> deleted = deleteUnlessHeld(tier, steps, generation, due, now, grace);
        return settled(steps, deleted, sizes);
    }

    /**
     * Deletes the chunks of {@code hashes} that no save or commit of this process has pinned and no held step names,
     * both asked again under the catalog's lock (an OUTSIDER runs beside commits, which may name one again), in
     * batches; none once a forget came since {@code generation} (the collection began).
     */
    private static List<String> deleteUnlessHeld(Tier tier, RetainedSteps steps, long generation, List<String> hashes,
                                                 long nowMillis, Duration grace)
            throws IOException {
        StoreLayout layout = tier.layout();
        // Each deletion is recorded for a grace period: a multi-rank commit asks the store again for the chunks its
        // ranks name that this process deleted meanwhile (ChunkCatalog#pinNamed).
        return tier.catalog().deleteUnlessPinned(hashes, hash -> steps.spares(hash, generation),
                batch -> tier.store().deleteAll(batch.stream().map(layout::chunkKey).toList()), nowMillis,
                nowMillis - grace.toMillis());
    }

    /** Takes {@code deleted} off the queue; returns how many and their bytes. */
    private static long[] settled(RetainedSteps steps, List<String> deleted, Map<String, Long> sizes) {
        long bytes = 0;
        for (String hash : deleted) {
            steps.settle(hash);
            bytes += sizes.getOrDefault(hash, 0L);
        }
        return new long[] {deleted.size(), bytes};
    }

    /**
     * Learns the committed steps of {@code tier} once, when this process knows nothing of them yet (its first
     * collection), and holds each with the chunks its MANIFEST names. The candidates are the steps marked in group 0
     * of the step marks ({@link dev.cairn.tiers.internal.commit.StepMarks#markedInGroupZero}: one page of a small
     * prefix, a superset of the committed steps), and only where group 0 holds no mark (a run of a release without
     * marks) a listing of the steps, whose pages grow with steps x ranks. A candidate without a MANIFEST is a marked
     * step that never committed, or one another collector retired since. A MANIFEST that cannot be read fails the
     * collection if the step would be retained (its chunks could not be told apart), as in a sweep, and is left to a
     * sweep if it would be retired.
     */
    private void learnSteps(Tier tier, RetainedSteps steps, long generation) throws IOException {
        List<Long> candidates = commits.marks().markedInGroupZero(tier);
        if (candidates.isEmpty()) {
            candidates = commits.committedStepsListedWhole(tier);
        }
        int keep = tier.config().keepLast();
        int held = 0;
        for (int i = candidates.size() - 1; i >= 0; i--) { // newest first: the first keepLast found are retained
            long step = candidates.get(i);
            try {
                Manifest m = commits.readGlobal(tier, step);
                steps.add(step, m.worldSize(), pages(tier, m), commits.referencedHashes(tier, step));
                held++;
            } catch (java.nio.file.NoSuchFileException notCommittedOrRetiredByAnother) {
                commits.evict(tier, step);
            } catch (dev.cairn.CheckpointException unreadable) {
                if (held < keep) {
                    throw unreadable;
                }
                held++;
            }
        }
        steps.markKnown(generation); // not if a commit's failure made this process forget since the listing
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
        long generation = known(tier).generation();
        long began = millis.getAsLong();
        Instant cutoff = Instant.ofEpochMilli(began).minus(grace);
        Map<Long, List<ObjectInfo>> byStep = new TreeMap<>();
        Set<Long> committed = new HashSet<>();
        // Whole or not at all: a step left out (its MANIFEST held only by a peer that did not answer) would be taken
        // for abandoned, and the chunks only it names for unused. The chunks' and markers' listings below may leave
        // some out: what is not listed is not deleted.
        for (ObjectInfo o : tier.store().listWhole(layout.stepsPrefix())) {
            layout.stepOf(o.key()).ifPresent(step -> {
                byStep.computeIfAbsent(step, s -> new ArrayList<>()).add(o);
                if (layout.isManifestKey(o.key())) {
                    committed.add(step);
                }
            });
        }
        List<Long> committedDesc = committed.stream().sorted((a, b) -> Long.compare(b, a)).toList();
        Set<Long> promoted = promotedOut(tier, who);
        List<Long> retained = new ArrayList<>();
        List<Long> retired = new ArrayList<>();
        for (int i = 0; i < committedDesc.size(); i++) { // the newest keepLast, and those being promoted out
            long step = committedDesc.get(i);
            (i < tier.config().keepLast() || promoted.contains(step) ? retained : retired).add(step);
        }
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
        Map<Long, RetainedSteps.Step> retainedSteps = new TreeMap<>();
        for (long step : retained) {
            try {
                Manifest m = commits.readGlobal(tier, step);
                Set<String> named = commits.referencedHashes(tier, step); // through its rank indexes, one at a time
                referenced.addAll(named);
                retainedSteps.put(step, new RetainedSteps.Step(step, m.worldSize(), pages(tier, m), named));
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
                retiredOnly.addAll(commits.referencedHashes(tier, step));
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
                    known(tier).markerPut(step, millis.getAsLong());
                }
                tier.store().delete(layout.manifestKey(step));
                commits.evict(tier, step);
                deleteAll(tier, byStep.get(step));
            }
            for (java.util.Iterator<Long> it = abandoned.iterator(); it.hasNext(); ) {
                long step = it.next();
                // Asked again right before the delete, as chunks are: a save that goes on may have written one of the
                // step's files again under the same key (a rank index) since the listing, or committed the step.
                List<String> keys = new ArrayList<>(byStep.get(step).stream().map(ObjectInfo::key).toList());
                keys.add(layout.manifestKey(step));
                Map<String, ObjectInfo> now = tier.store().statAll(keys);
                if (now.containsKey(layout.manifestKey(step))
                        || now.values().stream().anyMatch(o -> !o.lastModified().isBefore(cutoff))) {
                    it.remove();
                    continue;
                }
                deleteAll(tier, byStep.get(step));
            }
            deleteNotices(tier, committed, retired, stepsInFlight, cutoff);
            deleteMarks(tier, committed, retired, stepsInFlight, cutoff);
        }
        RetainedSteps steps = known(tier);
        ChunkCatalog catalog = tier.catalog();
        Map<String, ObjectInfo> doomed = new java.util.LinkedHashMap<>();
        Set<String> aged = new HashSet<>();
        for (ObjectInfo o : tier.store().list(layout.chunksPrefix())) {
            String hash = layout.hashOfChunkKey(o.key());
            // What this process holds is spared too: a step committed here after the listing (rank 0 sweeps beside
            // its commits) names chunks no listed manifest does.
            if (hash == null || referenced.contains(hash) || catalog.isPinned(hash) || steps.isReferenced(hash)
                    || (!retiredOnly.contains(hash) && !o.lastModified().isBefore(cutoff))) {
                continue;
            }
            doomed.put(hash, o);
            if (!retiredOnly.contains(hash)) {
                aged.add(o.key());
            }
        }
        List<String> deleted = new ArrayList<>();
        if (dryRun) {
            deleted.addAll(doomed.keySet());
        } else {
            List<String> candidates = List.copyOf(doomed.keySet());
            for (int from = 0; from < candidates.size(); from += ChunkCatalog.DELETE_BATCH) {
                List<String> batch = new ArrayList<>(candidates.subList(from,
                        Math.min(candidates.size(), from + ChunkCatalog.DELETE_BATCH)));
                List<String> agedHere = new ArrayList<>();
                for (String hash : batch) {
                    if (aged.contains(layout.chunkKey(hash))) {
                        agedHere.add(layout.chunkKey(hash));
                    }
                }
                if (!agedHere.isEmpty()) {
                    // Asked again per batch, right before its delete, one HEAD per chunk in flight together: a writer
                    // in another process that reuses an old chunk writes it again first (restarting its age), possibly
                    // after the listing this sweep works from, or while earlier batches were deleted.
                    Map<String, ObjectInfo> now = tier.store().statAll(agedHere);
                    for (String key : agedHere) {
                        ObjectInfo o = now.get(key);
                        if (o == null || !o.lastModified().isBefore(cutoff)) {
                            batch.remove(layout.hashOfChunkKey(key)); // gone, or written again: a writer counts on it
                        }
                    }
                }
                deleted.addAll(deleteUnlessHeld(tier, steps, generation, batch, millis.getAsLong(), grace));
            }
        }
        long bytes = 0;
        for (String hash : deleted) {
            bytes += doomed.get(hash).size();
        }
        if (!dryRun) {
            long now = millis.getAsLong();
            steps.pend(steps.reconcile(retainedSteps, retired, generation), due(who, tier, now, grace));
            for (String hash : deleted) {
                steps.settle(hash);
            }
            deleteAbandonedWrites(tier, grace);
        }
        return new GcReport(tier.name(), dryRun, List.copyOf(retiredHere), List.copyOf(abandoned), deleted.size(), bytes);
    }

    /**
     * Removes the commit notices of steps that are not committed any more: those retired here, and those of steps
     * that have no MANIFEST (retired or abandoned earlier, or a notice a crashed rank 0 left) once older than the
     * grace period, unless this process saves that step now. The notices are few (one per 250 ranks of each step
     * still held), so listing them is one request for most runs.
     */
    private static void deleteNotices(Tier tier, Set<Long> committed, List<Long> retired, Set<Long> stepsInFlight,
                                      Instant cutoff) throws IOException {
        List<String> keys = new ArrayList<>();
        uncommittedByStep(tier, tier.layout().noticesPrefix(), tier.layout()::stepOfNoticeKey, committed, retired,
                stepsInFlight, cutoff).values().forEach(keys::addAll);
        if (!keys.isEmpty()) {
            tier.store().deleteAll(keys);
        }
    }

    /**
     * Removes the step marks ({@code StepMarks}) of steps that are not committed, as {@link #deleteNotices} does the
     * notices, each step not retired here asked once more right before: marks are put right before their step's
     * MANIFEST, and a reader that finds the newest step by them must not miss a committed one. Few, as the notices are.
     */
    private void deleteMarks(Tier tier, Set<Long> committed, List<Long> retired, Set<Long> stepsInFlight,
                             Instant cutoff) throws IOException {
        List<String> keys = new ArrayList<>();
        for (Map.Entry<Long, List<String>> e : uncommittedByStep(tier, tier.layout().marksPrefix(),
                tier.layout()::stepOfMarkKey, committed, retired, stepsInFlight, cutoff).entrySet()) {
            if (retired.contains(e.getKey()) || !commits.isCommitted(tier, e.getKey())) {
                keys.addAll(e.getValue());
            }
        }
        if (!keys.isEmpty()) {
            tier.store().deleteAll(keys);
        }
    }

    /**
     * The keys under {@code prefix} (notices, marks: named by step) of steps retired here, and of steps neither
     * committed nor being saved by this process whose object is older than {@code cutoff}, by step. A key {@code stepOf}
     * does not name a step for is not of this run's layout: not ours to remove.
     */
    private static Map<Long, List<String>> uncommittedByStep(Tier tier, String prefix,
                                                             java.util.function.Function<String, java.util.OptionalLong> stepOf,
                                                             Set<Long> committed, List<Long> retired,
                                                             Set<Long> stepsInFlight, Instant cutoff) throws IOException {
        Map<Long, List<String>> doomed = new TreeMap<>();
        for (ObjectInfo o : tier.store().list(prefix)) {
            java.util.OptionalLong step = stepOf.apply(o.key());
            if (step.isEmpty()) {
                continue;
            }
            long s = step.getAsLong();
            boolean uncommitted = !committed.contains(s) && !stepsInFlight.contains(s) && o.lastModified().isBefore(cutoff);
            if (retired.contains(s) || uncommitted) {
                doomed.computeIfAbsent(s, k -> new ArrayList<>()).add(o.key());
            }
        }
        return doomed;
    }

    private int worldSizeOf(Tier tier, long step) {
        try {
            return commits.readGlobal(tier, step).worldSize();
        } catch (IOException | dev.cairn.CheckpointException unreadable) {
            return 2; // a marker too many costs an empty object until the grace period ends
        }
    }

    private static void deleteAll(Tier tier, List<ObjectInfo> objects) throws IOException {
        tier.store().deleteAll(objects.stream().map(ObjectInfo::key).toList());
    }
}
