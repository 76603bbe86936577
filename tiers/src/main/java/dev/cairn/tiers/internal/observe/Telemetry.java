package dev.cairn.tiers.internal.observe;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CommitReport;
import dev.cairn.GcReport;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import java.lang.reflect.InvocationTargetException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import jdk.jfr.FlightRecorder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine's one entry to observability: the checkpointer calls it when a save call returns or is refused, when a
 * restore ends and when a collection ends; it follows each save's per-tier futures to see the commit in the first
 * tier and each promotion. Each call emits a Flight Recorder event (built only when a recording has the event on)
 * and tells the {@link Metrics} (a Micrometer registry, or nothing), and logs through SLF4J (logger {@code dev.cairn}:
 * DEBUG per save and commit, INFO per restore, WARN per failure) with {@link LogContext} in the MDC. Nothing here runs
 * per chunk.
 */
public final class Telemetry implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("dev.cairn");
    /** Loaded by name, so that Micrometer is linked only when a registry is configured. */
    static final String MICROMETER_BINDING = "dev.cairn.tiers.internal.observe.micrometer.MicrometerMetrics";

    private final String run;
    private final int rank;
    private final CairnConfig config;
    private final LongSupplier stagingUsed;
    private final Metrics metrics;
    /** The newest step a save call was made for: promotion lag is measured against it. */
    private final AtomicLong newestStep = new AtomicLong(-1);
    private final Runnable stagingSample = this::sampleStaging;
    private final Runnable configuredSample = this::emitConfigured;

    private Telemetry(CairnConfig config, LongSupplier stagingUsed, Metrics metrics) {
        this.run = config.run();
        this.rank = config.rank();
        this.config = config;
        this.stagingUsed = stagingUsed;
        this.metrics = metrics;
    }

    /**
     * @param stagingUsed bytes of staging memory in use now (sampled by a recording and the staging gauge)
     */
    public static Telemetry open(CairnConfig config, LongSupplier stagingUsed) {
        Telemetry t = new Telemetry(config, stagingUsed, metricsFor(config, stagingUsed));
        FlightRecorder.addPeriodicEvent(StagingEvent.class, t.stagingSample);
        FlightRecorder.addPeriodicEvent(TierConfiguredEvent.class, t.configuredSample);
        t.emitConfigured(); // a recording already running saw its chunk begin before this checkpointer existed
        return t;
    }

    private static Metrics metricsFor(CairnConfig config, LongSupplier stagingUsed) {
        Object registry = config.meterRegistry().orElse(null);
        if (registry == null) {
            return Metrics.NONE;
        }
        try {
            Class<?> binding = Class.forName(MICROMETER_BINDING, true, Telemetry.class.getClassLoader());
            return (Metrics) binding.getConstructor(Object.class, CairnConfig.class, LongSupplier.class)
                    .newInstance(registry, config, stagingUsed);
        } catch (ClassNotFoundException | LinkageError e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "a meter registry is configured but"
                    + " Micrometer cannot be loaded beside the engine (add io.micrometer:micrometer-core): " + e);
        } catch (InvocationTargetException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "the meter registry cannot be bound: "
                    + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(MICROMETER_BINDING + " lost its constructor", e);
        }
    }

    /**
     * {@code run}, {@code rank} and {@code step} in the MDC until closed: the checkpointer holds it around a save or
     * restore call (step -1: the newest).
     */
    public LogContext context(long step) {
        return LogContext.enter(run, rank, step);
    }

    /** A save call returned {@code handle} after starting at {@code beganNanos} ({@link System#nanoTime()}). */
    public void saveReturned(CheckpointHandle handle, TrainingState state, SaveMode mode, long beganNanos) {
        long stall = System.nanoTime() - beganNanos;
        long step = handle.step();
        newestStep.accumulateAndGet(step, Math::max);
        List<String> tiers = handle.tiers();
        SaveEvent e = new SaveEvent();
        if (e.shouldCommit()) {
            e.run = run;
            e.rank = rank;
            e.step = step;
            e.mode = mode.name();
            e.tiers = String.join(",", tiers);
            e.stall = stall;
            e.rawBytes = state.byteSize();
            e.chunks = chunks(state.byteSize());
            e.stagingUsed = stagingUsed.getAsLong();
            e.stagingLimit = config.stagingBytes();
            e.commit();
        }
        if (LOG.isDebugEnabled()) {
            LOG.debug("save of step {} returned after {} us, for tiers {}", step, stall / 1000, tiers);
        }
        if (tiers.isEmpty()) {
            metrics.saveSkipped(handle.skipped().isPresent() ? "busy" : "no_tier_takes_step");
            if (handle.skipped().isPresent() && LOG.isDebugEnabled()) {
                LOG.debug("save of step {} skipped: {}", step, handle.skipped().get());
            }
            return;
        }
        metrics.saved(tiers.get(0), stall);
        // Promotions start after the first tier's future completed, so its callback has set this before any of theirs runs.
        AtomicLong firstCommittedAt = new AtomicLong(beganNanos);
        handle.committed(tiers.get(0)).whenComplete((r, failure) -> {
            firstCommittedAt.set(System.nanoTime());
            firstTierDone(tiers.get(0), step, beganNanos, r, failure);
        });
        for (int k = 1; k < tiers.size(); k++) {
            String tier = tiers.get(k);
            handle.committed(tier).whenComplete((r, failure) -> promotionDone(tiers.get(0), tier, step, beganNanos,
                    firstCommittedAt.get(), r, failure));
        }
    }

    private long chunks(long bytes) {
        return (bytes + config.chunkBytes() - 1) / config.chunkBytes();
    }

    /** A save call refused before anything was written. */
    public void saveRefused(long step, CheckpointException refusal) {
        metrics.saveRefused(refusal.reason().name());
        LOG.warn("save of step {} refused: {}", step, refusal.getMessage());
    }

    private void firstTierDone(String tier, long step, long beganNanos, CommitReport r, Throwable failure) {
        long timeToCommit = System.nanoTime() - beganNanos;
        String reason = failure == null ? "" : reasonOf(failure);
        TierCommitEvent e = new TierCommitEvent();
        if (e.shouldCommit()) {
            e.fill(run, rank, tier, step, timeToCommit, reason, r);
            e.commit();
        }
        if (failure == null) {
            metrics.committed(tier, r, timeToCommit);
        } else {
            metrics.saveFailed(tier, reason);
        }
        log(step, failure, "step {} committed in tier {} {} us after the save call", "step {} did not commit in tier {}: {}",
                tier, timeToCommit);
    }

    private void promotionDone(String source, String tier, long step, long beganNanos, long firstCommittedAt,
                               CommitReport r, Throwable failure) {
        long now = System.nanoTime();
        long timeToCommit = now - beganNanos;
        long promotion = now - firstCommittedAt;
        long lag = Math.max(0, newestStep.get() - step);
        String reason = failure == null ? "" : reasonOf(failure);
        PromotionEvent e = new PromotionEvent();
        if (e.shouldCommit()) {
            e.fill(run, rank, tier, step, timeToCommit, reason, r);
            e.source = source;
            e.promotionTime = promotion;
            e.lagSteps = lag;
            e.commit();
        }
        if (failure == null) {
            metrics.promoted(tier, r, promotion, timeToCommit, lag);
        } else {
            metrics.saveFailed(tier, reason);
        }
        log(step, failure, "step {} promoted to tier {} {} us after the save call", "step {} was not promoted to tier {}: {}",
                tier, timeToCommit);
    }

    /** A restore returned {@code result} after starting at {@code beganNanos}. */
    public void restored(RestoreResult result, long beganNanos) {
        long took = System.nanoTime() - beganNanos;
        RestoreEvent e = new RestoreEvent();
        if (e.shouldCommit()) {
            e.run = run;
            e.rank = rank;
            e.step = result.step();
            e.tier = result.tier();
            e.restoreTime = took;
            long total = 0;
            StringBuilder byTier = new StringBuilder();
            for (Map.Entry<String, Long> t : result.bytesReadByTier().entrySet()) {
                total += t.getValue();
                byTier.append(byTier.length() == 0 ? "" : ",").append(t.getKey()).append('=').append(t.getValue());
            }
            e.bytesRead = total;
            e.bytesReadByTier = byTier.toString();
            e.chunksRepaired = result.chunksRepaired();
            e.failure = "";
            e.commit();
        }
        metrics.restored(result.tier(), took, result.bytesReadByTier(), result.chunksRepaired());
        LOG.info("restored step {} from tier {} in {} ms ({} chunks repaired from other tiers)", result.step(), result.tier(),
                took / 1_000_000, result.chunksRepaired());
    }

    /** A restore failed with {@code failure} after starting at {@code beganNanos}. */
    public void restoreFailed(Throwable failure, long beganNanos) {
        long took = System.nanoTime() - beganNanos;
        String reason = reasonOf(failure);
        RestoreEvent e = new RestoreEvent();
        if (e.shouldCommit()) {
            e.run = run;
            e.rank = rank;
            e.step = -1;
            e.tier = "";
            e.restoreTime = took;
            e.bytesReadByTier = "";
            e.failure = reason;
            e.commit();
        }
        metrics.restoreFailed(reason);
        LOG.warn("restore failed after {} ms: {}", took / 1_000_000, failure.getMessage());
    }

    /** A collection of one tier returned {@code report} after starting at {@code beganNanos}. */
    public void gcFinished(GcReport report, long beganNanos) {
        long took = System.nanoTime() - beganNanos;
        GcEvent e = new GcEvent();
        if (e.shouldCommit()) {
            e.run = run;
            e.rank = rank;
            e.tier = report.tier();
            e.dryRun = report.dryRun();
            e.gcTime = took;
            e.stepsRetired = report.stepsRetired().size();
            e.stepsAbandoned = report.stepsAbandoned().size();
            e.chunksDeleted = report.chunksDeleted();
            e.bytesFreed = report.bytesDeleted();
            e.commit();
        }
        metrics.collected(report.tier(), report, took);
        if (LOG.isDebugEnabled()) {
            try (LogContext c = LogContext.enter(run, rank, (String) null)) {
                LOG.debug("collected tier {}: {} steps retired, {} chunks ({} bytes) deleted{}", report.tier(),
                        report.stepsRetired().size(), report.chunksDeleted(), report.bytesDeleted(), report.dryRun() ? " (dry run)" : "");
            }
        }
    }

    private void sampleStaging() {
        StagingEvent e = new StagingEvent();
        if (e.shouldCommit()) {
            e.run = run;
            e.rank = rank;
            e.used = stagingUsed.getAsLong();
            e.limit = config.stagingBytes();
            e.commit();
        }
    }

    private void emitConfigured() {
        List<TierConfig> tiers = config.tiers();
        for (int i = 0; i < tiers.size(); i++) {
            TierConfiguredEvent e = new TierConfiguredEvent();
            if (!e.shouldCommit()) {
                return;
            }
            TierConfig t = tiers.get(i);
            e.run = run;
            e.rank = rank;
            e.worldSize = config.worldSize();
            e.tier = t.name();
            e.index = i;
            e.store = describe(t.store());
            e.everySteps = t.everySteps();
            e.keepLast = t.keepLast();
            e.compressionLevel = t.compressionLevel().orElse(config.compressionLevel());
            e.uncompressed = t.isUncompressed();
            e.chunkBytes = config.chunkBytes();
            e.stagingLimit = config.stagingBytes();
            e.commit();
        }
    }

    private static String describe(ObjectStore store) {
        try {
            return store.describe();
        } catch (RuntimeException e) {
            return store.getClass().getSimpleName();
        }
    }

    /** Commits complete on the tiers' threads: the MDC is set there only around the line logged. */
    private void log(long step, Throwable failure, String done, String failed, String tier, long nanos) {
        if (failure == null ? !LOG.isDebugEnabled() : !LOG.isWarnEnabled()) {
            return;
        }
        try (LogContext c = LogContext.enter(run, rank, step)) {
            if (failure == null) {
                LOG.debug(done, step, tier, nanos / 1000);
            } else {
                LOG.warn(failed, step, tier, failure.getMessage());
            }
        }
    }

    static String reasonOf(Throwable failure) {
        Throwable t = failure;
        while (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t instanceof CheckpointException c ? c.reason().name() : t.getClass().getSimpleName();
    }

    @Override
    public void close() {
        FlightRecorder.removePeriodicEvent(stagingSample);
        FlightRecorder.removePeriodicEvent(configuredSample);
        metrics.close();
    }
}
