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
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.WhenBusy;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.TierCommitter;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.gc.Retention;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.observe.Telemetry;
import dev.cairn.tiers.internal.pipeline.SaveHandle;
import dev.cairn.tiers.internal.pipeline.SaveJob;
import dev.cairn.tiers.internal.pipeline.SavePlan;
import dev.cairn.tiers.internal.promote.Promoter;
import dev.cairn.tiers.internal.pipeline.SavePipeline;
import dev.cairn.tiers.internal.restore.Restorer;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.SegmentRoundingPolicy;

/** The engine behind {@link Checkpointer}: one per run and process. */
public final class CairnCheckpointer implements Checkpointer {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(CairnCheckpointer.class);
    /** Parallel writes per tier: enough to overlap fsyncs on disk. */
    static final int IO_THREADS_PER_TIER = 4;
    /** Restore threads per encoder thread (per core by default). */
    static final int RESTORE_THREADS_PER_ENCODER = 4;

    private final CairnConfig config;
    private final BufferAllocator root;
    private final BufferAllocator staging;
    private final BufferAllocator manifests;
    /** The scratch of encoders, promotions and restores: outside the staging limit, freed at close. */
    private final BufferAllocator scratch;
    private final List<Tier> tiers = new ArrayList<>();
    private final CommitProtocol commits;
    /** Each tier's commit owner, by tier index: commits, promotions into it, retention and GC. */
    private final List<TierCommitter> committers = new ArrayList<>();
    private final Retention retention;
    private final Promoter promoter;
    private final SavePipeline pipeline;
    private final Restorer restorer;
    private final ExecutorService restorePool;
    private final ExecutorService rankCommits;
    private final ScheduledExecutorService deadlines;
    private final Map<Long, SaveJob> inFlight = new ConcurrentHashMap<>();
    private long lastStep = -1;
    private final Map<Integer, Long> highestCommitted = new ConcurrentHashMap<>();
    /** Each tier's committed steps, listed in the background from the open on (see highestCommittedAtFirstSave). */
    private final Map<Integer, CompletableFuture<Long>> highestCommittedAtOpen = new ConcurrentHashMap<>();
    private volatile boolean closed;
    private final Telemetry telemetry;
    /** The shutdown hook of persistOnShutdown; null when off. */
    private final Thread persistOnShutdown;

    CairnCheckpointer(CairnConfig config) {
        Warmup.startOnce(); // class loading and JIT of the codec, hash and manifest paths, beside the caller's start-up
        this.config = config;
        this.root = new RootAllocator();
        // Staging gets its own root so that its limit is exact: slabs are rounded to 1 KiB, not to powers of two.
        this.staging = new RootAllocator(AllocationListener.NOOP, config.stagingBytes(), new SegmentRoundingPolicy(1024));
        this.telemetry = Telemetry.open(config, this::stagingBytesInUse);
        this.manifests = root.newChildAllocator("manifests", 0, Long.MAX_VALUE);
        this.scratch = Scratch.newRoot();
        StoreLayout layout = new StoreLayout(config.run());
        for (TierConfig t : config.tiers()) {
            tiers.add(new Tier(t, tiers.size(), layout, IO_THREADS_PER_TIER, config.compressionLevel()));
        }
        this.commits = new CommitProtocol(manifests, coordinatorOf(config), config.deadline());
        boolean multiRank = config.worldSize() > 1;
        // A multi-rank commit waits for the other ranks: on its own threads, never on a tier's I/O threads, whose
        // chunk writes (of this step in another tier, or of the next steps) the other ranks may be waiting for.
        this.rankCommits = multiRank ? Executors.newCachedThreadPool(daemon("cairn-rank-commit")) : null;
        this.retention = new Retention(new GarbageCollector(commits), config.gcGrace(), config.gcSweepEvery(), config.rank(),
                multiRank,
                () -> Set.copyOf(inFlight.keySet()),
                multiRank && config.rank() == 0 ? Executors.newSingleThreadExecutor(daemon("cairn-gc")) : null,
                telemetry::gcFinished);
        for (Tier t : tiers) {
            committers.add(new TierCommitter(t, commits, config.run(), retention, rankCommits));
        }
        this.promoter = new Promoter(rankCommits == null ? Runnable::run : rankCommits, scratch);
        this.pipeline = new SavePipeline(config, staging, scratch, this::firstTierWritten);
        // Restore threads both wait on the store and decode: more of them than cores keeps a slow store's GETs
        // overlapping with decoding.
        this.restorePool = Executors.newFixedThreadPool(RESTORE_THREADS_PER_ENCODER * config.encoderThreads(), daemon("cairn-restore"));
        this.restorer = new Restorer(tiers, commits, restorePool, config.deadline(), config.rank(), config.worldSize(), scratch);
        for (Tier t : tiers) {
            // The first save into a tier needs its newest committed step; listed now, on the tier's I/O thread, so a
            // slow or cold store (an S3 client's first call loads and starts its whole stack) is not paid for in the
            // caller's thread by the first save that reaches that tier, possibly many steps from now.
            CompletableFuture<Long> listed = new CompletableFuture<>();
            highestCommittedAtOpen.put(t.index(), listed);
            try {
                t.io().execute(() -> {
                    try {
                        List<Long> steps = commits.committedSteps(t);
                        listed.complete(steps.isEmpty() ? -1L : steps.get(steps.size() - 1));
                    } catch (Throwable e) {
                        listed.completeExceptionally(e); // listed again at the first save, which reports why
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                listed.completeExceptionally(e);
            }
        }
        ScheduledThreadPoolExecutor timers = new ScheduledThreadPoolExecutor(1, daemon("cairn-deadline"));
        timers.setRemoveOnCancelPolicy(true);
        this.deadlines = timers;
        this.persistOnShutdown = config.persistOnShutdown().map(grace -> {
            Thread hook = new Thread(() -> persistNewest(grace), "cairn-persist-on-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            return hook;
        }).orElse(null);
    }

    /**
     * {@link CairnConfig.Builder#persistOnShutdown}: run as a JVM shutdown hook. Waits for the saves in flight (their
     * first tier and the promotions they started), then promotes the newest step committed in the first tier to each
     * slower tier that lacks it, whatever its interval, and waits for those commits; all within {@code grace}. What
     * has not committed by then is left uncommitted (a promotion writes its MANIFEST last) and the JVM goes on
     * exiting. Returns the tiers the newest step was committed into here, for tests and the log.
     */
    List<String> persistNewest(Duration grace) {
        long until = System.nanoTime() + grace.toNanos();
        List<String> persisted = new ArrayList<>();
        if (tiers.size() < 2) {
            return persisted;
        }
        // Not refused when closing: a close() that runs while the JVM shuts down waits for this before it stops the tiers.
        for (SaveJob job : List.copyOf(inFlight.values())) {
            try {
                job.handle().done().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return persisted;
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // that step failed, or is still going: the newest committed one is persisted below all the same
            }
        }
        Tier first = tiers.get(0);
        try {
            List<Long> steps = commits.committedSteps(first);
            if (steps.isEmpty()) {
                return persisted;
            }
            long newest = steps.get(steps.size() - 1);
            Manifest m = commits.read(first, newest);
            Map<String, CompletableFuture<CommitReport>> promotions = new java.util.LinkedHashMap<>();
            for (Tier target : tiers.subList(1, tiers.size())) {
                if (!commits.isCommitted(target, newest)) {
                    CompletableFuture<CommitReport> done = new CompletableFuture<>();
                    promote(m, first, target, done, () -> true);
                    promotions.put(target.name(), done);
                }
            }
            for (Map.Entry<String, CompletableFuture<CommitReport>> p : promotions.entrySet()) {
                try {
                    p.getValue().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                    persisted.add(p.getKey());
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    LOG.warn("on shutdown, step {} was not persisted into tier {} within {}: {}", newest, p.getKey(), grace,
                            e instanceof java.util.concurrent.ExecutionException ? e.getCause() : "out of time");
                }
            }
            LOG.info("on shutdown, step {} persisted into {}", newest, persisted);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException | RuntimeException e) {
            LOG.warn("on shutdown, the newest step of tier {} could not be persisted: {}", first.name(), e.toString());
        }
        return persisted;
    }

    @Override
    public CheckpointHandle save(long step, TrainingState state, SaveMode mode) {
        long began = System.nanoTime();
        try (var logContext = telemetry.context(step)) {
            CheckpointHandle handle;
            try {
                handle = start(step, state, mode);
            } catch (CheckpointException refused) {
                telemetry.saveRefused(step, refused);
                throw refused;
            }
            telemetry.saveReturned(handle, state, mode, began);
            return handle;
        }
    }

    private synchronized CheckpointHandle start(long step, TrainingState state, SaveMode mode) {
        if (closed) {
            throw new CheckpointException(Reason.CLOSED, "checkpointer of run '" + config.run() + "' is closed");
        }
        if (state == null || mode == null) {
            throw new CheckpointException(Reason.INVALID_INPUT, "save of step " + step + " needs a state and a mode");
        }
        if (step < 0) {
            throw new CheckpointException(Reason.INVALID_INPUT, "step must not be negative, was " + step);
        }
        if (step <= lastStep) {
            throw new CheckpointException(Reason.CONFLICT, "step " + step + " is not after the last saved step " + lastStep);
        }
        List<Tier> targets = new ArrayList<>();
        for (Tier t : tiers) {
            if (t.config().takes(step)) {
                targets.add(t);
                try {
                    if (step <= highestCommittedAtFirstSave(t) && commits.isCommitted(t, step)) {
                        throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier " + t.name());
                    }
                } catch (IOException e) {
                    throw new CheckpointException(Reason.STORAGE, "tier " + t.name() + " cannot be read: " + e.getMessage(), e);
                }
            }
        }
        SavePlan plan = new SavePlan(step, state, mode, config.chunkBytes(), config.rank(), config.worldSize(),
                config.lossyEntries().orElse(null), config.lossyMantissaBits());
        lastStep = step;
        if (!targets.isEmpty() && config.whenBusy() == WhenBusy.SKIP) {
            String busy = busyWith();
            if (busy != null) {
                return SaveHandle.skipped(step, busy);
            }
        }
        if (targets.isEmpty()) {
            SaveJob nowhere = new SaveJob(plan, new Tier[0]);
            nowhere.completeCapture();
            return nowhere.handle();
        }
        SaveJob job = new SaveJob(plan, targets.toArray(new Tier[0]));
        inFlight.put(step, job);
        // The timer must not outlive the job: it holds the job, and so the caller's buffers, until it fires.
        ScheduledFuture<?> timer = deadlines.schedule(() -> job.expire(new CheckpointException(Reason.TIMEOUT,
                "save of step " + step + " did not finish within " + config.deadline())), config.deadline().toNanos(), TimeUnit.NANOSECONDS);
        job.handle().done().whenComplete((r, e) -> {
            inFlight.remove(step, job);
            timer.cancel(false);
        });
        if (job.chunkCount() == 0) {
            job.completeCapture();
            try {
                job.tier(0).io().execute(() -> firstTierWritten(job));
            } catch (java.util.concurrent.RejectedExecutionException closing) {
                job.expire(new CheckpointException(Reason.CLOSED, "tier " + job.tier(0).name() + " stopped before step "
                        + step + " committed"));
            }
            return job.handle();
        }
        pipeline.submit(job);
        return job.handle();
    }

    /**
     * Why a save must wait, for {@link WhenBusy#SKIP}: an earlier save still being persisted into its first tier
     * (its chunks in staging, on the ring or being written, or its commit running); null when none is. Promotions
     * to slower tiers run from the first tier's stored chunks and do not hold staging, so they do not count.
     */
    private String busyWith() {
        for (SaveJob earlier : inFlight.values()) {
            if (earlier.tierCount() > 0 && !earlier.committed(0).isDone()) {
                return "step " + earlier.step() + " is still being persisted into tier " + earlier.tier(0).name();
            }
        }
        return null;
    }

    /**
     * The newest step committed in {@code t} when this checkpointer first saved into it, listed once. Steps above it
     * can only have been committed since by this process (whose steps only go up) or by a second writer of the same
     * run, which the create-only MANIFEST refuses at commit time; so a save checks the store (a remote call on S3 or
     * peer memory, in the caller's thread) only for steps at or below it, as after a restore from an older step.
     */
    private long highestCommittedAtFirstSave(Tier t) throws IOException {
        Long known = highestCommitted.get(t.index());
        CompletableFuture<Long> atOpen = highestCommittedAtOpen.remove(t.index());
        if (known == null && atOpen != null) {
            // Listed since the open: as good as a listing now (a step committed since by another writer of this run is
            // refused by the create-only MANIFEST all the same). Waited for within the deadline if still running.
            try {
                known = atOpen.get(config.deadline().toNanos(), TimeUnit.NANOSECONDS);
                highestCommitted.put(t.index(), known);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException(Reason.CLOSED, "interrupted while tier " + t.name() + " was listed");
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // listed again below, in this thread, which reports the reason
            }
        }
        if (known == null) {
            List<Long> steps = commits.committedSteps(t);
            known = steps.isEmpty() ? -1 : steps.get(steps.size() - 1);
            highestCommitted.put(t.index(), known);
        }
        return known;
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
        committers.get(job.tier(0).index()).saved(job, this::promote);
    }

    private void promote(Manifest m, Tier source, Tier target, CompletableFuture<CommitReport> done,
                         java.util.function.BooleanSupplier claim) {
        promoter.promote(m, source, committers.get(target.index()), done, claim);
    }

    @Override
    public RestoreResult restore(RestoreRequest request) {
        long began = System.nanoTime();
        try (var logContext = telemetry.context(request == null ? -1 : request.stepWanted().orElse(-1))) {
            RestoreResult result = restoreNow(request);
            telemetry.restored(result, began);
            return result;
        } catch (RuntimeException failed) {
            telemetry.restoreFailed(failed, began);
            throw failed;
        }
    }

    private RestoreResult restoreNow(RestoreRequest request) {
        if (closed) {
            throw new CheckpointException(Reason.CLOSED, "checkpointer of run '" + config.run() + "' is closed");
        }
        if (request == null) {
            throw new CheckpointException(Reason.INVALID_INPUT, "restore needs a request");
        }
        if (config.worldSize() == 1) {
            return restorer.restore(request);
        }
        // The clean-up of this rank's stale indexes overlaps the chunk reads, and is done before the restore returns.
        CompletableFuture<Void> cleanUp = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicBoolean started = new java.util.concurrent.atomic.AtomicBoolean();
        try {
            return restorer.restore(request, step -> {
                started.set(true);
                try {
                    rankCommits.execute(() -> {
                        try {
                            dropOwnStaleIndexes(step);
                        } finally {
                            cleanUp.complete(null);
                        }
                    });
                } catch (java.util.concurrent.RejectedExecutionException closing) {
                    cleanUp.complete(null);
                }
            });
        } finally {
            if (started.get()) {
                awaitCleanUp(cleanUp);
            }
        }
    }

    private void awaitCleanUp(CompletableFuture<Void> cleanUp) {
        try {
            cleanUp.get(config.deadline().toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            // dropOwnStaleIndexes fails on nothing but an unreachable tier, which it skips
        }
    }

    /**
     * A rank restarting from {@code step} removes the indexes it left, in an attempt that failed, for steps after it
     * that never committed: rank 0 would otherwise find one when this attempt reaches that step and commit the old
     * attempt's slices. Ranks restore before their next training step, which they take together, so no rank 0 of
     * this attempt commits a later step before every rank has done this.
     */
    private void dropOwnStaleIndexes(long step) {
        for (Tier t : tiers) {
            try {
                for (ObjectInfo o : t.store().list(t.layout().stepsPrefix())) {
                    java.util.OptionalLong s = t.layout().stepOf(o.key());
                    if (s.isPresent() && s.getAsLong() > step && o.key().equals(t.layout().indexKey(s.getAsLong(), config.rank()))
                            && !commits.isCommitted(t, s.getAsLong())) {
                        t.store().delete(o.key());
                    }
                }
            } catch (IOException e) {
                // An unreachable tier: its stale index, if any, stays; the commit there fails or is retried later.
            }
        }
    }

    @Override
    public List<CheckpointInfo> list() {
        List<CheckpointInfo> out = new ArrayList<>();
        for (Tier t : tiers) {
            try {
                for (long step : commits.committedSteps(t)) {
                    try {
                        Manifest m = commits.read(t, step);
                        out.add(new CheckpointInfo(m.run(), step, t.name(), m.worldSize(), m.entries().size(), m.rawBytes(),
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
                .thenComparingInt(i -> config.tiers().indexOf(config.tier(i.tier()))));
        return out;
    }

    @Override
    public List<GcReport> gc(boolean dryRun) {
        List<GcReport> reports = new ArrayList<>();
        for (TierCommitter c : committers) {
            try {
                long began = System.nanoTime();
                GcReport report = c.collect(dryRun);
                telemetry.gcFinished(report, began);
                reports.add(report);
            } catch (IOException e) {
                throw new CheckpointException(Reason.STORAGE, "gc of tier " + c.tier().name() + " failed: " + e.getMessage(), e);
            }
        }
        return reports;
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

    /** The last failure of a background collection, or null. */
    public Throwable lastGcFailure() {
        return retention.lastFailure();
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (persistOnShutdown != null && Thread.currentThread() != persistOnShutdown) {
            try {
                Runtime.getRuntime().removeShutdownHook(persistOnShutdown);
            } catch (IllegalStateException shuttingDown) {
                // The hook is running (or about to): let it finish persisting before the tiers stop under it.
                try {
                    persistOnShutdown.join(config.persistOnShutdown().orElseThrow().toMillis());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
        retention.closing();
        long until = System.nanoTime() + config.deadline().toNanos();
        for (SaveJob job : List.copyOf(inFlight.values())) {
            try {
                job.handle().done().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (Exception e) {
                job.expire(new CheckpointException(Reason.CLOSED, "checkpointer closed before step " + job.step() + " committed"));
            }
        }
        pipeline.close();
        retention.close();
        for (Tier t : tiers) {
            t.close();
        }
        for (Tier t : tiers) {
            try {
                t.io().awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        restorePool.shutdownNow();
        if (rankCommits != null) {
            rankCommits.shutdownNow();
        }
        deadlines.shutdownNow();
        awaitQuietly(restorePool);
        if (rankCommits != null) {
            awaitQuietly(rankCommits);
        }
        promoter.close();
        restorer.close();
        telemetry.close();
        // Every buffer is back by now, unless a thread did not stop within the waits above: then what it holds is
        // still in use, cannot be freed, and Arrow's leak check fails the close, naming it.
        closeAll(staging, scratch, manifests, root);
    }

    private static void awaitQuietly(ExecutorService pool) {
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Closes each allocator; the first failure (a leak) is thrown once all were tried, with the others suppressed. */
    private static void closeAll(BufferAllocator... allocators) {
        IllegalStateException leak = null;
        for (BufferAllocator a : allocators) {
            try {
                a.close();
            } catch (IllegalStateException e) {
                if (leak == null) {
                    leak = e;
                } else {
                    leak.addSuppressed(e);
                }
            }
        }
        if (leak != null) {
            throw leak;
        }
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }
}
