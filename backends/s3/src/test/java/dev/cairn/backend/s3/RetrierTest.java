package dev.cairn.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.SocketException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.services.s3.model.S3Exception;

class RetrierTest {
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

    @AfterEach
    void stopTimer() {
        timer.shutdownNow();
    }

    private Retrier retrier(int attempts) {
        return new Retrier(S3StoreConfig.builder("bucket").retries(attempts, Duration.ofMillis(10), Duration.ofMillis(80))
                .attemptTimeout(Duration.ofMillis(200)).build(), timer);
    }

    @Test
    void aCallThatNeverAnswersCompletesWithATimeoutAtItsDeadlineAndIsCancelled() throws Exception {
        CompletableFuture<String> hanging = new CompletableFuture<>();
        long start = System.nanoTime();
        CompletableFuture<String> call = retrier(5).call(start + TimeUnit.MILLISECONDS.toNanos(300), timeout -> hanging);

        ExecutionException failed = assertThrows(ExecutionException.class, () -> call.get(30, TimeUnit.SECONDS));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertInstanceOf(TimeoutException.class, failed.getCause());
        // Not before the deadline; the upper bound only proves it does not hang (the machine may be loaded).
        assertTrue(millis >= 290 && millis < 20_000, millis + " ms");
        assertTrue(hanging.isCancelled(), "the attempt in flight is cancelled");
    }

    @Test
    void eachAttemptIsGivenAtMostTheTimeLeft() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        Duration[] given = new Duration[1];
        retrier(1).call(deadline, timeout -> {
            given[0] = timeout;
            return CompletableFuture.completedFuture("ok");
        }).get();
        assertTrue(given[0].toMillis() <= 5_000 && !given[0].isNegative(), given[0].toString());
    }

    @Test
    void retryableFailuresAreRetriedUntilSuccessAndOthersAreNot() throws Exception {
        AtomicInteger attempts = new AtomicInteger();
        String result = retrier(5).call(System.nanoTime() + TimeUnit.SECONDS.toNanos(10), timeout ->
                attempts.incrementAndGet() < 3
                        ? CompletableFuture.failedFuture(new SocketException("Connection reset"))
                        : CompletableFuture.completedFuture("ok")).get();
        assertEquals("ok", result);
        assertEquals(3, attempts.get());

        AtomicInteger denied = new AtomicInteger();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> retrier(5).call(
                System.nanoTime() + TimeUnit.SECONDS.toNanos(10), timeout -> {
                    denied.incrementAndGet();
                    return CompletableFuture.failedFuture(status(403, "AccessDenied"));
                }).get());
        assertEquals(1, denied.get());
        assertEquals(403, S3Failures.status(failed.getCause()));
    }

    @Test
    void slowDownIsRetriedBeyondTheAttemptBudgetUntilServed() throws Exception {
        // 3 attempts would give up on the third SlowDown; a refused request was not served, so it is retried.
        AtomicInteger attempts = new AtomicInteger();
        String result = retrier(3).call(System.nanoTime() + TimeUnit.SECONDS.toNanos(60), timeout ->
                attempts.incrementAndGet() <= 12
                        ? CompletableFuture.failedFuture(attempts.get() % 2 == 0 ? status(503, "SlowDown")
                                : status(429, "TooManyRequests"))
                        : CompletableFuture.completedFuture("ok")).get(60, TimeUnit.SECONDS);
        assertEquals("ok", result);
        assertEquals(13, attempts.get());
    }

    @Test
    void throttledAttemptsDoNotCountAgainstTheBudgetOfOtherFailures() {
        // 5 SlowDowns, then resets forever: the budget of 2 counts the resets only.
        AtomicInteger attempts = new AtomicInteger();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> retrier(2).call(
                System.nanoTime() + TimeUnit.SECONDS.toNanos(60), timeout -> CompletableFuture.failedFuture(
                        attempts.incrementAndGet() <= 5 ? status(503, "SlowDown") : new SocketException("reset")))
                .get(60, TimeUnit.SECONDS));
        assertInstanceOf(SocketException.class, failed.getCause());
        assertEquals(7, attempts.get());
        assertTrue(S3Failures.isThrottle(status(503, "SlowDown")));
        assertTrue(!S3Failures.isThrottle(status(503, "ServiceUnavailable")));
        assertTrue(!S3Failures.isThrottle(new SocketException("reset")));
    }

    @Test
    void persistentSlowDownFailsAtTheDeadlineWithTheLastSlowDown() {
        AtomicInteger attempts = new AtomicInteger();
        long start = System.nanoTime();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> retrier(2).call(
                start + TimeUnit.MILLISECONDS.toNanos(500), timeout -> {
                    attempts.incrementAndGet();
                    return CompletableFuture.failedFuture(status(503, "SlowDown"));
                }).get(30, TimeUnit.SECONDS));
        assertInstanceOf(TimeoutException.class, failed.getCause());
        assertEquals(503, S3Failures.status(failed.getCause().getCause()));
        assertTrue(attempts.get() > 2, attempts + " attempts");
        // Not before the deadline: a SlowDown never ends the call early (the upper bound only proves it ends).
        assertTrue((System.nanoTime() - start) / 1_000_000 >= 400, "ended before the deadline");
    }

    /**
     * The last attempt before the deadline is given only what is left of it, and the SDK may end that attempt (its own
     * timer) just before the deadline's timer fires. That cut is not the server's answer: the call still fails at the
     * deadline, with the last SlowDown. Before, the cut became the last failure, or, counted against the budget of
     * other failures, ended the call with it instead of the deadline (S3ObjectStoreTest's throttling test failed so
     * once on a loaded machine: "timeout configuration: 2 millis").
     */
    @Test
    void anAttemptCutShortByTheDeadlineIsNotTheFailureReported() {
        AtomicInteger cut = new AtomicInteger();
        ExecutionException failed = assertThrows(ExecutionException.class, () -> retrier(2).call(
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500), timeout -> {
                    if (timeout.toMillis() < 200) { // given less than the attempt timeout: the deadline's last slice
                        cut.incrementAndGet();
                        return CompletableFuture.failedFuture(software.amazon.awssdk.core.exception
                                .ApiCallAttemptTimeoutException.builder().message("cut at " + timeout).build());
                    }
                    return CompletableFuture.failedFuture(status(503, "SlowDown"));
                }).get(30, TimeUnit.SECONDS));
        assertTrue(cut.get() > 0, "the deadline's last slice was tried");
        assertInstanceOf(TimeoutException.class, failed.getCause(), "the deadline ended it");
        assertEquals(503, S3Failures.status(failed.getCause().getCause()), "with the last answer a server gave");
    }

    @Test
    void throttlingServerErrorsAndTimeoutsAreRetryableButClientErrorsAreNot() {
        assertTrue(S3Failures.isRetryable(status(503, "SlowDown")));
        assertTrue(S3Failures.isRetryable(status(500, "InternalError")));
        assertTrue(S3Failures.isRetryable(status(429, "TooManyRequests")));
        assertTrue(S3Failures.isRetryable(status(400, "RequestTimeout")));
        assertTrue(S3Failures.isRetryable(new IOException("reset")));
        assertTrue(S3Failures.isRetryable(new TimeoutException()));
        assertTrue(!S3Failures.isRetryable(status(404, "NoSuchKey")));
        assertTrue(!S3Failures.isRetryable(status(412, "PreconditionFailed")));
        assertTrue(!S3Failures.isRetryable(status(501, "NotImplemented")));
    }

    @Test
    void fullJitterBackoffStaysUnderItsExponentialCeilingAndTheCap() {
        Retrier retrier = retrier(10);
        for (int attempt = 1; attempt < 40; attempt++) {
            long ceiling = Math.min(TimeUnit.MILLISECONDS.toNanos(80), TimeUnit.MILLISECONDS.toNanos(10) << Math.min(attempt - 1, 30));
            for (int i = 0; i < 50; i++) {
                long backoff = retrier.backoffNanos(attempt);
                assertTrue(backoff >= 0 && backoff <= ceiling, attempt + ": " + backoff);
            }
        }
    }

    private static S3Exception status(int status, String code) {
        return (S3Exception) S3Exception.builder().statusCode(status)
                .awsErrorDetails(AwsErrorDetails.builder().errorCode(code).build()).build();
    }
}
