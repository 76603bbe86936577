package dev.cairn.backend.s3;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Runs one S3 request until it succeeds, fails for good, runs out of attempts or reaches its deadline, waiting a
 * full-jitter exponential backoff between attempts. The returned future always completes, at the latest at the
 * deadline (with a {@link TimeoutException} whose cause is the last failure, if any); cancelling it cancels the
 * attempt in flight.
 */
final class Retrier {
    private final ScheduledExecutorService timer;
    private final long attemptTimeoutNanos;
    private final int maxAttempts;
    private final long baseBackoffNanos;
    private final long maxBackoffNanos;

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
        run.start();
        return run.result;
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
            started.whenComplete(this::onAttempt);
        }

        void onAttempt(T value, Throwable failure) {
            if (expired) {
                return; // the deadline won; this is the attempt it cancelled
            }
            if (failure == null) {
                result.complete(value);
                return;
            }
            Throwable cause = S3Failures.unwrap(failure);
            lastFailure = cause;
            if (result.isDone()) {
                return;
            }
            if (attempts >= maxAttempts || !S3Failures.isRetryable(cause)) {
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
