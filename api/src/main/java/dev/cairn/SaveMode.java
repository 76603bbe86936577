package dev.cairn;

/** How {@link Checkpointer#save} takes the caller's bytes. */
public enum SaveMode {
    /** Copy into staging memory before returning: the caller may change its buffers as soon as save returns. */
    COPY,
    /**
     * Save returns without copying (it waits only for an earlier ZERO_COPY save's capture still running), and the
     * caller promises not to change its buffers until {@link CheckpointHandle#captured()} completes: an engine thread
     * copies them into staging as COPY does on the caller's, and completes {@code captured()} after the last chunk
     * (when staging is smaller than the state, as the encoders free it). A save that fails completes {@code
     * captured()} normally once its buffers are read no more; its other futures carry the failure. For a
     * framework that saves right after an update and lets the next forward and backward pass run meanwhile, waiting
     * for {@code captured()} before the next update.
     */
    ZERO_COPY
}
