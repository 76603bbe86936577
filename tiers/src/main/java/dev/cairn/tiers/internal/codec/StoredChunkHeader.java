package dev.cairn.tiers.internal.codec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Descriptor of the header that starts every stored chunk but those of codec {@link Codec#ZSTD}: a zstd skippable
 * frame, which {@code zstd -d} and every zstd reader skip, whose user data names the {@link Codec} (and, for a
 * differential chunk, its base). A chunk is thereby self-describing: a reader never depends on the codec a manifest
 * recorded (another tier, or an earlier save that wrote the same content, may hold it in another form).
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +---------------------------------------------------------------+
 *  |          MAGIC 0x184D2A5C (skippable frame), little-endian    |  0  MAGIC_OFFSET
 *  +---------------------------------------------------------------+
 *  |        user data length: 4, or 20 for "xor+zstd", LE          |  4  USER_DATA_LENGTH_OFFSET
 *  +---------------+---------------+---------------+---------------+
 *  |      'C'      |      'R'      |      'N'      |   codec id    |  8  SIGNATURE_OFFSET, 11 CODEC_ID_OFFSET
 *  +---------------+---------------+---------------+---------------+ 12  LENGTH: whole chunks end here
 *  |     base content hash, 16 bytes, big-endian ("xor+zstd" only) | 12  BASE_HASH_OFFSET
 *  |                              ...                              |
 *  +---------------------------------------------------------------+ 28  DELTA_LENGTH
 * </pre>
 * The bytes hold no version field: a new layout would be a new codec id. After the header, by codec:
 * <pre>
 * "zstd"                              no header; one zstd frame of the raw bytes (format 1, and still written)
 * "raw"                  id 'r'       one zstd frame of raw (uncompressed) blocks holding the raw bytes ({@link RawZstdFrame})
 * "planes2|4|8+zstd"     id '2' '4' '8'  one zstd frame of the {@link BytePlanes} of the raw bytes
 * "planes2r|4r|8r+zstd"  id 'h' 's' 'd'  e + 1 zstd frames (e = 2, 4, 8), one per piece of the {@link FloatPlanes}
 *                                     split, in order: planes 0 .. e-2 of the rotated values, the low nibbles of
 *                                     their top plane, the high nibbles followed by the tail; each frame compressed
 *                                     or, where compressing the piece does not pay (mantissa bits), of raw blocks
 * "xor+zstd"             id 'x'       one zstd frame of the raw bytes XOR the base's raw bytes ({@link XorDelta})
 * </pre>
 * Frames carry their content size. {@code zstd -d} decodes a planes codec's chunk to the split (concatenated frames
 * decode to the concatenation), not to the raw bytes. The content hash is always of the raw bytes: a reader checks
 * it, since a corrupted raw block decodes without error.
 */
public final class StoredChunkHeader {
    /** The zstd skippable-frame magic this header starts with (little-endian, as zstd writes magics). */
    public static final int MAGIC = 0x184D2A5C;
    public static final int MAGIC_OFFSET = 0;
    /** Length of the user data after the 8 bytes of the skippable frame's own header. */
    public static final int USER_DATA_LENGTH_OFFSET = 4;
    /** The user data starts with these three bytes. */
    public static final int SIGNATURE_OFFSET = 8;
    static final byte[] SIGNATURE = {'C', 'R', 'N'};
    public static final int CODEC_ID_OFFSET = 11;
    /** The base's 128-bit content hash, as two big-endian longs (high half first); differential chunks only. */
    public static final int BASE_HASH_OFFSET = 12;
    static final int BASE_HASH_BYTES = 16;
    /** Bytes of the header of a whole chunk: its zstd frames start here. */
    public static final int LENGTH = 12;
    /** Bytes of the header of a differential chunk: its zstd frame starts here. */
    public static final int DELTA_LENGTH = BASE_HASH_OFFSET + BASE_HASH_BYTES;
    /** The most bytes any header takes: read this many to learn a stored chunk's codec and base. */
    public static final int MAX_LENGTH = DELTA_LENGTH;
    static final int WHOLE_USER_DATA = LENGTH - SIGNATURE_OFFSET;
    static final int DELTA_USER_DATA = DELTA_LENGTH - SIGNATURE_OFFSET;
    /** The id of {@link Codec#ZSTD}, which has no header. */
    static final byte NO_ID = 0;
    /** The codec name recorded for a stored chunk whose header no codec of this release wrote. */
    public static final String UNKNOWN_CODEC = "unknown";

    private StoredChunkHeader() {
    }

    /**
     * The codec of the stored bytes {@code src[off, off+len)}: {@link Codec#ZSTD} when they do not start with a
     * Cairn header, null when they start with one that no codec of this release writes.
     */
    public static Codec codecOf(ByteBuffer src, int off, int len) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        if (len < LENGTH || b.getInt(off + MAGIC_OFFSET) != MAGIC) {
            return Codec.ZSTD;
        }
        if (isDelta(src, off, len)) {
            return Codec.XOR;
        }
        if (b.getInt(off + USER_DATA_LENGTH_OFFSET) != WHOLE_USER_DATA || !signed(b, off)) {
            return null;
        }
        Codec c = Codec.byId(b.get(off + CODEC_ID_OFFSET));
        return c == null || c.differential() ? null : c;
    }

    /** The manifest name of {@link #codecOf}, {@value #UNKNOWN_CODEC} when no codec of this release wrote it. */
    public static String codecNameOf(ByteBuffer src, int off, int len) {
        Codec c = codecOf(src, off, len);
        return c == null ? UNKNOWN_CODEC : c.manifestName();
    }

    /** Whether {@code src[off, off+len)} starts with a whole differential header. */
    public static boolean isDelta(ByteBuffer src, int off, int len) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        return len >= DELTA_LENGTH && b.getInt(off + MAGIC_OFFSET) == MAGIC
                && b.getInt(off + USER_DATA_LENGTH_OFFSET) == DELTA_USER_DATA && signed(b, off)
                && b.get(off + CODEC_ID_OFFSET) == Codec.XOR.id();
    }

    /** The content hash of the base a differential chunk names, as hex. */
    public static String baseOf(ByteBuffer src, int off, int len) throws IOException {
        if (!isDelta(src, off, len)) {
            throw new IOException("stored chunk is not differential");
        }
        ByteBuffer b = src.duplicate().order(ByteOrder.BIG_ENDIAN);
        long hi = b.getLong(off + BASE_HASH_OFFSET);
        long lo = b.getLong(off + BASE_HASH_OFFSET + Long.BYTES);
        return String.format("%016x%016x", hi, lo);
    }

    /** The base a stored chunk's header names, or null when it is stored whole. */
    public static String baseOrNull(ByteBuffer src, int off, int len) throws IOException {
        return isDelta(src, off, len) ? baseOf(src, off, len) : null;
    }

    /** Writes the header of the whole-chunk codec {@code codec} at {@code dst[off]}; returns its length. */
    static int writeWhole(ByteBuffer dst, int off, Codec codec) {
        if (!codec.hasHeader() || codec.differential()) {
            throw new IllegalArgumentException("codec " + codec + " has no whole-chunk header");
        }
        writeStart(dst, off, WHOLE_USER_DATA, codec);
        return LENGTH;
    }

    /** Writes the header of a differential chunk against {@code baseHash} (32 hex digits) at {@code dst[off]}. */
    static int writeDelta(ByteBuffer dst, int off, String baseHash) {
        writeStart(dst, off, DELTA_USER_DATA, Codec.XOR);
        ByteBuffer b = dst.duplicate().order(ByteOrder.BIG_ENDIAN);
        b.putLong(off + BASE_HASH_OFFSET, Long.parseUnsignedLong(baseHash.substring(0, 16), 16));
        b.putLong(off + BASE_HASH_OFFSET + Long.BYTES, Long.parseUnsignedLong(baseHash.substring(16), 16));
        return DELTA_LENGTH;
    }

    private static void writeStart(ByteBuffer dst, int off, int userData, Codec codec) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(off + MAGIC_OFFSET, MAGIC);
        b.putInt(off + USER_DATA_LENGTH_OFFSET, userData);
        for (int i = 0; i < SIGNATURE.length; i++) {
            b.put(off + SIGNATURE_OFFSET + i, SIGNATURE[i]);
        }
        b.put(off + CODEC_ID_OFFSET, codec.id());
    }

    private static boolean signed(ByteBuffer b, int off) {
        for (int i = 0; i < SIGNATURE.length; i++) {
            if (b.get(off + SIGNATURE_OFFSET + i) != SIGNATURE[i]) {
                return false;
            }
        }
        return true;
    }
}
