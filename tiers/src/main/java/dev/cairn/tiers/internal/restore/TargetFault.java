package dev.cairn.tiers.internal.restore;

import dev.cairn.MappedFaults;
import java.nio.ByteBuffer;

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
     * Copies {@code length} bytes of {@code src} from {@code srcPos} to {@code dst} at {@code at} (a caller's buffer;
     * neither position moves) and answers the copy's fault, if it faulted, as a TargetFault. The fault's error is
     * pending after the copy and may be thrown at any armed safepoint poll on the way (the return from the copy's
     * method), or at the latest by {@link MappedFaults#deliverPending()}: the copy runs inside the {@code try} that
     * answers it, not before it.
     */
    static void copy(ByteBuffer dst, int at, ByteBuffer src, int srcPos, int length) {
        try {
            dst.put(at, src, srcPos, length);
            MappedFaults.deliverPending();
        } catch (InternalError e) {
            throw new TargetFault(e);
        }
    }
}
