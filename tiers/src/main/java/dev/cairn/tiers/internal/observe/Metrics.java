package dev.cairn.tiers.internal.observe;

import dev.cairn.CommitReport;
import dev.cairn.GcReport;
import java.util.Map;

/**
 * Where {@link Telemetry} sends numbers besides Flight Recorder: nowhere ({@link #NONE}) or a Micrometer registry
 * ({@code observe.micrometer.MicrometerMetrics}, loaded by name). Tiers are named; run and rank are fixed per
 * instance. Called off the training thread except {@link #saved} and {@link #saveRefused}.
 */
public interface Metrics extends AutoCloseable {
    /** A save call returned after {@code stallNanos}; {@code firstTier} is the fastest tier the step goes to. */
    void saved(String firstTier, long stallNanos);

    /** A save call that no tier takes (its step matches no tier's everySteps). */
    void saveSkipped(String reason);

    /** A save call refused before anything was written (bad input, a conflict, closed). */
    void saveRefused(String reason);

    /** The save failed in {@code tier} (its commit, or its promotion there). */
    void saveFailed(String tier, String reason);

    void committed(String tier, CommitReport report, long timeToCommitNanos);

    void promoted(String tier, CommitReport report, long promotionNanos, long timeToCommitNanos, long lagSteps);

    void restored(String tier, long restoreNanos, Map<String, Long> bytesReadByTier, int chunksRepaired);

    void restoreFailed(String reason);

    void collected(String tier, GcReport report, long gcNanos);

    /** Removes the meters that read live state (gauges, the stores' counts); counters and timers stay. */
    @Override
    void close();

    /** Keeps nothing. */
    Metrics NONE = new Metrics() {
        @Override
        public void saved(String firstTier, long stallNanos) {
        }

        @Override
        public void saveSkipped(String reason) {
        }

        @Override
        public void saveRefused(String reason) {
        }

        @Override
        public void saveFailed(String tier, String reason) {
        }

        @Override
        public void committed(String tier, CommitReport report, long timeToCommitNanos) {
        }

        @Override
        public void promoted(String tier, CommitReport report, long promotionNanos, long timeToCommitNanos, long lagSteps) {
        }

        @Override
        public void restored(String tier, long restoreNanos, Map<String, Long> bytesReadByTier, int chunksRepaired) {
        }

        @Override
        public void restoreFailed(String reason) {
        }

        @Override
        public void collected(String tier, GcReport report, long gcNanos) {
        }

        @Override
        public void close() {
        }
    };
}
