package dev.cairn;

/** How {@link Checkpointer#save} takes the caller's bytes. */
public enum SaveMode {
    /** Copy into staging memory before returning: the caller may change its buffers as soon as save returns. */
    COPY,
    /**
     * Read the caller's buffers in place: save returns at once, and the caller promises not to change them until
     * {@link CheckpointHandle#captured()} completes.
     */
    ZERO_COPY
}
