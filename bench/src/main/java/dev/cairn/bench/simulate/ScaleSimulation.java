package dev.cairn.bench.simulate;

import dev.cairn.CairnConfig;
import dev.cairn.GcReport;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.testkit.RequestKind;
import dev.cairn.testkit.RequestStats;
import dev.cairn.testkit.SimulatedClock;
import dev.cairn.testkit.SimulatedObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.NewestCommittedRows;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.gc.Retention;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.restore.Restorer;
import dev.cairn.tiers.internal.restore.StaleIndexCleanUp;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * {@code cairn bench --simulate}: N ranks save checkpoints of a large model into one simulated S3 bucket, rank 0
 * commits and collects garbage, and M ranks then plan a restore, all in one process on simulated time, running the
 * engine's own metadata path against a {@link SimulatedObjectStore} with S3's per-prefix rates and latencies.
 *
 * <p><b>Real engine code</b>, per rank, one {@link Tier} and one {@link CommitProtocol} each, as each rank's process
 * has: the first dedup lookup's start of the catalog ({@link Tier#catalog}, from the rank's rows of the newest step
 * committed at open, none here: no request), the confirmation of the chunks a rank did not put
 * itself ({@code ChunkConfirmation}: none here, every chunk is new and put by its save), the index write, the
 * multi-rank commit ({@code RankCommit}: the ranks spread their index PUTs; rank 0 polls the step's listing and reads
 * each index as it lands, pins every chunk they name and asks the store again for those its own collections deleted
 * lately, merges them, creates the MANIFEST ({@code CommitPoint}), which from manifest format 4 holds a row per tensor
 * slice and references the indexes, whose chunk rows it no longer copies, and puts the commit notices; every other
 * rank looks at its notice when the commit can be there, then checks the MANIFEST with one HEAD), rank 0's retention
 * and garbage collection after each commit ({@link Retention}, {@link GarbageCollector}, as a multi-rank run's
 * outsider, on rank 0's simulated time; a checkpoint starts {@code CHECKPOINT_INTERVAL_NANOS} (15 minutes) after the
 * last one's last request, longer than its grace), and each restoring rank's look for the newest step, MANIFEST read,
 * reads of the indexes whose slices overlap its own, and restore plan with resharding ({@link Restorer#plan}), with
 * the removal of its own indexes of a failed attempt at a later step ({@code StaleIndexCleanUp}, from the moment the
 * step is chosen). Before the first checkpoint, the start-up of the new run: every process's look for the newest
 * committed step at open ({@link CommitProtocol#newestAtOpen}, as {@code HighestCommitted} makes it); after the
 * checkpoints, the start-up of the resumed run: the M restoring processes open at once and make the same look,
 * which finds the newest step in their group of step marks and reads its MANIFEST to confirm it, paced by rank (the
 * restore follows two simulated minutes later, each rank with a new protocol: its requests are counted apart). The
 * ranks meet through the store (no {@code Coordinator}), the engine's default without a peer tier.
 *
 * <p><b>Simulated</b>: the chunks' bytes (each chunk is one PUT of its stored size, its bytes never made: the save
 * pipeline's capture, hashing and encoding are not run), the store ({@link SimulatedObjectStore}: 20-60 ms to the
 * first byte, 90 MB/s per request, 3,500 writes and 5,500 reads per second per prefix, 503 SlowDown beyond), the S3
 * backend's retries ({@link S3ClientModel}), time ({@link RankTurns}: each rank a thread, one running at a time in
 * order of simulated time; the commit's pauses and deadline on that time through the engine's {@code WaitClock}).
 * A rank writes its chunks {@value #WRITES_IN_FLIGHT} at a time (the engine's I/O threads per tier).
 */
public final class ScaleSimulation {
    /** Bytes of state per rank by default: 5.7 TB over 10,000 ranks. */
    public static final long DEFAULT_BYTES_PER_RANK = 570_000_000L;
    public static final int MIN_RANKS = 2;
    /** Checkpoints a simulation saves unless told otherwise. */
    public static final int DEFAULT_CHECKPOINTS = 4;
    public static final int MAX_RANKS = 10_000;
    /** Chunk writes a rank has in flight: the engine's I/O threads per tier ({@code CairnCheckpointer}). */
    static final int WRITES_IN_FLIGHT = 4;
    static final String RUN = "sim";
    private static final long SECOND = 1_000_000_000L;
    /** Training steps between two checkpoints; only names the steps. */
    private static final long STEP_INTERVAL = 1000;
    /**
     * Simulated training time from one checkpoint's last request to the next checkpoint's start: longer than the GC
     * grace, so that each collection deletes what the one before it retired (a multi-rank run's rank 0 deletes what a
     * retired step alone named once the grace has passed since its retirement), the steady state of a long run.
     */
    static final long CHECKPOINT_INTERVAL_NANOS = CairnConfig.DEFAULT_GC_GRACE.plusMinutes(5).toNanos();

    private ScaleSimulation() {
    }

    /**
     * What to simulate.
     *
     * @param ranks        ranks that save (N)
     * @param restoreRanks ranks that restore the last checkpoint (M)
     * @param modelBytes   bytes of state in all (bf16 weights, fp32 master weights and Adam moments)
     * @param checkpoints  checkpoints saved; from the third on, rank 0's retention retires one a checkpoint
     */
    public record Options(int ranks, int restoreRanks, long modelBytes, int checkpoints) {
        public Options {
            if (ranks < MIN_RANKS || ranks > MAX_RANKS) {
                throw new IllegalArgumentException("--ranks must be in [" + MIN_RANKS + ", " + MAX_RANKS + "], was " + ranks);
            }
            if (restoreRanks < 1 || restoreRanks > 2 * MAX_RANKS) {
                throw new IllegalArgumentException("--restore-ranks must be in [1, " + 2 * MAX_RANKS + "], was "
                        + restoreRanks);
            }
            if (checkpoints < 1 || checkpoints > 20) {
                throw new IllegalArgumentException("--checkpoints must be in [1, 20], was " + checkpoints);
            }
            long smallest = (long) ranks * SimulatedModel.COLUMNS * SimulatedModel.BYTES_PER_PARAMETER;
            if (modelBytes < smallest) {
                throw new IllegalArgumentException("--model-bytes " + modelBytes + " gives each of " + ranks + " ranks less"
                        + " than one row of " + SimulatedModel.COLUMNS + " parameters; at least " + smallest + " bytes");
            }
        }

        /**
         * N ranks, M = N / 2 restoring, 570 MB of state per rank (5.7 TB at 10,000), four checkpoints: the third
         * retires the first, whose chunks the fourth's collection deletes.
         */
        public static Options defaults(int ranks) {
            return new Options(ranks, Math.max(1, ranks / 2), ranks * DEFAULT_BYTES_PER_RANK, DEFAULT_CHECKPOINTS);
        }

        public Options withRestoreRanks(int m) {
            return new Options(ranks, m, modelBytes, checkpoints);
        }

        public Options withModelBytes(long bytes) {
            return new Options(ranks, restoreRanks, bytes, checkpoints);
        }

        public Options withCheckpoints(int n) {
            return new Options(ranks, restoreRanks, modelBytes, n);
        }
    }

    /** The simulated model and store. */
    public record Setup(long parameters, long stateBytes, long[] globalShape, int tensors, long chunksPerCheckpoint,
                        int chunkBytes, String store) {
    }

    /**
     * One checkpoint.
     *
     * @param requests            every request of the checkpoint (save, commit and collection) by kind, SlowDowns included
     * @param gcRequests          those of rank 0's retention and collection after the commit, by kind
     * @param listsOnSavePath     LIST pages asked on the save and commit path (the collection's aside)
     * @param fullListings        LIST pages of the whole chunk or step prefix (any phase)
     * @param chunkHeads          HEADs of chunk keys (any phase): the commit's confirmations and GC's age checks
     * @param busiestKey          the key with the most requests in one simulated second
     * @param busiestKeyPeak      that many requests per second
     * @param slowDowns           requests answered with 503 SlowDown
     * @param callsFailed         store calls that got SlowDown on every attempt of the S3 backend
     * @param manifestBytes       the MANIFEST's size; -1 when none was created
     * @param pageBytes           the pages of its directory together (format 5 of several ranks; 0 before)
     * @param indexBytes          all ranks' indexes together
     * @param commitNanos         simulated time from the last index landing to the MANIFEST created; -1 without one
     * @param visibleNanos        from the last index landing until every rank's commit returned; -1 if one failed
     * @param ranksCommitted      ranks whose commit returned
     * @param failures            why other ranks' saves failed: reason and count, most common first
     * @param gc                  rank 0's collection, or null when it failed
     * @param gcFailure           why it failed, or null
     * @param simulatedNanos      simulated time from the checkpoint's start to its last request
     * @param wallNanos           real time the simulation of the checkpoint took
     */
    public record Checkpoint(long step, long chunksWritten, Map<RequestKind, Long> requests,
                             Map<RequestKind, Long> gcRequests, long listsOnSavePath, long fullListings, long chunkHeads,
                             String busiestKey,
                             int busiestKeyPeak, long slowDowns, long callsFailed, long manifestBytes, long pageBytes,
                             long indexBytes,
                             long commitNanos, long visibleNanos, int ranksCommitted, List<String> failures,
                             GcReport gc, String gcFailure, long simulatedNanos, long wallNanos) {
        public long totalRequests() {
            return requests.values().stream().mapToLong(Long::longValue).sum();
        }

        public long gcTotal() {
            return gcRequests.values().stream().mapToLong(Long::longValue).sum();
        }

        /** Chunks rank 0's collection deleted; 0 when it failed. */
        public long chunksDeleted() {
            return gc == null ? 0 : gc.chunksDeleted();
        }
    }

    /**
     * The restore of the last checkpoint by M ranks.
     *
     * @param metadataBytes    bytes of metadata (MANIFEST, listings aside) each planned rank read, by rank
     * @param chunkShares      each planned rank's share of the checkpoint's chunks (distinct chunks it reads / all)
     * @param chunkReads       chunk reads planned in all
     * @param requests         requests of the restore by kind
     * @param requestsOnFullListings LIST pages of the whole chunk or step prefix among them
     * @param slowDowns        of those, answered with SlowDown
     * @param failures         why ranks failed to plan: reason and count
     * @param manifestBytes    the MANIFEST's size (from format 4 with several ranks, the global part only; from format 5
     *                         the top of its directory)
     * @param pageBytes        the pages of its directory together (format 5 of several ranks; 0 before)
     * @param indexBytes       the step's rank indexes together, which hold its chunk rows
     * @param plannedNanos     simulated time from the restore's start (every rank starts at once) until each rank had
     *                         its plan, that is all its metadata read, by rank (until it failed, for a failed rank)
     * @param busiestKey       the key with the most requests of the restore in one simulated second ("-": none)
     * @param busiestKeyPeak   that many requests in that second, SlowDowns included
     * @param stepPrefixPeak   the most GET/HEAD-class requests the step's prefix ({@code <run>/steps/<step>/}) was asked
     *                         in one simulated second, SlowDowns included (S3 serves 5,500)
     * @param folderListings   LIST_FOLDERS pages among the requests (the clean-up's folders of the steps)
     * @param stalePlanted     indexes of a failed attempt at the step after the restored one, planted before the restore
     *                         for ranks below both N and M (each restoring rank removes its own: {@code StaleIndexCleanUp})
     * @param staleLeft        of those, still there once every rank's clean-up ended (0: each removed its own)
     * @param cleanedNanos     simulated time from the restore's start until each rank's clean-up ended (it starts when
     *                         the step is chosen and runs beside the rest of the plan, as beside the chunk reads)
     */
    public record Restore(int ranks, long step, long[] metadataBytes, double[] chunkShares, long chunkReads,
                          Map<RequestKind, Long> requests, long requestsOnFullListings, long slowDowns, int failed,
                          List<String> failures, long manifestBytes, long pageBytes, long indexBytes,
                          long[] plannedNanos, long wallNanos, String busiestKey, int busiestKeyPeak, int stepPrefixPeak,
                          long folderListings, int stalePlanted, int staleLeft, long[] cleanedNanos) {
        public long totalRequests() {
            return requests.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /**
     * The start-up of a new run: every one of the N processes opens its checkpointer at once, whose first act in a tier
     * is the look for the newest committed step there ({@code HighestCommitted}: {@link CommitProtocol#newestCommitted}),
     * against a store that holds nothing of the run yet.
     *
     * @param requests          requests by kind, SlowDowns included
     * @param fullListings      LIST pages of the whole chunk or step prefix
     * @param folderListings    LIST_FOLDERS pages (the folders of the steps or of the marks' groups)
     * @param busiestKey        the key with the most requests in one simulated second, LISTs aside ("-": none)
     * @param busiestKeyPeak    that many
     * @param busiestPrefix     the rate-limited prefix with the most GET-class requests (LIST pages among them) in one
     *                          simulated second: at start-up, the listings of one prefix ("-": none)
     * @param busiestPrefixPeak that many, SlowDowns included (S3 serves 5,500)
     * @param slowDowns         requests answered with SlowDown
     * @param callsFailed       store calls that got SlowDown on every attempt of the S3 backend
     * @param failures          why looks failed, or found a step: reason and count
     * @param lookNanos         simulated time from the start until each process's look returned, by rank
     * @param wallNanos         real time the simulation of the start-up took
     */
    public record StartUp(int ranks, Map<RequestKind, Long> requests, long fullListings, long folderListings,
                          String busiestKey, int busiestKeyPeak, String busiestPrefix, int busiestPrefixPeak,
                          long slowDowns, long callsFailed, List<String> failures, long[] lookNanos, long wallNanos) {
        public long totalRequests() {
            return requests.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /**
     * @param startUp        the new run's start-up, before the first checkpoint
     * @param resumedStartUp the start-up of the resumed run, after the checkpoints and before the restore: every one of
     *                       the M restoring processes opens at once and looks for the newest committed step, which each
     *                       finds in its group of step marks and confirms with a read of that step's MANIFEST
     */
    public record Results(Options options, Setup setup, Instant date, StartUp startUp, List<Checkpoint> checkpoints,
                          StartUp resumedStartUp, Restore restore, long wallNanos, long manifestParses,
                          long manifestReuses) {
    }

    /** Runs the simulation, telling {@code progress} what it does. */
    public static Results run(Options o, PrintStream progress) throws InterruptedException {
        long began = System.nanoTime();
        // GC's grace is measured on the wall clock (Instant.now() in GarbageCollector): an epoch far in the past makes
        // every simulated write older than any grace, the steady state where each collection removes what retention
        // retired.
        SimulatedClock clock = new SimulatedClock(Instant.now().minus(Duration.ofDays(3650)));
        SimulatedObjectStore sim = SimulatedObjectStore.builder().clock(clock).visibleFromCompletion().build();
        S3ClientModel store = new S3ClientModel(sim);
        StoreLayout layout = new StoreLayout(RUN);
        int n = o.ranks();
        int chunkBytes = CairnConfig.DEFAULT_CHUNK_BYTES;
        long widest = (o.modelBytes() / SimulatedModel.BYTES_PER_PARAMETER / SimulatedModel.COLUMNS
                / Math.min(n, o.restoreRanks()) + 2) * SimulatedModel.COLUMNS * 4L;
        SimulatedModel model = new SimulatedModel(n, o.modelBytes(), chunkBytes, new SimulatedModel.TargetBytes(widest));
        RankTurns turns = new RankTurns(clock);
        List<Checkpoint> done = new ArrayList<>();
        Restore restore;
        long parses;
        long reuses;
        try (BufferAllocator allocator = new RootAllocator()) {
            OnceParsed parser = new OnceParsed(allocator);
            Tier[] tiers = new Tier[n];
            CommitProtocol[] commits = new CommitProtocol[n];
            for (int r = 0; r < n; r++) {
                tiers[r] = new Tier(TierConfig.of("s3", store), 0, layout, WRITES_IN_FLIGHT);
                commits[r] = new CommitProtocol(allocator, null, CairnConfig.DEFAULT_DEADLINE, turns, parser);
                // As CairnCheckpointer seeds it; the run is fresh, so the newest step committed at open is none.
                tiers[r].seedCatalogWith(new NewestCommittedRows(commits[r], t -> -1L, r));
            }
            GcReport[] collected = new GcReport[1];
            // The collector's wall clock is rank 0's simulated time (its grace and deferred deletions run on it).
            Retention retention = new Retention(new GarbageCollector(commits[0],
                    () -> clock.toInstant(clock.now()).toEpochMilli()), CairnConfig.DEFAULT_GC_GRACE,
                    CairnConfig.DEFAULT_GC_SWEEP_EVERY, 0, true,
                    Set::of, null, (report, startedAt) -> collected[0] = report);
            // Every rank holds as many rows (the split is even), so each has rank 0's count of chunks.
            long chunksPerCheckpoint = model.index(RUN, 0, 0, Instant.EPOCH).chunkCount() * n;
            Setup setup = new Setup(model.parameters(), model.bytes(), model.globalShape(), SimulatedModel.STATES.size(),
                    chunksPerCheckpoint, chunkBytes, store.describe());
            progress.printf(Locale.ROOT, "simulating %d ranks: %,d parameters (%s of state), %,d chunks a checkpoint;"
                    + " %s%n", n, setup.parameters(), gb(setup.stateBytes()), chunksPerCheckpoint, store.describe());
            progress.flush();
            StartUp startUp = startUp(SECOND, store, layout, tiers, commits, turns, clock);
            progress.printf(Locale.ROOT, "  start-up: %,d requests, %d SlowDown, last look after %.1f s simulated, %.1f s"
                    + " real%n", startUp.totalRequests(), startUp.slowDowns(),
                    Arrays.stream(startUp.lookNanos()).max().orElse(0) / 1e9, startUp.wallNanos() / 1e9);
            progress.flush();
            long start = clock.latest() + CHECKPOINT_INTERVAL_NANOS;
            for (int k = 1; k <= o.checkpoints(); k++) {
                long step = k * STEP_INTERVAL;
                Checkpoint c = checkpoint(step, k == 1, start, model, store, layout, tiers, commits, turns, retention,
                        collected, clock);
                done.add(c);
                progress.printf(Locale.ROOT, "  step %d: %,d requests, %d SlowDown, %d of %d ranks committed, %.1f s"
                                + " simulated, %.1f s real%n", step, c.totalRequests(), c.slowDowns(), c.ranksCommitted(), n,
                        c.simulatedNanos() / 1e9, c.wallNanos() / 1e9);
                progress.flush();
                start = clock.latest() + CHECKPOINT_INTERVAL_NANOS;
            }
            StartUp resumed = resumedStartUp(start, o.restoreRanks(), o.checkpoints() * STEP_INTERVAL, store, layout,
                    allocator, parser, turns, clock);
            progress.printf(Locale.ROOT, "  start-up of the resumed run on %d ranks: %,d requests, %d SlowDown, last look"
                    + " after %.1f s simulated, %.1f s real%n", resumed.ranks(), resumed.totalRequests(),
                    resumed.slowDowns(), Arrays.stream(resumed.lookNanos()).max().orElse(0) / 1e9,
                    resumed.wallNanos() / 1e9);
            progress.flush();
            // The restore two minutes after the last look returned: the two phases' requests are counted apart.
            start = clock.latest() + 120 * SECOND;
            restore = restore(o.restoreRanks(), n, (o.checkpoints() + 1) * STEP_INTERVAL, start, model, chunksPerCheckpoint, store, layout, allocator, parser, turns,
                    clock);
            progress.printf(Locale.ROOT, "  restore on %d ranks: %d failed, %.1f s real%n", restore.ranks(), restore.failed(),
                    restore.wallNanos() / 1e9);
            progress.flush();
            for (Tier t : tiers) {
                t.close();
            }
            parses = parser.parses();
            reuses = parser.reuses();
            return new Results(o, setup, Instant.now(), startUp, List.copyOf(done), resumed, restore,
                    System.nanoTime() - began, parses, reuses);
        }
    }

    /** {@code store}'s request counts, the simulated store's and the client model's, started again: a phase begins. */
    private static SimulatedObjectStore countFromNow(S3ClientModel store) {
        SimulatedObjectStore sim = store.simulated();
        sim.resetStats();
        store.resetCounts();
        return sim;
    }

    /**
     * Every process of a new run opens at {@code start} and looks for the newest committed step, as
     * {@code HighestCommitted} does on the tier's I/O thread at open; each rank's protocol keeps what it found, as the
     * process's does (rank 0's first commit takes it instead of looking again).
     */
    private static StartUp startUp(long start, S3ClientModel store, StoreLayout layout, Tier[] tiers,
                                   CommitProtocol[] commits, RankTurns turns, SimulatedClock clock)
            throws InterruptedException {
        long began = System.nanoTime();
        SimulatedObjectStore sim = countFromNow(store);
        int n = tiers.length;
        long[] look = new long[n];
        Throwable[] failures = new Throwable[n];
        turns.runAll(n, start, r -> {
            try {
                long found = commits[r].newestAtOpen(tiers[r], r, n);
                if (found != -1) {
                    throw new IllegalStateException("the look of a new run found step " + found);
                }
            } finally {
                look[r] = clock.now() - start;
            }
        }, failures);
        return startUpFigures(n, store, layout, failures, look, began);
    }

    /**
     * The M processes of the resumed run open at {@code start}, each with a protocol of its own (an empty cache), and
     * look for the newest committed step, as {@code HighestCommitted} does at open; each must find {@code newest}.
     */
    private static StartUp resumedStartUp(long start, int m, long newest, S3ClientModel store, StoreLayout layout,
                                          BufferAllocator allocator, OnceParsed parser, RankTurns turns,
                                          SimulatedClock clock) throws InterruptedException {
        long began = System.nanoTime();
        SimulatedObjectStore sim = countFromNow(store);
        Tier[] tiers = new Tier[m];
        CommitProtocol[] commits = new CommitProtocol[m];
        for (int r = 0; r < m; r++) {
            tiers[r] = new Tier(TierConfig.of("s3", store), 0, layout, WRITES_IN_FLIGHT);
            commits[r] = new CommitProtocol(allocator, null, CairnConfig.DEFAULT_DEADLINE, turns, parser);
        }
        long[] look = new long[m];
        Throwable[] failures = new Throwable[m];
        try {
            turns.runAll(m, start, r -> {
                try {
                    long found = commits[r].newestAtOpen(tiers[r], r, m);
                    if (found != newest) {
                        throw new IllegalStateException("the look of the resumed run found step " + found + ", not "
                                + newest);
                    }
                } finally {
                    look[r] = clock.now() - start;
                }
            }, failures);
        } finally {
            for (Tier t : tiers) {
                t.close();
            }
        }
        return startUpFigures(m, store, layout, failures, look, began);
    }

    private static StartUp startUpFigures(int n, S3ClientModel store, StoreLayout layout, Throwable[] failures,
                                          long[] look, long began) {
        SimulatedObjectStore sim = store.simulated();
        RequestStats stats = sim.stats();
        RequestStats.KeyRate hottest = stats.hottestKeys().isEmpty() ? null : stats.hottestKeys().get(0);
        String busiestPrefix = "-";
        int busiestPrefixPeak = 0;
        for (Map.Entry<String, RequestStats.PrefixStats> e : stats.prefixes().entrySet()) {
            if (e.getValue().peakReadsPerSecond() > busiestPrefixPeak) {
                busiestPrefix = e.getKey();
                busiestPrefixPeak = e.getValue().peakReadsPerSecond();
            }
        }
        long fullListings = stats.prefix(layout.chunksPrefix()).requests(RequestKind.LIST)
                + stats.prefix(layout.stepsPrefix()).requests(RequestKind.LIST);
        return new StartUp(n, stats.requests(), fullListings, stats.requests(RequestKind.LIST_FOLDERS),
                hottest == null ? "-" : hottest.key(), hottest == null ? 0 : hottest.peakPerSecond(), busiestPrefix,
                busiestPrefixPeak, stats.totalSlowDowns(), store.gaveUp(), tally(failures), look,
                System.nanoTime() - began);
    }

    private static Checkpoint checkpoint(long step, boolean first, long start, SimulatedModel model, S3ClientModel store,
                                         StoreLayout layout, Tier[] tiers, CommitProtocol[] commits, RankTurns turns,
                                         Retention retention, GcReport[] collected, SimulatedClock clock)
            throws InterruptedException {
        long began = System.nanoTime();
        SimulatedObjectStore sim = countFromNow(store);
        int n = tiers.length;
        long[] seen = new long[n];
        long[] written = new long[n];
        Throwable[] failures = new Throwable[n];
        turns.runAll(n, start, r -> {
            Tier tier = tiers[r];
            if (first) {
                // The save pipeline's first dedup lookup starts the catalog, once per process, from the rank's rows of
                // the newest step committed at open (none in this fresh run: no request); it lists nothing.
                tier.catalog();
            }
            Manifest index = model.index(RUN, step, r, clock.toInstant(clock.now()));
            long bytes = writeChunks(index, store, layout, clock, written, r);
            // Every chunk is new and put by this rank's save (writeChunks), as SaveJob#putHashes would say.
            commits[r].commit(tier, index, index.referencedHashes(), index.chunkCount(), bytes);
            seen[r] = clock.now();
        }, failures);
        RequestStats commitStats = sim.stats();
        // Rank 0's retention and collection after its commit (a thread of its own in a multi-rank run), from the
        // moment its commit returned.
        collected[0] = null;
        String gcFailure = null;
        if (failures[0] == null) {
            clock.setNow(seen[0]);
            retention.afterCommit(tiers[0], step);
            if (collected[0] == null && retention.lastFailure() != null) {
                gcFailure = reason(retention.lastFailure());
            }
        } else {
            gcFailure = "rank 0's commit failed: no collection";
        }
        // What TierCommitter does after afterCommit (or a failed commit): rank 0's commit kept its pins on the step's
        // chunks until retention holds the step (ChunkCatalog#keepPinnedUntil).
        tiers[0].releaseKeptPins(step);
        RequestStats all = sim.stats();
        Map<RequestKind, Long> gcRequests = new EnumMap<>(RequestKind.class);
        for (RequestKind kind : RequestKind.values()) {
            gcRequests.put(kind, all.requests(kind) - commitStats.requests(kind));
        }
        long lastIndex = -1;
        long indexBytes = 0;
        for (int r = 0; r < n; r++) {
            String key = layout.indexKey(step, r);
            Long at = store.landed(key);
            if (at != null) {
                lastIndex = Math.max(lastIndex, at);
                indexBytes += store.size(key);
            }
        }
        Long manifestAt = store.landed(layout.manifestKey(step));
        Long manifestBytes = store.size(layout.manifestKey(step));
        int committed = 0;
        long lastSeen = -1;
        for (int r = 0; r < n; r++) {
            if (failures[r] == null) {
                committed++;
                lastSeen = Math.max(lastSeen, seen[r]);
            }
        }
        RequestStats.KeyRate hottest = all.hottestKeys().isEmpty() ? null : all.hottestKeys().get(0);
        long fullListings = all.prefix(layout.chunksPrefix()).requests(RequestKind.LIST)
                + all.prefix(layout.stepsPrefix()).requests(RequestKind.LIST);
        return new Checkpoint(step, Arrays.stream(written).sum(), all.requests(), gcRequests,
                commitStats.requests(RequestKind.LIST), fullListings,
                requestsUnder(all, layout.chunksPrefix(), RequestKind.HEAD), hottest == null ? "-" : hottest.key(),
                hottest == null ? 0 : hottest.peakPerSecond(), all.totalSlowDowns(), store.gaveUp(),
                manifestBytes == null ? -1 : manifestBytes, pageBytes(store, layout, step), indexBytes,
                manifestAt == null || lastIndex < 0 ? -1 : manifestAt - lastIndex,
                committed == n && lastIndex >= 0 ? lastSeen - lastIndex : -1, committed, tally(failures),
                collected[0], gcFailure, clock.latest() - start, System.nanoTime() - began);
    }

    /**
     * Puts every chunk of {@code index}, {@value #WRITES_IN_FLIGHT} in flight, counting each one put in
     * {@code written[rank]}; returns the bytes stored.
     */
    private static long writeChunks(Manifest index, S3ClientModel store, StoreLayout layout, SimulatedClock clock,
                                    long[] written, int rank) throws java.io.IOException {
        long[] lanes = new long[WRITES_IN_FLIGHT];
        Arrays.fill(lanes, clock.now());
        long bytes = 0;
        for (EntryRecord e : index.entries()) {
            for (ChunkRef c : e.chunks()) {
                int lane = 0;
                for (int i = 1; i < lanes.length; i++) {
                    if (lanes[i] < lanes[lane]) {
                        lane = i;
                    }
                }
                clock.setNow(lanes[lane]);
                store.putChunk(layout.chunkKey(c.hash()), c.storedLength(), SimulatedModel.storeHash(c.hash()));
                written[rank]++;
                lanes[lane] = clock.now();
                bytes += c.storedLength();
            }
        }
        clock.setNow(Arrays.stream(lanes).max().orElseThrow());
        return bytes;
    }

    /**
     * M ranks restore the newest step at once, each planning its restore and, from the moment the step is chosen,
     * removing its own indexes of later steps that never committed ({@code StaleIndexCleanUp}, which the engine runs
     * beside the chunk reads): before the restore, a failed attempt of the N saving ranks at {@code failedStep} (the
     * step after the last checkpoint) is planted, its indexes put and no MANIFEST, so that the clean-up has work.
     */
    private static Restore restore(int m, int n, long failedStep, long start, SimulatedModel model, long chunksPerCheckpoint,
                                   S3ClientModel store, StoreLayout layout,
                                   BufferAllocator allocator, OnceParsed parser, RankTurns turns, SimulatedClock clock) {
        long began = System.nanoTime();
        SimulatedObjectStore sim = store.simulated();
        for (int r = 0; r < n; r++) {
            // 2,000 a second, under the 3,500 PUTs a second S3 serves on the step's prefix, all before the restore.
            clock.setNow(start - 60 * SECOND + r * (SECOND / 2_000));
            try {
                sim.put(layout.indexKey(failedStep, r), java.nio.ByteBuffer.wrap(("stale index of rank " + r)
                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
            } catch (java.io.IOException e) {
                throw new IllegalStateException("planting the failed attempt's index of rank " + r, e);
            }
        }
        countFromNow(store);
        long[] cleaned = new long[m];
        long[] bytes = new long[m];
        double[] shares = new double[m];
        long[] planned = new long[m];
        Throwable[] failures = new Throwable[m];
        long reads = 0;
        long step = -1;
        Long manifestBytes = null;
        for (int r = 0; r < m; r++) {
            clock.setNow(start); // every restoring process starts at once
            store.takeBytesRead();
            long[] chosenAt = {-1};
            try (Tier tier = new Tier(TierConfig.of("s3", store), 0, layout, 1)) {
                CommitProtocol protocol = new CommitProtocol(allocator, null, CairnConfig.DEFAULT_DEADLINE, turns, parser);
                try (Restorer restorer = new Restorer(List.of(tier), protocol, null, CairnConfig.DEFAULT_DEADLINE, r, m,
                        allocator)) {
                    List<Tensor> targets = new ArrayList<>();
                    for (SimulatedModel.State s : SimulatedModel.STATES) {
                        targets.add(model.tensor(s, r, m));
                    }
                    StaleIndexCleanUp cleanUp = new StaleIndexCleanUp(restorer, List.of(tier), protocol, r, m,
                            Runnable::run, CairnConfig.DEFAULT_DEADLINE);
                    CommitProtocol cleanUpReads = cleanUp.pacedFromNow(); // at the restore's start, as the engine's
                    Restorer.PlannedRestore plan = restorer.plan(RestoreRequest.latest().into(TrainingState.of(targets)),
                            chosen -> chosenAt[0] = clock.now());
                    step = plan.step();
                    reads += plan.chunkReads();
                    shares[r] = plan.distinctChunks() / (double) chunksPerCheckpoint;
                    manifestBytes = store.size(layout.manifestKey(plan.step()));
                    bytes[r] = store.takeBytesRead(); // the clean-up reads no bytes: LIST, HEAD, DELETE
                    planned[r] = clock.now() - start;
                    // The clean-up starts when the step is chosen, beside the rest of the restore, on its own thread.
                    clock.setNow(chosenAt[0]);
                    cleanUp.dropOwnStaleIndexes(plan.step(), cleanUpReads);
                    cleaned[r] = clock.now() - start;
                }
            } catch (Throwable e) {
                failures[r] = e;
                shares[r] = Double.NaN;
                bytes[r] = store.takeBytesRead();
                planned[r] = clock.now() - start;
                cleaned[r] = planned[r];
            }
        }
        int planted = Math.min(m, n);
        int staleLeft = 0;
        for (int r = 0; r < planted; r++) {
            try {
                sim.contentHash(layout.indexKey(failedStep, r)); // not a request
                staleLeft++;
            } catch (java.nio.file.NoSuchFileException removed) {
                // removed by rank r's clean-up
            }
        }
        RequestStats stats = sim.stats();
        int failed = (int) Arrays.stream(failures).filter(java.util.Objects::nonNull).count();
        long fullListings = stats.prefix(layout.chunksPrefix()).requests(RequestKind.LIST)
                + stats.prefix(layout.stepsPrefix()).requests(RequestKind.LIST);
        long indexBytes = 0;
        for (int r = 0; step >= 0; r++) {
            Long size = store.size(layout.indexKey(step, r));
            if (size == null) {
                break;
            }
            indexBytes += size;
        }
        RequestStats.KeyRate hottest = stats.hottestKeys().isEmpty() ? null : stats.hottestKeys().get(0);
        int stepPrefixPeak = step < 0 ? 0 : stats.prefix(sim.prefixOf(layout.manifestKey(step))).peakReadsPerSecond();
        return new Restore(m, step, bytes, shares, reads, stats.requests(), fullListings, stats.totalSlowDowns(), failed,
                tally(failures),
                manifestBytes == null ? -1 : manifestBytes, step < 0 ? 0 : pageBytes(store, layout, step), indexBytes,
                planned, System.nanoTime() - began, hottest == null ? "-" : hottest.key(),
                hottest == null ? 0 : hottest.peakPerSecond(), stepPrefixPeak, stats.requests(RequestKind.LIST_FOLDERS),
                planted, staleLeft, cleaned);
    }

    /** Bytes of the pages of {@code step}'s MANIFEST directory ({@code MANIFEST.<id>.<level>.<k>}), seen without a request. */
    private static long pageBytes(S3ClientModel store, StoreLayout layout, long step) {
        return store.sizeUnder(layout.manifestKey(step) + ".");
    }

    /** Requests of {@code kind} to every rate-limited prefix under {@code prefix}. */
    private static long requestsUnder(RequestStats stats, String prefix, RequestKind kind) {
        long n = 0;
        for (Map.Entry<String, RequestStats.PrefixStats> e : stats.prefixes().entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                n += e.getValue().requests().getOrDefault(kind, 0L);
            }
        }
        return n;
    }

    /** Failure reasons with their counts, most common first. */
    private static List<String> tally(Throwable[] failures) {
        Map<String, Integer> counts = new java.util.LinkedHashMap<>();
        for (Throwable t : failures) {
            if (t != null) {
                counts.merge(reason(t), 1, Integer::sum);
            }
        }
        return counts.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue())
                .map(e -> e.getValue() + " x " + e.getKey()).toList();
    }

    /** A failure in a line, without the parts that differ from rank to rank (keys, numbers). */
    static String reason(Throwable t) {
        String kind = t instanceof dev.cairn.CheckpointException c ? c.reason().name() : t.getClass().getSimpleName();
        String message = String.valueOf(t.getMessage());
        if (message.startsWith(kind + ": ")) {
            message = message.substring(kind.length() + 2);
        }
        message = message.replaceAll("\\b\\d[\\d,.]*\\b", "#");
        if (message.length() > 160) {
            message = message.substring(0, 160) + "...";
        }
        return kind + ": " + message;
    }

    private static String gb(long bytes) {
        return String.format(Locale.ROOT, "%.2f TB", bytes / 1e12);
    }
}
