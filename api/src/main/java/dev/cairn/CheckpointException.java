package dev.cairn;

/**
 * The one exception Cairn throws. Its {@link Reason} says what went wrong and whether trying again may help;
 * the message names the offending thing (a tensor, a key, a step, a tier).
 */
public final class CheckpointException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong. */
    public enum Reason {
        /** The caller's state or request is malformed: nothing was written. */
        INVALID_INPUT(false),
        /** The configuration is inconsistent: nothing was started. */
        INVALID_CONFIG(false),
        /** No committed checkpoint matches the request. */
        NOT_FOUND(false),
        /** Stored bytes fail verification (hash, framing, manifest) and no tier holds a good copy. */
        CORRUPT(false),
        /** The checkpoint was written by a newer format than this library reads. */
        UNSUPPORTED_VERSION(false),
        /** A storage call failed; the checkpoint may succeed when tried again. */
        STORAGE(true),
        /** A deadline passed before the operation finished. */
        TIMEOUT(true),
        /** The checkpointer was closed, or the save was cancelled by close. */
        CLOSED(false),
        /** A step was saved twice, or a step older than a committed one was saved. */
        CONFLICT(false);

        private final boolean retryable;

        Reason(boolean retryable) {
            this.retryable = retryable;
        }

        /** Whether the same call may succeed later without any change by the caller. */
        public boolean retryable() {
            return retryable;
        }
    }

    private final Reason reason;

    public CheckpointException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public CheckpointException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    public boolean retryable() {
        return reason.retryable();
    }

    @Override
    public String getMessage() {
        return reason + ": " + super.getMessage();
    }
}
