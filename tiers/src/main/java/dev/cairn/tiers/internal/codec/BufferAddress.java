package dev.cairn.tiers.internal.codec;

import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import sun.misc.Unsafe;

/**
 * The native address of a direct buffer, read from {@code java.nio.Buffer}'s {@code address} field through
 * {@code sun.misc.Unsafe} (as Agrona's {@code BufferUtil.address} and Netty do). Arrow's
 * {@code MemoryUtil.getByteBufferAddress} needs {@code java.nio} opened to it and throws otherwise; this works in any
 * JVM that has the {@code jdk.unsupported} module, flags or not, so the codec kernels never depend on a flag.
 */
final class BufferAddress {
    private static final Unsafe UNSAFE;
    private static final long ADDRESS;

    static {
        try {
            Field theUnsafe = Unsafe.class.getDeclaredField("theUnsafe");
            theUnsafe.setAccessible(true);
            UNSAFE = (Unsafe) theUnsafe.get(null);
            ADDRESS = UNSAFE.objectFieldOffset(Buffer.class.getDeclaredField("address"));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError("cannot read direct buffer addresses in this JVM: " + e);
        }
    }

    private BufferAddress() {
    }

    /** The address of {@code buf}'s first byte (index 0, whatever its position); {@code buf} must be direct. */
    static long of(ByteBuffer buf) {
        if (!buf.isDirect()) {
            throw new IllegalArgumentException("not a direct buffer");
        }
        return UNSAFE.getLong(buf, ADDRESS);
    }
}
