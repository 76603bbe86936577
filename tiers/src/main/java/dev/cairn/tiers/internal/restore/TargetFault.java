package dev.cairn.tiers.internal.restore;

import dev.cairn.MappedFaults;

/**
 * A restore's copy into a caller's buffer faulted: the buffer is a memory map whose file was truncated. Not a fault of
 * any tier (another copy of the chunk would fault the same way), so the restore stops with it instead of trying the
 * next tier; {@link Restorer} answers it as the caller's bad input, naming the entry.
 */
final class TargetFault extends RuntimeException {
    private TargetFault(InternalError cause) {
        super(cause.getMessage(), cause);
    }

    /**
     * Runs {@code copy} (a copy into a caller's buffer) and answers its fault, if it faulted, as a TargetFault. The
     * fault's error is pending after the copy and may be thrown at any safepoint poll on the way (a return from the
     * copy's method), or at the latest by {@link MappedFaults#deliverPending()}: the copy must run inside the
     * {@code try} that answers it, not before it.
     */
    static void copy(Runnable copy) {
        try {
            copy.run();
            MappedFaults.deliverPending();
        } catch (InternalError e) {
            throw new TargetFault(e);
        }
    }
}
