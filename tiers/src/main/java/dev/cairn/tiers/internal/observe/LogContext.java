package dev.cairn.tiers.internal.observe;

import org.slf4j.MDC;

/**
 * {@code run}, {@code rank} and {@code step} in the SLF4J MDC for the duration of a save or restore call (or a
 * callback that logs about one), restoring whatever the thread had there before. Once per call, never per chunk.
 */
public final class LogContext implements AutoCloseable {
    public static final String RUN = "cairn.run";
    public static final String RANK = "cairn.rank";
    public static final String STEP = "cairn.step";

    private final String run;
    private final String rank;
    private final String step;

    private LogContext(String run, String rank, String step) {
        this.run = run;
        this.rank = rank;
        this.step = step;
    }

    /** Puts the three keys; {@code step} below 0 (a restore of the newest step) is written as "latest". */
    static LogContext enter(String run, int rank, long step) {
        return enter(run, rank, step < 0 ? "latest" : Long.toString(step));
    }

    /** Puts run and rank, and the step unless {@code step} is null (work about no one step, such as a collection). */
    static LogContext enter(String run, int rank, String step) {
        LogContext previous = new LogContext(MDC.get(RUN), MDC.get(RANK), MDC.get(STEP));
        MDC.put(RUN, run);
        MDC.put(RANK, Integer.toString(rank));
        restore(STEP, step);
        return previous;
    }

    /** Puts back what the thread had before {@link #enter}. */
    @Override
    public void close() {
        restore(RUN, run);
        restore(RANK, rank);
        restore(STEP, step);
    }

    private static void restore(String key, String value) {
        if (value == null) {
            MDC.remove(key);
        } else {
            MDC.put(key, value);
        }
    }
}
