package dev.cairn.backend.s3;

import dev.cairn.ObjectKeys;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.NoSuchFileException;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;

/**
 * Which failures are worth another attempt, and the {@link IOException} a caller sees. Messages carry the
 * operation, the key, the store and the HTTP status and S3 error code; never credentials, signatures or URLs
 * with query strings (the SDK's own exception stays attached as the cause, and its messages hold none of those).
 */
final class S3Failures {
    /** S3 error codes that mean "slow down" or "try again", whatever the status. */
    private static final Set<String> RETRYABLE_CODES = Set.of("SlowDown", "Throttling", "ThrottlingException",
            "RequestLimitExceeded", "RequestThrottled", "TooManyRequestsException", "RequestTimeout",
            "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted",
            "ConditionalRequestConflict");

    /**
     * S3 error codes that ask the client to lower its request rate: the request was refused unserved, and AWS's answer
     * is "back off and retry" (S3's per-prefix rates, 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD a second, are
     * raised by partitioning a busy prefix over time, so the same request succeeds later).
     */
    private static final Set<String> THROTTLE_CODES = Set.of("SlowDown", "Throttling", "ThrottlingException",
            "RequestLimitExceeded", "RequestThrottled", "TooManyRequestsException");

    private S3Failures() {
    }

    static Throwable unwrap(Throwable failure) {
        Throwable t = failure;
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    static boolean isRetryable(Throwable failure) {
        Throwable t = unwrap(failure);
        if (t instanceof AwsServiceException service) {
            int status = service.statusCode();
            String code = service.awsErrorDetails() == null ? null : service.awsErrorDetails().errorCode();
            return status == 429 || status == 408 || (status >= 500 && status != 501)
                    || (code != null && RETRYABLE_CODES.contains(code));
        }
        if (t instanceof ApiCallAttemptTimeoutException || t instanceof TimeoutException || t instanceof IOException) {
            return true;
        }
        if (t instanceof SdkClientException client) {
            return client.retryable() || hasIoOrTimeoutCause(client);
        }
        return t instanceof SdkException sdk && sdk.retryable();
    }

    /**
     * Whether S3 refused the request to slow the client down (503 SlowDown, 429, or a throttling error code): the
     * request was not served, and waiting is the whole remedy, so {@link Retrier} retries it up to the call's
     * deadline rather than within its attempt budget.
     */
    static boolean isThrottle(Throwable failure) {
        if (unwrap(failure) instanceof AwsServiceException service) {
            String code = service.awsErrorDetails() == null ? null : service.awsErrorDetails().errorCode();
            return service.statusCode() == 429 || (code != null && THROTTLE_CODES.contains(code));
        }
        return false;
    }

    /** HTTP status of a service failure, or 0 when the request got no answer. */
    static int status(Throwable failure) {
        return unwrap(failure) instanceof AwsServiceException service ? service.statusCode() : 0;
    }

    /** The failure of {@code operation} on {@code key}, as callers of the store see it. */
    static IOException toIOException(String operation, String key, String where, Throwable failure) {
        Throwable t = unwrap(failure);
        String subject = operation + " '" + ObjectKeys.printable(key) + "' in " + where;
        if (t instanceof AwsServiceException service) {
            if (service.statusCode() == 404 && !"NoSuchBucket".equals(errorCode(service))) {
                NoSuchFileException missing = new NoSuchFileException(key, null, "no such object in " + where);
                missing.initCause(t);
                return missing;
            }
            return new IOException(subject + " failed: " + describe(service), t);
        }
        if (t instanceof InterruptedIOException && !(t instanceof java.net.SocketTimeoutException)) { // Retrier.call's refusal
            InterruptedIOException interrupted = new InterruptedIOException(subject + " was not sent: "
                    + t.getMessage());
            interrupted.initCause(t);
            return interrupted;
        }
        if (t instanceof TimeoutException timeout) {
            Throwable last = timeout.getCause();
            return new IOException(subject + " failed: " + timeout.getMessage()
                    + (last == null ? "" : "; last failure: " + summary(last)), timeout);
        }
        return new IOException(subject + " failed: " + summary(t), t);
    }

    private static String summary(Throwable t) {
        if (t instanceof AwsServiceException service) {
            return describe(service);
        }
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String type = root.getClass().getSimpleName();
        return root.getMessage() == null ? type : type + ": " + firstLine(root.getMessage());
    }

    private static String describe(AwsServiceException service) {
        String code = errorCode(service);
        String requestId = service.requestId();
        return "HTTP " + service.statusCode() + (code == null ? "" : " " + code)
                + (requestId == null ? "" : " (request id " + requestId + ")");
    }

    private static String errorCode(AwsServiceException service) {
        return service.awsErrorDetails() == null ? null : service.awsErrorDetails().errorCode();
    }

    private static boolean hasIoOrTimeoutCause(Throwable t) {
        for (Throwable c = t.getCause(); c != null && c != t; t = c, c = c.getCause()) {
            if (c instanceof IOException || c instanceof TimeoutException
                    || c.getClass().getSimpleName().contains("Timeout")) {
                return true;
            }
        }
        return false;
    }

    private static String firstLine(String message) {
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }
}
