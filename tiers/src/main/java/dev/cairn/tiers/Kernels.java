package dev.cairn.tiers;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.codec.BytePlanes;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.FloatPlanes;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The engine's compute kernels, exactly as its save and restore paths run them, for the benchmarks that measure them
 * ({@code bench}: JMH kernels, the codec comparison, the read-and-decode baselines). Not a way to store anything: what
 * they produce is a stored chunk's bytes, which only the engine names, writes and commits. Each kernel here is a thin
 * door onto the engine's own class, so a figure measured through it is the engine's figure.
 */
public final class Kernels {
    private Kernels() {
    }

    /** Worst-case stored size of a whole chunk of {@code rawBytes}, in any codec: the size of an output buffer. */
    public static int maxEncodedBytes(int rawBytes) {
        return dev.cairn.tiers.internal.codec.ChunkCodec.maxEncodedBytes(rawBytes);
    }

    /** The manifest name of the byte-planes codec for elements of {@code elementSize} bytes (2, 4 or 8). */
    public static String bytePlanesCodecName(int elementSize) {
        return bytePlanes(elementSize).manifestName();
    }

    /** Splits {@code src[srcOff, srcOff+len)} into byte planes of {@code elementSize}-byte elements, into {@code dst}. */
    public static void bytePlanesSplit(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        BytePlanes.split(src, srcOff, len, elementSize, dst, dstOff);
    }

    /** Joins the byte planes {@link #bytePlanesSplit} made back into elements. */
    public static void bytePlanesJoin(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        BytePlanes.join(src, srcOff, len, elementSize, dst, dstOff);
    }

    /** Splits floats of {@code elementSize} bytes into the pieces of the float-planes codecs (sign rotated, nibbles). */
    public static void floatPlanesSplit(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        FloatPlanes.split(src, srcOff, len, elementSize, dst, dstOff);
    }

    /** Joins the pieces {@link #floatPlanesSplit} made back into floats. */
    public static void floatPlanesJoin(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, int dstOff) {
        FloatPlanes.join(src, srcOff, len, elementSize, dst, dstOff);
    }

    private static Codec bytePlanes(int elementSize) {
        return switch (elementSize) {
            case 2 -> Codec.PLANES2;
            case 4 -> Codec.PLANES4;
            case 8 -> Codec.PLANES8;
            default -> throw new CheckpointException(Reason.INVALID_INPUT,
                    "byte planes are for 2, 4 or 8-byte elements, not " + elementSize);
        };
    }

    /** The content hashes chunks are keyed by: XXH3-128 (every new save), MurmurHash3 (formats 1 and 2). */
    public enum Hash {
        XXH3_128(ContentHash.XXH3_128),
        MURMUR3_128(ContentHash.MURMUR3_128);

        private final ContentHash hash;

        Hash(ContentHash hash) {
            this.hash = hash;
        }

        /** The hash new saves key their chunks by. */
        public static Hash current() {
            return ContentHash.CURRENT == ContentHash.XXH3_128 ? XXH3_128 : MURMUR3_128;
        }

        /** A hasher of this hash, reusing its scratch: one per thread. */
        public Hasher hasher() {
            return new Hasher(hash.hasher());
        }
    }

    /** Hashes as a save keys a chunk ({@link #hex}) and as a restore checks one ({@link #matches}). One per thread. */
    public static final class Hasher {
        private final ContentHash.Hasher hasher;

        private Hasher(ContentHash.Hasher hasher) {
            this.hasher = hasher;
        }

        /** The hash of {@code length} bytes of {@code buf} from absolute index {@code offset}, as 32 hex digits. */
        public String hex(ByteBuffer buf, int offset, int length) {
            return hasher.hex(buf, offset, length);
        }

        /** Whether that hash is {@code expected}; allocates nothing. */
        public boolean matches(ByteBuffer buf, int offset, int length, String expected) {
            return hasher.matches(buf, offset, length, expected);
        }
    }

    /** What {@link ChunkCodec#encodeChoosing} chose: a holder owned by the caller and filled by each call. */
    public static final class Encoded {
        private final dev.cairn.tiers.internal.codec.ChunkCodec.Encoded encoded =
                new dev.cairn.tiers.internal.codec.ChunkCodec.Encoded();

        /** The manifest name of the codec of the last encoding into this holder, such as {@code "planes4r+zstd"}. */
        public String codec() {
            return encoded.codec().manifestName();
        }

        /** The stored length of the last encoding into this holder. */
        public int length() {
            return encoded.length();
        }
    }

    /**
     * The engine's chunk codec at a zstd level, on direct buffers, with its own reused zstd contexts and scratch (freed by
     * {@link #close}): one per thread, as each encoder thread has its own.
     */
    public static final class ChunkCodec implements AutoCloseable {
        private final dev.cairn.tiers.internal.codec.ChunkCodec codec;

        public ChunkCodec(int level) {
            this.codec = new dev.cairn.tiers.internal.codec.ChunkCodec(level);
        }

        /** A plain zstd frame of {@code src[srcOff, srcOff+len)} into {@code dst} at 0 (codec "zstd"); its length. */
        public int encode(ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
            return codec.encode(src, srcOff, len, dst);
        }

        /** The chunk in the byte-planes codec of {@code elementSize}-byte elements, into {@code dst} at 0; its length. */
        public int encodeBytePlanes(int elementSize, ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
            return codec.encodeAs(bytePlanes(elementSize), src, srcOff, len, dst);
        }

        /**
         * The chunk in the codec a save would choose for it ({@code elementSize}: the width of its floats, 0 when it
         * holds none), into {@code dst} at 0; returns {@code result}, filled with the codec chosen and the length.
         */
        public Encoded encodeChoosing(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, Encoded result) {
            codec.encodeChoosing(src, srcOff, len, elementSize, dst, result.encoded);
            return result;
        }

        /**
         * Decodes the whole stored chunk {@code src[srcOff, srcOff+srcLen)} into {@code dst[dstOff, dstOff+rawLen)} as a
         * restore does (without the hash check); returns the manifest name of its codec. Fails on a differential chunk,
         * which needs its base.
         */
        public String decode(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
            return codec.decode(src, srcOff, srcLen, dst, dstOff, rawLen).manifestName();
        }

        @Override
        public void close() {
            codec.close();
        }
    }
}
