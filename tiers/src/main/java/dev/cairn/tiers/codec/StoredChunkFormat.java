package dev.cairn.tiers.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The stored form of a chunk: always a standard zstd stream that {@code zstd -d} reads, and self-describing, so a
 * reader never depends on the codec a manifest recorded (another tier, or an earlier save that wrote the same
 * content, may hold it in another form).
 * <pre>
 * codec "zstd" (format 1, and still written):
 *   +-------------------------------+
 *   | zstd frame of the raw bytes   |
 *   +-------------------------------+
 * codecs "raw", "planes2+zstd", "planes4+zstd", "planes8+zstd":
 *   0          4          8     11   12
 *   +----------+----------+-----+----+-------------------------------------------+
 *   | 5C2A4D18 | 04000000 | CRN | id | zstd frame                                |
 *   +----------+----------+-----+----+-------------------------------------------+
 *   skippable frame (magic 0x184D2A5C, 4 bytes of user data), which zstd tools skip, then:
 *   id 'r': a frame of raw (uncompressed) blocks holding the raw bytes
 *   id '2' / '4' / '8': a zstd frame of the {@link BytePlanes} of the raw bytes for that element size
 * codecs "planes2r+zstd", "planes4r+zstd", "planes8r+zstd" (element size e = 2, 4, 8):
 *   0          4          8     11   12
 *   +----------+----------+-----+----+---------+---------+-----+-------------+---------------------+
 *   | 5C2A4D18 | 04000000 | CRN | id | frame 0 | frame 1 | ... | frame e-1   | frame e             |
 *   +----------+----------+-----+----+---------+---------+-----+-------------+---------------------+
 *   id 'h' / 's' / 'd' for e = 2 / 4 / 8; then e + 1 zstd frames, one per piece of the {@link FloatPlanes} split
 *   of the raw bytes, in order: planes 0 .. e-2 of the rotated values, the low nibbles of their top plane, and
 *   the high nibbles followed by the tail. Each frame is either a compressed frame or, where compressing the
 *   piece does not pay (mantissa bits), a frame of raw blocks; a reader need not know which.
 * codec "xor+zstd": a differential chunk, id 'x' with 20 bytes of user data (the base's hash); see {@link XorDelta}
 * </pre>
 * A chunk without the skippable frame is codec "zstd". Frames carry their content size. {@code zstd -d} decodes a
 * planes codec's chunk to the split (concatenated frames decode to the concatenation), not to the raw bytes. The
 * content hash is always of the raw bytes: a reader checks it, since a corrupted raw block decodes without error.
 */
public final class StoredChunkFormat {
    /** Length of the skippable header that precedes the frame of every codec but "zstd". */
    public static final int HEADER_BYTES = 12;
    static final int SKIPPABLE_MAGIC = 0x184D2A5C;
    static final int ZSTD_MAGIC = 0xFD2FB528;
    static final int MAX_RAW_BLOCK = 128 << 10;

    private StoredChunkFormat() {
    }

    /** The codec of the stored bytes {@code src[off, off+len)}; {@code "zstd"} when there is no Cairn header. */
    public static String codecOf(ByteBuffer src, int off, int len) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (len < HEADER_BYTES || b.getInt(off) != SKIPPABLE_MAGIC) {
            return ChunkCodec.ZSTD;
        }
        if (XorDelta.isDelta(src, off, len)) {
            return XorDelta.CODEC;
        }
        if (b.getInt(off + 4) != 4 || b.get(off + 8) != 'C' || b.get(off + 9) != 'R' || b.get(off + 10) != 'N') {
            return "unknown";
        }
        switch (b.get(off + 11)) {
            case 'r': return ChunkCodec.RAW;
            case '2': return ChunkCodec.PLANES2;
            case '4': return ChunkCodec.PLANES4;
            case '8': return ChunkCodec.PLANES8;
            case 'h': return ChunkCodec.PLANES2R;
            case 's': return ChunkCodec.PLANES4R;
            case 'd': return ChunkCodec.PLANES8R;
            default: return "unknown";
        }
    }

    /** Writes the header of {@code codec} (not "zstd") at {@code dst[off]}. */
    static void writeHeader(ByteBuffer dst, int off, String codec) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(off, SKIPPABLE_MAGIC);
        b.putInt(off + 4, 4);
        b.put(off + 8, (byte) 'C');
        b.put(off + 9, (byte) 'R');
        b.put(off + 10, (byte) 'N');
        b.put(off + 11, idOf(codec));
    }

    /** Bytes {@link #writeRawFrame} takes for {@code len} raw bytes. */
    static long rawFrameBytes(long len) {
        long blocks = Math.max(1, (len + MAX_RAW_BLOCK - 1) / MAX_RAW_BLOCK);
        return 4 + 1 + 8 + 3 * blocks + len;
    }

    /**
     * Writes a zstd frame of raw blocks holding {@code src[srcOff, srcOff+len)} at {@code dst[dstOff]}: single segment,
     * 8-byte content size, no checksum. Returns its length. Storing this way costs a copy, not a compression.
     */
    static int writeRawFrame(ByteBuffer src, int srcOff, int len, ByteBuffer dst, int dstOff) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int at = dstOff;
        b.putInt(at, ZSTD_MAGIC);
        b.put(at + 4, (byte) 0xE0); // content size in 8 bytes, single segment
        b.putLong(at + 5, len);
        at += 13;
        int done = 0;
        do {
            int n = Math.min(MAX_RAW_BLOCK, len - done);
            int last = done + n == len ? 1 : 0;
            int header = last | (n << 3); // block type 0: raw
            b.put(at, (byte) header);
            b.put(at + 1, (byte) (header >>> 8));
            b.put(at + 2, (byte) (header >>> 16));
            at += 3;
            if (n > 0) {
                dst.put(at, src, srcOff + done, n);
            }
            at += n;
            done += n;
        } while (done < len);
        return at - dstOff;
    }

    /** The element size of a planes codec, or 0. */
    static int elementSizeOf(String codec) {
        switch (codec) {
            case ChunkCodec.PLANES2: return 2;
            case ChunkCodec.PLANES4: return 4;
            case ChunkCodec.PLANES8: return 8;
            default: return 0;
        }
    }

    /** The element size of a rotated-planes codec ({@link FloatPlanes}), or 0. */
    static int floatElementSizeOf(String codec) {
        switch (codec) {
            case ChunkCodec.PLANES2R: return 2;
            case ChunkCodec.PLANES4R: return 4;
            case ChunkCodec.PLANES8R: return 8;
            default: return 0;
        }
    }

    private static byte idOf(String codec) {
        switch (codec) {
            case ChunkCodec.RAW: return 'r';
            case ChunkCodec.PLANES2: return '2';
            case ChunkCodec.PLANES4: return '4';
            case ChunkCodec.PLANES8: return '8';
            case ChunkCodec.PLANES2R: return 'h';
            case ChunkCodec.PLANES4R: return 's';
            case ChunkCodec.PLANES8R: return 'd';
            default: throw new IllegalArgumentException("codec " + codec + " has no header");
        }
    }
}
