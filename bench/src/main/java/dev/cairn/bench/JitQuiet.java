package dev.cairn.bench;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.function.LongSupplier;

/**
 * Decides when a warm-up has run long enough for the JIT to have compiled what the measured steps run: the
 * {@link CompilationMXBean}'s total compilation time, read once a step, grew by less than {@link #QUIET_SHARE} of
 * the wall time in each of the last {@link #QUIET_WINDOWS} windows (each at least {@link #WINDOW_NANOS} and at least
 * {@code windowSteps} steps, one after the other), after at least {@code minSteps} steps; at most {@code maxSteps} steps in any case. Where the
 * JVM does not report compilation time, every window counts as quiet.
 *
 * <p>Why: DJL's and PyTorch's JVM side and Cairn's save path keep being compiled for seconds after the first steps
 * (on the examples' MLP, 16.5 ms a step after 20 steps, 3.3-4.4 ms after 400; C2 compilations of 100 ms and more
 * until ~10 s into a run that saves every step), so a fixed, short warm-up compares a cold baseline with a warm run.
 */
final class JitQuiet {
    /** Compilation time over wall time below which a window counts as quiet. */
    static final double QUIET_SHARE = 0.02;
    /** Quiet windows in a row that end the warm-up: C2's queue drains in bursts, one lull is not enough. */
    static final int QUIET_WINDOWS = 2;
    static final long WINDOW_NANOS = 2_000_000_000L;

    private final LongSupplier clock;
    private final LongSupplier jit;
    private final int minSteps;
    private final int maxSteps;
    private final int windowSteps;
    private int steps;
    private long windowStart;
    private long windowJitMillis;
    private int windowStartStep;
    private boolean quiet;
    private int quietInARow;
    /** Per window: its steps, wall milliseconds and compilation milliseconds, for the record. */
    private final StringBuilder windows = new StringBuilder();

    /** On this JVM's clock and JIT. */
    JitQuiet(int minSteps, int maxSteps, int windowSteps) {
        this(minSteps, maxSteps, windowSteps, System::nanoTime, jvmCompilationMillis());
    }

    /**
     * @param clock nanoseconds
     * @param jit   total compilation time so far in milliseconds, -1 where unknown
     */
    JitQuiet(int minSteps, int maxSteps, int windowSteps, LongSupplier clock, LongSupplier jit) {
        if (minSteps < 1 || maxSteps < minSteps || windowSteps < 1) {
            throw new IllegalArgumentException("warm-up needs 1 <= min <= max steps and a window of >= 1 step, was "
                    + minSteps + ", " + maxSteps + ", " + windowSteps);
        }
        this.minSteps = minSteps;
        this.maxSteps = maxSteps;
        this.windowSteps = windowSteps;
        this.clock = clock;
        this.jit = jit;
        start();
    }

    private static LongSupplier jvmCompilationMillis() {
        CompilationMXBean bean = ManagementFactory.getCompilationMXBean();
        return bean != null && bean.isCompilationTimeMonitoringSupported() ? bean::getTotalCompilationTime : () -> -1;
    }

    /** Starts the first window now (the model is built, its first step comes). */
    void start() {
        windowStart = clock.getAsLong();
        windowJitMillis = jitMillis();
        windowStartStep = steps;
    }

    /** Counts one warm-up step done; true while more are needed. */
    boolean stepDone() {
        steps++;
        long now = clock.getAsLong();
        if (now - windowStart >= WINDOW_NANOS && steps - windowStartStep >= windowSteps) {
            long jitNow = jitMillis();
            quietInARow = (jitNow - windowJitMillis) * 1_000_000.0 < QUIET_SHARE * (now - windowStart) ? quietInARow + 1 : 0;
            quiet = quietInARow >= QUIET_WINDOWS;
            windows.append(windows.length() == 0 ? "" : ",").append(steps - windowStartStep).append('/')
                    .append((now - windowStart) / 1_000_000).append('/').append(jitNow - windowJitMillis);
            windowStart = now;
            windowJitMillis = jitNow;
            windowStartStep = steps;
        }
        return steps < maxSteps && (steps < minSteps || !quiet);
    }

    int steps() {
        return steps;
    }

    /** The windows so far as {@code steps/wall-ms/jit-ms,...}. */
    String windows() {
        return windows.toString();
    }

    /** Whether the last windows were quiet (false: the warm-up ended at its cap). */
    boolean quiet() {
        return quiet;
    }

    /** The JVM's total compilation time so far, in milliseconds (summed over the compiler threads); -1 if unknown. */
    long jitMillis() {
        return jit.getAsLong();
    }
}
