package dev.cairn;

/**
 * What {@link Checkpointer#save} does when it is called while the engine is still persisting an earlier save into
 * that save's first tier (encoding it and writing its chunks; promotions to slower tiers do not count). Set with
 * {@link CairnConfig.Builder#whenBusy}.
 */
public enum WhenBusy {
    /**
     * The save is taken: {@code save()} copies the state into staging, waiting while staging is full. Every step the
     * tiers' intervals name is checkpointed; training waits when it saves faster than the engine persists.
     */
    WAIT,
    /**
     * The save is skipped: {@code save()} returns at once a handle whose {@link CheckpointHandle#skipped()} gives the
     * reason, that names no tier and whose futures are already complete; nothing is copied or stored, and the skip is
     * counted ({@code cairn.save.skipped}, reason {@code busy}). A later step is taken instead, as soon as the earlier
     * save is in its first tier. Training is never held by persistence.
     */
    SKIP
}
