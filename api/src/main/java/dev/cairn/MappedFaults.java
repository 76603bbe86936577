package dev.cairn;

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
 */
public final class MappedFaults {
    /** Zero, read through a volatile field so that no compiler folds the allocation into something inline. */
    private static volatile int zero;
    /** Where the allocation goes, so that escape analysis cannot remove it. */
    @SuppressWarnings("unused")
    private static volatile Object sink;

    private MappedFaults() {
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
