package dev.cairn.tiers.internal.codec;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.util.Objects;
import net.openhft.hashing.Access;
import net.openhft.hashing.LongTupleHashFunction;

/**
 * XXH3-128 (seed 0) over a region of a buffer, by OpenHFT's zero-allocation-hashing: the content key of a chunk in
 * manifest format 3 ({@link ContentHash#XXH3_128}). Its hex form is XXH3's canonical one (high half first), the one
 * {@code xxhsum -H2} prints: a chunk stored with plain zstd (codec "zstd") can be checked with the xxHash tools,
 * {@code zstd -d < chunk | xxhsum -H2}.
 *
 * <p>A direct buffer is hashed in place at its native address: the library's own {@code hashBytes(ByteBuffer)}
 * needs {@code sun.nio.ch} exported on Java 17 (it throws {@code IllegalAccessError} otherwise), so the address is
 * taken by {@link BufferAddress} instead (no JVM flag needed), after a bounds check. Heap buffers are hashed in their
 * array; a read-only heap buffer, which hides its array, through the library's {@code ByteBuffer} access. Nothing is
 * allocated per call.
 */
final class Xxh3Hash {
    private static final LongTupleHashFunction XX128 = LongTupleHashFunction.xx128();
    private static final Access<ByteBuffer> BUFFER_ACCESS = Access.toByteBuffer();

    private Xxh3Hash() {
    }

    /**
     * The hash of {@code length} bytes of {@code buf} from absolute index {@code offset} (within its limit), into
     * {@code out[0]} (high 64 bits) and {@code out[1]} (low 64 bits), the order of the canonical hex form.
     */
    static void hash(ByteBuffer buf, int offset, int length, long[] out) {
        Objects.checkFromIndexSize(offset, length, buf.limit());
        if (buf.isDirect()) {
            XX128.hashMemory(BufferAddress.of(buf) + offset, length, out);
            Reference.reachabilityFence(buf); // its memory must outlive the read above
        } else if (buf.hasArray()) {
            XX128.hashBytes(buf.array(), buf.arrayOffset() + offset, length, out);
        } else {
            XX128.hash(buf, BUFFER_ACCESS, offset, length, out);
        }
        highFirst(out);
    }

    /** {@link #hash} through the library's {@code ByteBuffer} access whatever the buffer: the path without addresses. */
    static void hashByAccess(ByteBuffer buf, int offset, int length, long[] out) {
        Objects.checkFromIndexSize(offset, length, buf.limit());
        XX128.hash(buf, BUFFER_ACCESS, offset, length, out);
        highFirst(out);
    }

    /** The library gives the low half first; the canonical form starts with the high one. */
    private static void highFirst(long[] out) {
        long low = out[0];
        out[0] = out[1];
        out[1] = low;
    }
}
