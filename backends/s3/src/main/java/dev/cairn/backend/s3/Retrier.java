package dev.cairn.backend.s3;

import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;

/**
 * Runs one S3 request until it succeeds, fails for good, runs out of attempts or reaches its deadline, waiting a
 * full-jitter exponential backoff between attempts. The returned future always completes, at the latest at the
 * deadline (with a {@link TimeoutException} whose cause is the last failure, if any); cancelling it cancels the
 * attempt in flight.
 *
 * <p><b>Throttling.</b> An attempt S3 refuses to slow the client down ({@link S3Failures#isThrottle}: 503 SlowDown,
 * 429) does not count against the attempt budget: it is retried, with the same backoff (growing to the maximum
 * backoff, then uniform in [0, max]), until it is served or the call's deadline passes. AWS documents SlowDown as
 * "reduce your request rate" and its SDKs retry it with backoff; the refused request was not served, S3 raises a busy
 * prefix's rate by partitioning it over time, and the rate a prefix serves (3,500 PUT/COPY/POST/DELETE and 5,500
 * GET/HEAD a second) is shared by every client of the prefix. A fixed number of attempts fails the callers of a burst
 * that needs longer than those attempts' backoffs to drain: 5,000 ranks that restore together read ~38,000 objects of
 * one step's prefix, about 7 s of its GET/HEAD rate, and 6 attempts wait at most 1.55 s in sum (5 backoffs of at
 * most 50 to 800 ms; issue 15). Jittered retries spread the burst over the seconds that serve it; the deadline still
 * bounds the call. Other retryable
 * failures (resets, timeouts, 5xx) keep the budget of {@link S3StoreConfig#maxAttempts}: a server that keeps failing
 * them is broken, not busy. The engine's restoring ranks also pace their reads of a step's metadata by rank
 * ({@code RestorePacing} in the tiers module), so that a restore of many ranks sends no burst over the prefix's rate
 * in the first place; retrying here is what remains for every other caller of the store, for other clients of the
 * bucket that share the prefix, and for a prefix that serves less than its published rate.
 */
final class Retrier {
    private final ScheduledExecutorService timer;
    private final long attemptTimeoutNanos;
    private final int maxAttempts;
    private final long baseBackoffNanos;
    private final long maxBackoffNanos;
    /** Runs whose result is not complete yet: {@link #close} fails them. */
    private final java.util.Set<Run<?>> pending = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Why every run fails from now on ({@link #close}), or null while open. */
    private volatile Throwable closed;

    Retrier(S3StoreConfig config, ScheduledExecutorService timer) {
        this.timer = timer;
        this.attemptTimeoutNanos = config.attemptTimeout().toNanos();
        this.maxAttempts = config.maxAttempts();
        this.baseBackoffNanos = config.baseBackoff().toNanos();
        this.maxBackoffNanos = config.maxBackoff().toNanos();
    }

    /**
     * Runs {@code attempt}, which starts one request bounded by the timeout it is given, until done.
     *
     * @param deadlineNanos the {@link System#nanoTime} by which the returned future completes
     */
    <T> CompletableFuture<T> call(long deadlineNanos, Function<Duration, CompletableFuture<T>> attempt) {
        Run<T> run = new Run<>(deadlineNanos, attempt);
        pending.add(run);
        run.result.whenComplete((value, failure) -> pending.remove(run));
        Throwable why = closed; // read after the add: a close either sees this run or is seen here
        if (why != null) {
            run.result.completeExceptionally(why);
            return run.result;
        }
        if (Thread.currentThread().isInterrupted()) {
            // The first attempt starts on this thread, and the SDK refuses a request started on an interrupted thread
            // with a non-retryable error, clearing the interrupt: its caller would get a plain failure and no longer
            // know it was told to stop. Refused here instead, nothing sent, the interrupt kept (as Java's
            // interruptible channels do); the store reports it as an InterruptedIOException.
            run.result.completeExceptionally(new InterruptedIOException("the calling thread was interrupted; nothing was sent"));
            return run.result;
        }
        run.start();
        return run.result;
    }

    /**
     * Fails every run not complete yet with {@code why}, and every later one at once: a run waiting in its backoff
     * would otherwise wait for a timer that no longer runs, and its caller until its guard. Cancels their attempts in
     * flight.
     */
    void close(Throwable why) {
        closed = why;
        for (Run<?> run : pending) {
            run.result.completeExceptionally(why);
        }
    }

    /**
     * Runs {@code task} on the timer's thread, or here once the timer no longer runs (the store closed). For work that
     * starts a request and must not run on whatever thread happens to complete a future: that may be a caller's, and
     * a caller's thread may be interrupted at any time, and the SDK refuses a request started on an interrupted
     * thread before it is sent (its ApplyTransactionIdStage throws SdkInterruptedException, clearing the interrupt).
     */
    void runOnTimer(Runnable task) {
        try {
            timer.execute(task);
        } catch (java.util.concurrent.RejectedExecutionException shutDown) {
            task.run();
        }
    }

    /** The backoff before attempt {@code attempt + 1}: uniform in [0, min(max, base * 2^(attempt - 1))]. */
    long backoffNanos(int attempt) {
        long ceiling = baseBackoffNanos << Math.min(attempt - 1, 30);
        if (ceiling <= 0 || ceiling > maxBackoffNanos) {
            ceiling = maxBackoffNanos;
        }
        return ThreadLocalRandom.current().nextLong(ceiling + 1);
    }

    private final class Run<T> {
        final CompletableFuture<T> result = new CompletableFuture<>();
        final long deadlineNanos;
        final Function<Duration, CompletableFuture<T>> attempt;
        volatile CompletableFuture<T> current;
        volatile Throwable lastFailure;
        volatile ScheduledFuture<?> expiry;
        int attempts;
        /** Attempts refused by throttling, which the attempt budget does not count. */
        int throttled;
        volatile boolean expired;

        Run(long deadlineNanos, Function<Duration, CompletableFuture<T>> attempt) {
            this.deadlineNanos = deadlineNanos;
            this.attempt = attempt;
        }

        void start() {
            long remaining = deadlineNanos - System.nanoTime();
            if (remaining <= 0) {
                expire();
                return;
            }
            expiry = timer.schedule(this::expire, remaining, TimeUnit.NANOSECONDS);
            result.whenComplete((value, failure) -> {
                expiry.cancel(false);
                CompletableFuture<T> inFlight = current;
                if (inFlight != null && !inFlight.isDone()) {
                    inFlight.cancel(true);
                }
            });
            next();
        }

        void next() {
            if (result.isDone()) {
                return;
            }
            long remaining = deadlineNanos - System.nanoTime();
            if (remaining <= 0) {
                expire();
                return;
            }
            attempts++;
            boolean cutByDeadline = remaining < attemptTimeoutNanos;
            CompletableFuture<T> started;
            try {
                started = attempt.apply(Duration.ofNanos(Math.min(attemptTimeoutNanos, remaining)));
            } catch (RuntimeException e) {
                started = CompletableFuture.failedFuture(e);
            }
            current = started;
            if (result.isDone()) {
                started.cancel(true);
                return;
            }
            started.whenComplete((value, failure) -> onAttempt(value, failure, cutByDeadline));
        }

        void onAttempt(T value, Throwable failure, boolean cutByDeadline) {
            if (expired) {
                return; // the deadline won; this is the attempt it cancelled
            }
            if (failure == null) {
                result.complete(value);
                return;
            }
            Throwable cause = S3Failures.unwrap(failure);
            if (cutByDeadline && cause instanceof ApiCallAttemptTimeoutException) {
                // The attempt had only what was left of the deadline, and the deadline ended it (the SDK's timer ran
                // just before ours): the failure to report is the last one a server gave, not this cut.
                expire();
                return;
            }
            lastFailure = cause;
            if (result.isDone()) {
                return;
            }
            if (S3Failures.isThrottle(cause)) {
                throttled++;
            } else if (attempts - throttled >= maxAttempts || !S3Failures.isRetryable(cause)) {
                result.completeExceptionally(cause);
                return;
            }
            long backoff = backoffNanos(attempts);
            if (System.nanoTime() + backoff >= deadlineNanos) {
                expire();
                return;
            }
            try {
                timer.schedule(this::next, backoff, TimeUnit.NANOSECONDS);
            } catch (RuntimeException rejected) { // the store closed while we waited
                result.completeExceptionally(cause);
            }
        }

        void expire() {
            if (result.isDone()) {
                return;
            }
            TimeoutException timeout = new TimeoutException("deadline passed after " + attempts + " attempt"
                    + (attempts == 1 ? "" : "s"));
            Throwable last = lastFailure;
            if (last != null) {
                timeout.initCause(last);
            }
            // Cancel the attempt before completing: whoever waits on the result may look at it at once.
            expired = true;
            CompletableFuture<T> inFlight = current;
            if (inFlight != null && !inFlight.isDone()) {
                inFlight.cancel(true);
            }
            result.completeExceptionally(timeout);
        }
    }
}
