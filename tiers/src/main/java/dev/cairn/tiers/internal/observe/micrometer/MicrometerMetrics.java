package dev.cairn.tiers.internal.observe.micrometer;

import dev.cairn.CairnConfig;
import dev.cairn.CommitReport;
import dev.cairn.GcReport;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.tiers.internal.observe.Metrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The engine's meters on a Micrometer registry, tagged {@code run}, {@code rank} and {@code tier} (plus
 * {@code reason} on failures) and never by step or chunk, so their number stays fixed for a run. Loaded by name from
 * {@code Telemetry}; the only class of the engine that links Micrometer. The README's metrics table lists every meter.
 */
public final class MicrometerMetrics implements Metrics {
    static final double[] PERCENTILES = {0.5, 0.9, 0.99};

    private final MeterRegistry registry;
    private final Tags base;
    /** Meters that read live state of the checkpointer: removed at close so the registry does not hold it. */
    private final List<Meter> live = new ArrayList<>();

    /**
     * @param registry    a {@link MeterRegistry} ({@code Object} in the configuration, whose builder checked the type)
     * @param stagingUsed bytes of staging in use now
     */
    public MicrometerMetrics(Object registry, CairnConfig config, LongSupplier stagingUsed) {
        this.registry = (MeterRegistry) registry;
        this.base = Tags.of("run", config.run(), "rank", Integer.toString(config.rank()));
        live.add(Gauge.builder("cairn.staging.used", stagingUsed, s -> (double) s.getAsLong()).baseUnit("bytes")
                .description("Staging memory in use: chunks captured and not yet written").tags(base).register(this.registry));
        live.add(Gauge.builder("cairn.staging.limit", config, c -> (double) c.stagingBytes()).baseUnit("bytes")
                .description("Staging memory limit").tags(base).register(this.registry));
        for (TierConfig t : config.tiers()) {
            bindStore(t.name(), t.store());
        }
    }

    /** A store's own counts (the peer tier's replication) as {@code cairn.store.<name>}, tagged by its tier. */
    private void bindStore(String tier, ObjectStore store) {
        Tags tags = tags(tier);
        for (String name : store.counters().keySet()) {
            live.add(FunctionCounter.builder("cairn.store." + name, store, s -> s.counters().getOrDefault(name, 0L))
                    .description("Counted by the tier's store").tags(tags).register(registry));
        }
        for (String name : store.gauges().keySet()) {
            live.add(Gauge.builder("cairn.store." + name, store, s -> s.gauges().getOrDefault(name, 0L))
                    .description("Reported by the tier's store").tags(tags).register(registry));
        }
    }

    private Tags tags(String tier) {
        return base.and("tier", tier);
    }

    private Timer timer(String name, String description, String tier) {
        return Timer.builder(name).description(description).publishPercentiles(PERCENTILES).publishPercentileHistogram()
                .tags(tags(tier)).register(registry);
    }

    private Counter counter(String name, String unit, String description, Tags tags) {
        return Counter.builder(name).baseUnit(unit).description(description).tags(tags).register(registry);
    }

    @Override
    public void saved(String firstTier, long stallNanos) {
        timer("cairn.save.stall", "Time a save call blocked the caller (tier: the fastest tier of the step)", firstTier)
                .record(stallNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void saveSkipped(String reason) {
        counter("cairn.save.skipped", null, "Save calls that stored nothing", base.and("reason", reason)).increment();
    }

    @Override
    public void saveRefused(String reason) {
        counter("cairn.save.refused", null, "Save calls refused before anything was written", base.and("reason", reason))
                .increment();
    }

    @Override
    public void saveFailed(String tier, String reason) {
        counter("cairn.save.failed", null, "Saves that did not commit in a tier", tags(tier).and("reason", reason)).increment();
    }

    @Override
    public void committed(String tier, CommitReport report, long timeToCommitNanos) {
        timer("cairn.commit.time", "From the save call to the commit in this tier", tier)
                .record(timeToCommitNanos, TimeUnit.NANOSECONDS);
        bytes(tier, report);
    }

    @Override
    public void promoted(String tier, CommitReport report, long promotionNanos, long timeToCommitNanos, long lagSteps) {
        timer("cairn.commit.time", "From the save call to the commit in this tier", tier)
                .record(timeToCommitNanos, TimeUnit.NANOSECONDS);
        timer("cairn.promotion.time", "From the commit in the first tier to the commit in this one", tier)
                .record(promotionNanos, TimeUnit.NANOSECONDS);
        DistributionSummary.builder("cairn.promotion.lag").baseUnit("steps")
                .description("Newest step saved when a promotion to this tier committed, minus the promoted step")
                .publishPercentiles(PERCENTILES).tags(tags(tier)).register(registry).record(lagSteps);
        bytes(tier, report);
    }

    private void bytes(String tier, CommitReport r) {
        Tags tags = tags(tier);
        counter("cairn.commit.count", null, "Checkpoints committed in this tier", tags).increment();
        counter("cairn.bytes.raw", "bytes", "Bytes of the states committed", tags).increment(r.rawBytes());
        counter("cairn.bytes.stored", "bytes", "Bytes, as stored, of every chunk the committed checkpoints reference", tags)
                .increment(r.storedBytes());
        counter("cairn.bytes.written", "bytes", "Bytes the commits wrote: new chunks, indexes and manifests", tags)
                .increment(r.bytesWritten());
        counter("cairn.bytes.deduplicated", "bytes",
                "Stored bytes of referenced chunks the tier already held, so not written again", tags)
                .increment(Math.max(0, r.storedBytes() - r.bytesWritten()));
        counter("cairn.chunks.written", null, "Chunks the commits wrote", tags).increment(r.chunksWritten());
        counter("cairn.chunks.deduplicated", null, "Chunks the commits referenced and did not write", tags)
                .increment(Math.max(0, r.chunks() - r.chunksWritten()));
    }

    @Override
    public void restored(String tier, long restoreNanos, Map<String, Long> bytesReadByTier, int chunksRepaired) {
        timer("cairn.restore.time", "Restore calls, by the tier whose manifest they used", tier)
                .record(restoreNanos, TimeUnit.NANOSECONDS);
        for (Map.Entry<String, Long> e : bytesReadByTier.entrySet()) {
            counter("cairn.restore.bytes", "bytes", "Bytes restores read, by the tier they came from", tags(e.getKey()))
                    .increment(e.getValue());
        }
        counter("cairn.restore.chunks.repaired", null, "Chunks read from another tier because the chosen one's copy was"
                + " missing or bad (tier: the chosen tier)", tags(tier)).increment(chunksRepaired);
    }

    @Override
    public void restoreFailed(String reason) {
        counter("cairn.restore.failed", null, "Restore calls that failed", base.and("reason", reason)).increment();
    }

    @Override
    public void collected(String tier, GcReport report, long gcNanos) {
        if (report.dryRun()) {
            return;
        }
        Tags tags = tags(tier);
        timer("cairn.gc.time", "Garbage collections of this tier", tier).record(gcNanos, TimeUnit.NANOSECONDS);
        counter("cairn.gc.bytes.freed", "bytes", "Bytes of chunks collections deleted", tags).increment(report.bytesDeleted());
        counter("cairn.gc.chunks.deleted", null, "Chunks collections deleted", tags).increment(report.chunksDeleted());
        counter("cairn.gc.steps.retired", null, "Committed steps retention dropped", tags)
                .increment(report.stepsRetired().size());
    }

    @Override
    public void close() {
        for (Meter m : live) {
            registry.remove(m);
        }
        live.clear();
    }
}
