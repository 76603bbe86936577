package dev.cairn;

import java.io.FileDescriptor;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import sun.misc.Unsafe;

/**
 * Makes the fault of a read from a memory map whose file was truncated surface where the read was made: for the
 * engine's copy of a state into staging, and for object stores that copy a caller's buffer before writing it.
 *
 * <p>Such a read raises SIGBUS. HotSpot does not crash on it when the read is a bulk copy ({@code ByteBuffer.put}) or
 * an Unsafe access; it records an {@code InternalError} ("a fault occurred in an unsafe memory access operation") as
 * pending on the thread and throws it asynchronously, at the thread's next transition from the VM back into Java code
 * that checks for it. On JDK 17 neither a return from a native method nor an untriggered safepoint poll is such a
 * transition, so the error surfaces anywhere later: in the engine it once did inside the staging pool's lock, leaking
 * the lock and hanging every later save, or between taking a slab and recording it, leaking the slab (bench/RESULTS.md,
 * "A save from a truncated memory map"). {@link #deliverPending()} makes one such transition at once: a
 * multi-dimensional array allocation with lengths the compilers cannot see is a runtime call in the interpreter and in
 * both compilers, and the runtime throws the pending error on its way back, there. Measured on OpenJDK 17.0.15
 * (interpreted, C1 only, C2 only, tiered): 3,000 of 3,000 faults thrown at the call, against 0 of 3,000 without it; a
 * call costs 41-60 ns.
 *
 * <p>A write into such a map faults the same way. A Java copy into it is answered by {@link #deliverPending()} after
 * it; native code writing into it (a decoder given the buffer's address) ends the process with SIGBUS instead, so the
 * engine never hands a buffer {@link #isFileMap} says is a map to native code: it decodes into its own memory and
 * copies.
 */
public final class MappedFaults {
    /** Zero, read through a volatile field so that no compiler folds the allocation into something inline. */
    private static volatile int zero;
    /** Where the allocation goes, so that escape analysis cannot remove it. */
    @SuppressWarnings("unused")
    private static volatile Object sink;

    private static final Unsafe UNSAFE;
    /** Offset of {@code MappedByteBuffer.fd}, set only for maps of files; -1 where this JVM has no such field. */
    private static final long FD;

    static {
        Unsafe unsafe = null;
        long fd = -1;
        try {
            Field theUnsafe = Unsafe.class.getDeclaredField("theUnsafe");
            theUnsafe.setAccessible(true);
            unsafe = (Unsafe) theUnsafe.get(null);
            Field field = MappedByteBuffer.class.getDeclaredField("fd");
            if (field.getType() == FileDescriptor.class) {
                fd = unsafe.objectFieldOffset(field);
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            fd = -1;
        }
        UNSAFE = unsafe;
        FD = fd;
    }

    private MappedFaults() {
    }

    /**
     * Whether {@code buf} is a memory map of a file, or a view (slice, duplicate, read-only) of one: the buffers whose
     * memory a truncation of their file can take away. {@code FileChannel.map} records the file's descriptor in the
     * buffer ({@code MappedByteBuffer.fd}, OpenJDK 17 to 23), {@code allocateDirect} does not. A JVM without that field
     * answers true for every direct buffer (the safe side: a copy more). Memory a native library mapped and wrapped
     * with JNI's {@code NewDirectByteBuffer} carries no descriptor and is not recognised.
     */
    public static boolean isFileMap(ByteBuffer buf) {
        if (!buf.isDirect()) {
            return false;
        }
        return FD < 0 || UNSAFE.getObject(buf, FD) != null;
    }

    /**
     * Throws, here, the InternalError of a faulted read of mapped memory this thread made since the last call, if any.
     * Call it right after a copy from a buffer that may be such a map, inside the code that answers the error.
     */
    public static void deliverPending() {
        int n = zero;
        sink = new byte[n][n];
    }
}
