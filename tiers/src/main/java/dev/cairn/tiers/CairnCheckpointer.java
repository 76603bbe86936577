package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.Coordinator;
import dev.cairn.GcReport;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.OwnThreads;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.CommittedCheckpoints;
import dev.cairn.tiers.internal.commit.ClosingClock;
import dev.cairn.tiers.internal.commit.HighestCommitted;
import dev.cairn.tiers.internal.commit.TierCommitters;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.gc.Retention;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.lifecycle.Lifecycle;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.observe.Telemetry;
import dev.cairn.tiers.internal.pipeline.InFlightSaves;
import dev.cairn.tiers.internal.pipeline.SaveJob;
import dev.cairn.tiers.internal.pipeline.SavePipeline;
import dev.cairn.tiers.internal.promote.PersistNewest;
import dev.cairn.tiers.internal.promote.Promoter;
import dev.cairn.tiers.internal.restore.NewestStepAgreement;
import dev.cairn.tiers.internal.restore.Restorer;
import dev.cairn.tiers.internal.restore.StaleIndexCleanUp;
import dev.cairn.tiers.internal.save.SaveAdmission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.SegmentRoundingPolicy;

/**
 * The engine behind {@link Checkpointer}: one per run and process. It only wires the parts together (see the data path
 * in {@code package-info}) and delegates: a save to {@link SaveAdmission}, each tier's commits, promotions into it,
 * retention and GC to its {@code TierCommitter}, a restore to {@link Restorer} (with {@link StaleIndexCleanUp} in a
 * multi-rank run), {@code list} to {@link CommittedCheckpoints}, and close and the shutdown hook to {@link Lifecycle}.
 */
public final class CairnCheckpointer implements Checkpointer {
    /** Parallel writes per tier: enough to overlap fsyncs on disk. */
    static final int IO_THREADS_PER_TIER = 4;
    /** Restore threads per encoder thread (per core by default). */
    static final int RESTORE_THREADS_PER_ENCODER = 4;
    /** Most memory the restore readers made ready at open may take (see the constructor). */
    static final long READERS_READY_BYTES = 256L << 20;

    private final CairnConfig config;
    private final BufferAllocator staging;
    private final List<Tier> tiers = new ArrayList<>();
    /** Each tier's commit owner, by tier index: commits, promotions into it, retention and GC. */
    private final TierCommitters committers;
    private final Retention retention;
    private final Promoter promoter;
    private final HighestCommitted highestCommitted;
    private final SavePipeline pipeline;
    private final SaveAdmission admission;
    private final Restorer restorer;
    /** A multi-rank restore; null in a single-rank run. */
    private final StaleIndexCleanUp rankRestore;
    /**
     * Set at the first call of {@link #save}, before its admission (a refused save counts too): from then on this rank
     * may have an index waiting for its MANIFEST, which a restore's clean-up ({@link StaleIndexCleanUp}) must leave.
     */
    private final java.util.concurrent.atomic.AtomicBoolean saving = new java.util.concurrent.atomic.AtomicBoolean();
    private final CommittedCheckpoints checkpoints;
    private final PersistNewest persistNewest;
    private final Lifecycle lifecycle;
    private final Telemetry telemetry;

    CairnCheckpointer(CairnConfig config) {
        this(config, System::currentTimeMillis);
    }

    /**
     * @param gcMillis the wall clock of this checkpointer's garbage collection, in epoch milliseconds (a test's own,
     *                 so that nothing waits out a grace period)
     */
    CairnCheckpointer(CairnConfig config, java.util.function.LongSupplier gcMillis) {
        Warmup.startOnce(); // class loading and JIT of the codec, hash and manifest paths, beside the caller's start-up
        this.config = config;
        BufferAllocator root = new RootAllocator();
        // Staging gets its own root so that its limit is exact: slabs are rounded to 1 KiB, not to powers of two.
        this.staging = new RootAllocator(AllocationListener.NOOP, config.stagingBytes(), new SegmentRoundingPolicy(1024));
        this.telemetry = Telemetry.open(config, this::stagingBytesInUse);
        BufferAllocator manifests = root.newChildAllocator("manifests", 0, Long.MAX_VALUE);
        /* The scratch of encoders, promotions and restores: outside the staging limit, freed at close. */
        BufferAllocator scratch = Scratch.newRoot();
        StoreLayout layout = new StoreLayout(config.run());
        for (TierConfig t : config.tiers()) {
            tiers.add(new Tier(t, tiers.size(), layout, IO_THREADS_PER_TIER, config.compressionLevel()));
        }
        ClosingClock waits = new ClosingClock();
        Coordinator coordinator = coordinatorOf(config);
        CommitProtocol commits = new CommitProtocol(manifests, coordinator, config.deadline(), waits, null,
                SavePipeline.freshFor(config));
        boolean multiRank = config.worldSize() > 1;
        // A multi-rank commit waits for the other ranks: on its own threads, never on a tier's I/O threads, whose
        // chunk writes (of this step in another tier, or of the next steps) the other ranks may be waiting for.
        OwnThreads rankCommitThreads = new OwnThreads("cairn-rank-commit");
        ExecutorService rankCommits = multiRank ? Executors.newCachedThreadPool(rankCommitThreads) : null;
        InFlightSaves inFlight = new InFlightSaves();
        OwnThreads gcThreads = new OwnThreads("cairn-gc");
        this.retention = new Retention(new GarbageCollector(commits, gcMillis), config.gcGrace(), config.gcSweepEvery(), config.rank(),
                multiRank,
                inFlight::steps,
                multiRank && config.rank() == 0 ? Executors.newSingleThreadExecutor(gcThreads) : null,
                telemetry::gcFinished);
        this.committers = new TierCommitters(tiers, commits, config.run(), retention, rankCommits, telemetry::gcFinished);
        this.promoter = new Promoter(rankCommits == null ? Runnable::run : rankCommits, scratch,
                SavePipeline.freshFor(config));
        this.pipeline = new SavePipeline(config, staging, scratch, this::firstTierWritten);
        // Restore threads both wait on the store and decode: more of them than cores keeps a slow store's GETs
        // overlapping with decoding.
        OwnThreads restoreThreads = new OwnThreads("cairn-restore");
        ExecutorService restorePool = Executors.newFixedThreadPool(RESTORE_THREADS_PER_ENCODER * config.encoderThreads(),
                restoreThreads);
        // Ranks restoring the newest step agree on it where their coordinator can pass the steps they found.
        NewestStepAgreement agreement = coordinator == null || !NewestStepAgreement.canAgree(coordinator) ? null
                : new NewestStepAgreement(coordinator, config.run(), config.rank(), config.worldSize(), config.deadline());
        this.restorer = new Restorer(tiers, commits, restorePool, config.deadline(), config.rank(), config.worldSize(), scratch,
                agreement);
        this.rankRestore = multiRank
                ? new StaleIndexCleanUp(restorer, tiers, commits, config.rank(), config.worldSize(), rankCommits,
                        config.deadline(), saving::get) : null;
        this.checkpoints = new CommittedCheckpoints(tiers, commits);
        this.highestCommitted = new HighestCommitted(commits, config.deadline(), config.rank(), config.worldSize(),
                config.readRowsAhead());
        // A tier that holds a committed step at open means a restore is likely (a replacement, a resumed run): the
        // restore's readers are made ready then, their memory touched, once, off the caller's thread.
        // At most READERS_READY_BYTES of them (a reader holds about 3 chunks): with huge chunks, fewer or none.
        int readersReady = (int) Math.min(RESTORE_THREADS_PER_ENCODER * config.encoderThreads(),
                READERS_READY_BYTES / (3L * config.chunkBytes()));
        java.util.concurrent.atomic.AtomicBoolean readersPrepared = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable prepareReaders = () -> {
            if (readersReady > 0 && readersPrepared.compareAndSet(false, true)) {
                restorer.prefault(readersReady, config.chunkBytes());
            }
        };
        // Each tier's catalog starts from this rank's rows of the newest step committed there at open (no listing of
        // the chunks, which at thousands of ranks costs each process a LIST request per thousand chunks the tier holds).
        dev.cairn.tiers.internal.ChunkCatalog.Seed seed = new dev.cairn.tiers.internal.commit.NewestCommittedRows(commits,
                highestCommitted::atFirstSave, config.rank());
        for (Tier t : tiers) {
            t.seedCatalogWith(seed);
            highestCommitted.listInBackground(t, prepareReaders);
        }
        OwnThreads deadlineThreads = new OwnThreads("cairn-deadline");
        ScheduledThreadPoolExecutor deadlines = new ScheduledThreadPoolExecutor(1, deadlineThreads);
        deadlines.setRemoveOnCancelPolicy(true);
        this.persistNewest = new PersistNewest(tiers, commits, inFlight, this::promote, config.rank(), config.worldSize());
        this.lifecycle = new Lifecycle(config.run(), config.deadline(),
                new Lifecycle.Parts(retention, inFlight, pipeline, waits::close, tiers, restorePool, rankCommits, deadlines,
                        promoter, restorer, telemetry, List.of(staging, scratch, manifests, root),
                        // A close on one of these threads may hold up a save in flight, or run inside a commit.
                        () -> rankCommitThreads.current() || gcThreads.current() || restoreThreads.current()
                                || deadlineThreads.current() || pipeline.ownsCurrentThread()
                                || tiers.stream().anyMatch(t -> t.onIoThread() || t.commitLock().isHeldByCurrentThread()),
                        restoreThreads, rankCommitThreads),
                config.persistOnShutdown(), persistNewest::persist);
        this.admission = new SaveAdmission(config, tiers, commits, highestCommitted, inFlight, pipeline, deadlines,
                lifecycle, this::firstTierWritten);
        if (config.prepareFirstSave()) {
            // Opt-in, on the caller's thread: open returns with staging touched and the save path's code run.
            pipeline.prefaultStaging();
            FirstSavePreparation.runOnce(config);
        }
        lifecycle.registerShutdownHook(); // last: an open that throws before this leaves no hook behind
    }

    /**
     * The newest step committed in each tier at open, waiting for each tier's look ({@link HighestCommitted#atFirstSave},
     * as a first save into it does); here for tests of what a save checks against it.
     */
    java.util.List<Long> newestAtOpen() throws java.io.IOException {
        java.util.List<Long> newest = new java.util.ArrayList<>();
        for (Tier t : tiers) {
            newest.add(highestCommitted.atFirstSave(t));
        }
        return newest;
    }

    /** {@link PersistNewest}: what the shutdown hook of {@code persistOnShutdown} runs; here for tests. */
    List<String> persistNewest(Duration grace) {
        return persistNewest.persist(grace);
    }

    /** {@link #persistNewest(Duration)}, telling also which tiers hold another commit of the step; for tests. */
    PersistNewest.Outcome persistNewestOutcome(Duration grace) {
        return persistNewest.persistNewest(grace);
    }

    @Override
    public CheckpointHandle save(long step, TrainingState state, SaveMode mode) {
        long began = System.nanoTime();
        try (var logContext = telemetry.context(step)) {
            CheckpointHandle handle;
            saving.set(true);
            try {
                handle = admission.start(step, state, mode);
            } catch (CheckpointException refused) {
                telemetry.saveRefused(step, refused);
                throw refused;
            }
            telemetry.saveReturned(handle, state, mode, began);
            return handle;
        }
    }

    /**
     * How the ranks meet to commit: the configured coordinator, else the first tier whose store connects the ranks
     * itself (the peer-memory tier), else none (they meet by polling the store).
     */
    private static Coordinator coordinatorOf(CairnConfig config) {
        if (config.worldSize() == 1) {
            return null;
        }
        return config.coordinator().or(() -> config.tiers().stream().map(t -> t.store().coordinator())
                .flatMap(Optional::stream).findFirst()).orElse(null);
    }

    /** Every chunk of {@code job} is durable in its first tier (or failed); on one of that tier's I/O threads. */
    private void firstTierWritten(SaveJob job) {
        committers.of(job.tier(0).index()).saved(job, this::promote);
    }

    private void promote(Manifest m, Tier source, Tier target, CompletableFuture<CommitReport> done,
                         java.util.function.BooleanSupplier claim) {
        promoter.promote(m, source, committers.of(target.index()), done, claim);
    }

    @Override
    public RestoreResult restore(RestoreRequest request) {
        long began = System.nanoTime();
        // A restore of blobs alone is a look before a restore (a framework checking its counters, or whether the run
        // holds anything): not counted as one, so that it neither doubles the restores a report counts nor logs and
        // counts a NOT_FOUND for every fresh run's first save.
        boolean counted = request == null || !request.isBlobsOnly();
        try (var logContext = telemetry.context(request == null ? -1 : request.stepWanted().orElse(-1))) {
            RestoreResult result = restoreNow(request);
            if (counted) {
                telemetry.restored(result, began);
            }
            return result;
        } catch (RuntimeException failed) {
            if (counted) {
                telemetry.restoreFailed(failed, began);
            }
            throw failed;
        }
    }

    private RestoreResult restoreNow(RestoreRequest request) {
        lifecycle.checkOpen();
        if (request == null) {
            throw new CheckpointException(Reason.INVALID_INPUT, "restore needs a request");
        }
        return rankRestore == null ? restorer.restore(request) : rankRestore.restore(request);
    }

    @Override
    public List<CheckpointInfo> list() {
        lifecycle.checkOpen();
        return checkpoints.list();
    }

    @Override
    public List<GcReport> gc(boolean dryRun) {
        // Closed: no collection, and none that began before (each tier's is checked again under its commit lock,
        // which close takes after retention is closed: it waits for one in flight).
        lifecycle.checkOpen();
        return committers.collect(dryRun);
    }

    /** Staging slabs handed out right now; zero once every save has finished. */
    public int stagingSlabsInUse() {
        return pipeline.slabsInUse();
    }

    /**
     * Staging in use, for telemetry: slabs handed out times the chunk size (the allocator's own count includes the
     * pools' idle slabs). Read from other threads, possibly before the pipeline exists.
     */
    private long stagingBytesInUse() {
        SavePipeline p = pipeline;
        return p == null ? 0 : (long) p.slabsInUse() * config.chunkBytes();
    }

    /** Bytes the staging allocator holds now, slabs idle in its pools included (tests of prefaultStaging). */
    long stagingAllocatedBytes() {
        return staging.getAllocatedMemory();
    }

    /** The chunk catalog of tier {@code name} (tests that mark a chunk as a promotion or a restore would). */
    dev.cairn.tiers.internal.ChunkCatalog catalogOf(String name) throws java.io.IOException {
        for (Tier t : tiers) {
            if (t.name().equals(name)) {
                return t.catalog();
            }
        }
        throw new IllegalArgumentException("no tier " + name);
    }

    /** The last failure of a background collection, or null. */
    public Throwable lastGcFailure() {
        return retention.lastFailure();
    }

    /** See {@link Lifecycle#close}. */
    @Override
    public void close() {
        lifecycle.close();
    }
}
