package dev.cairn.tiers.codec;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Encodes and decodes chunks in their stored forms ({@link StoredChunkFormat}) on direct buffers with reusable zstd
 * contexts and scratch: one instance per thread (contexts are not thread-safe).
 *
 * <p>Codecs, as recorded in manifests: {@value #ZSTD} (zstd of the raw bytes), {@value #PLANES2R}, {@value #PLANES4R},
 * {@value #PLANES8R} (the {@link FloatPlanes} split of 2-, 4- and 8-byte floats, each piece its own zstd frame or
 * stored raw), {@value #RAW} (stored uncompressed, in a zstd frame of raw blocks), and {@value #PLANES2},
 * {@value #PLANES4}, {@value #PLANES8} (one zstd frame of the {@link BytePlanes}, the codec before the rotated one).
 * {@link #encodeChoosing} picks one per chunk: for floats it compresses a sample of {@value #SAMPLE_BYTES} bytes
 * both plain and piece by piece, and keeps the smaller; the pieces whose sample did not shrink by 1/64 (the mantissa
 * planes) are stored raw without trying zstd on the whole chunk, which is where the time went. Only when the
 * exponents are spread wide (the high-nibble piece of the sample shrinks less than 8x) does it also try the
 * unrotated byte planes, and takes them if they save another 1/128. Any chunk whose encoding saves less than 1/32
 * (about 3 %) of its bytes is stored raw, so decoding it is a copy.
 */
public final class ChunkCodec implements AutoCloseable {
    /** The codec name recorded in manifests. */
    public static final String ZSTD = "zstd";
    public static final String RAW = "raw";
    public static final String PLANES2 = "planes2+zstd";
    public static final String PLANES4 = "planes4+zstd";
    public static final String PLANES8 = "planes8+zstd";
    public static final String PLANES2R = "planes2r+zstd";
    public static final String PLANES4R = "planes4r+zstd";
    public static final String PLANES8R = "planes8r+zstd";
    /** Bytes at the start of a chunk compressed both ways to pick planes or plain zstd. */
    public static final int SAMPLE_BYTES = 64 << 10;
    /** Every piece of a {@link FloatPlanes} split tried with zstd (bit p: piece p). */
    private static final int ALL_PIECES = -1;

    private final ZstdCompressCtx compress = new ZstdCompressCtx();
    private final ZstdDecompressCtx decompress = new ZstdDecompressCtx();
    private ByteBuffer scratch = ByteBuffer.allocateDirect(0);
    private ByteBuffer sample = ByteBuffer.allocateDirect(0);
    private String lastCodec = ZSTD;

    public ChunkCodec(int level) {
        compress.setLevel(level);
        compress.setContentSize(true);
        compress.setChecksum(false);
    }

    /** Whether this release can decode chunks recorded with {@code codec}. */
    public static boolean isKnown(String codec) {
        return ZSTD.equals(codec) || RAW.equals(codec) || StoredChunkFormat.elementSizeOf(codec) != 0
                || StoredChunkFormat.floatElementSizeOf(codec) != 0;
    }

    /** Worst-case stored size of a chunk of {@code rawBytes}, in any codec. */
    public static int maxEncodedBytes(int rawBytes) {
        long bound = Math.max(Zstd.compressBound(rawBytes), StoredChunkFormat.rawFrameBytes(rawBytes));
        for (int e = 2; e <= 8; e <<= 1) {
            long pieces = 0;
            for (int p = 0; p < FloatPlanes.pieces(e); p++) {
                int n = FloatPlanes.pieceLength(rawBytes, e, p);
                pieces += Math.max(Zstd.compressBound(n), StoredChunkFormat.rawFrameBytes(n));
            }
            bound = Math.max(bound, pieces);
        }
        return Math.toIntExact(bound + StoredChunkFormat.HEADER_BYTES);
    }

    /** Compresses {@code src[srcOff, srcOff+len)} into {@code dst} at 0 as codec "zstd"; returns the frame's length. Both direct. */
    public int encode(ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        return compress.compressDirectByteBuffer(dst, 0, dst.capacity(), src, srcOff, len);
    }

    /** Encodes {@code src[srcOff, srcOff+len)} into {@code dst} at 0 as {@code codec}; returns the stored length. */
    public int encodeAs(String codec, ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        if (ZSTD.equals(codec)) {
            return encode(src, srcOff, len, dst);
        }
        int h = StoredChunkFormat.HEADER_BYTES;
        StoredChunkFormat.writeHeader(dst, 0, codec);
        if (RAW.equals(codec)) {
            return h + StoredChunkFormat.writeRawFrame(src, srcOff, len, dst, h);
        }
        int f = StoredChunkFormat.floatElementSizeOf(codec);
        if (f != 0) {
            return h + encodePieces(src, srcOff, len, f, ALL_PIECES, dst, h);
        }
        int e = StoredChunkFormat.elementSizeOf(codec);
        if (e == 0) {
            throw new IllegalArgumentException("unknown codec '" + codec + "'");
        }
        ByteBuffer planes = scratch(len);
        BytePlanes.split(src, srcOff, len, e, planes, 0);
        return h + compress.compressDirectByteBuffer(dst, h, dst.capacity() - h, planes, 0, len);
    }

    /**
     * Encodes the chunk in the codec that suits it (see the class comment); {@code elementSize} is the width of the
     * chunk's floats, or 0 when it does not hold floats. Returns the stored length; {@link #lastCodec()} says which.
     */
    public int encodeChoosing(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst) {
        String codec = ZSTD;
        int compressed = ALL_PIECES;
        int probe = Math.min(len, SAMPLE_BYTES) & ~63;
        if (FloatPlanes.supports(elementSize) && probe > 0) {
            ByteBuffer out = sample(Math.toIntExact(Zstd.compressBound(probe)));
            int best = compress.compressDirectByteBuffer(out, 0, out.capacity(), src, srcOff, probe);
            ByteBuffer pieces = scratch(probe);
            FloatPlanes.split(src, srcOff, probe, elementSize, pieces, 0);
            compressed = 0;
            int split = 0;
            boolean wideExponents = false;
            for (int p = 0; p < FloatPlanes.pieces(elementSize); p++) {
                int n = FloatPlanes.pieceLength(probe, elementSize, p);
                int c = compress.compressDirectByteBuffer(out, 0, out.capacity(), pieces,
                        FloatPlanes.pieceOffset(probe, elementSize, p), n);
                if (piecePays(c, n)) {
                    compressed |= 1 << p;
                    split += c;
                } else {
                    split += n;
                }
                if (p == elementSize) {
                    wideExponents = c * 8 > n; // the high nibbles, nearly constant for weights
                }
            }
            if (split < best) {
                best = split;
                codec = elementSize == 2 ? PLANES2R : elementSize == 4 ? PLANES4R : PLANES8R;
            }
            // Exponents that cross a nibble boundary (Adam's second moments span dozens of binades) make the high
            // nibbles carry information that the low ones repeat; whole byte planes may then code them better.
            if (wideExponents && bytePlanesSample(src, srcOff, probe, elementSize, out) < best - (best >>> 7)) {
                codec = elementSize == 2 ? PLANES2 : elementSize == 4 ? PLANES4 : PLANES8;
            }
        }
        int n;
        if (ZSTD.equals(codec) || StoredChunkFormat.elementSizeOf(codec) != 0) {
            n = encodeAs(codec, src, srcOff, len, dst);
        } else {
            int h = StoredChunkFormat.HEADER_BYTES;
            StoredChunkFormat.writeHeader(dst, 0, codec);
            n = h + encodePieces(src, srcOff, len, elementSize, compressed, dst, h);
        }
        if (!pays(n, len)) {
            codec = RAW;
            n = encodeAs(RAW, src, srcOff, len, dst);
        }
        lastCodec = codec;
        return n;
    }

    /** Stored bytes of the sample as {@link BytePlanes}, each plane compressed alone as in a whole chunk. */
    private int bytePlanesSample(ByteBuffer src, int srcOff, int probe, int elementSize, ByteBuffer out) {
        ByteBuffer planes = scratch(probe);
        BytePlanes.split(src, srcOff, probe, elementSize, planes, 0);
        int plane = probe / elementSize;
        int size = 0;
        for (int p = 0; p < elementSize; p++) {
            size += compress.compressDirectByteBuffer(out, 0, out.capacity(), planes, p * plane, plane);
        }
        return size;
    }

    /**
     * Writes the frames of the {@link FloatPlanes} pieces of {@code src[srcOff, srcOff+len)} at {@code dst[dstOff]}:
     * zstd for the pieces in the bit set {@code compressed} that shrink by 1/32, raw blocks for the rest. Returns
     * the bytes written.
     */
    private int encodePieces(ByteBuffer src, int srcOff, int len, int elementSize, int compressed, ByteBuffer dst, int dstOff) {
        ByteBuffer pieces = scratch(len);
        FloatPlanes.split(src, srcOff, len, elementSize, pieces, 0);
        int at = dstOff;
        for (int p = 0; p < FloatPlanes.pieces(elementSize); p++) {
            int off = FloatPlanes.pieceOffset(len, elementSize, p);
            int n = FloatPlanes.pieceLength(len, elementSize, p);
            if ((compressed & (1 << p)) != 0) {
                int c = compress.compressDirectByteBuffer(dst, at, dst.capacity() - at, pieces, off, n);
                if (piecePays(c, n)) {
                    at += c;
                    continue;
                }
            }
            at += StoredChunkFormat.writeRawFrame(pieces, off, n, dst, at);
        }
        return at - dstOff;
    }

    /** Whether {@code stored} bytes for {@code raw} save at least 1/32 of them, enough to be worth a decode. */
    private static boolean pays(int stored, int raw) {
        return stored <= raw - (raw >>> 5) && stored < raw;
    }

    /** Whether compressing a piece saves at least 1/64 (zstd's own least gain for a compressed block). */
    private static boolean piecePays(int stored, int raw) {
        return stored <= raw - (raw >>> 6) && stored < raw;
    }

    /** The codec of the last {@link #encodeChoosing} call. */
    public String lastCodec() {
        return lastCodec;
    }

    /**
     * Decodes the stored chunk {@code src[srcOff, srcOff+srcLen)}, whatever its codec, into
     * {@code dst[dstOff, dstOff+rawLen)}; fails unless it decodes to exactly {@code rawLen} bytes. Returns its codec.
     */
    public String decode(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
        String codec = StoredChunkFormat.codecOf(src, srcOff, srcLen);
        if (ZSTD.equals(codec)) {
            decodeFrame(src, srcOff, srcLen, dst, dstOff, rawLen);
            return codec;
        }
        int h = StoredChunkFormat.HEADER_BYTES;
        if (RAW.equals(codec)) {
            decodeFrame(src, srcOff + h, srcLen - h, dst, dstOff, rawLen);
            return codec;
        }
        int f = StoredChunkFormat.floatElementSizeOf(codec);
        if (f != 0) {
            // The frames of the pieces decode in one call, each after the other, to the whole split.
            ByteBuffer pieces = scratch(rawLen);
            decodeFrame(src, srcOff + h, srcLen - h, pieces, 0, rawLen);
            FloatPlanes.join(pieces, 0, rawLen, f, dst, dstOff);
            return codec;
        }
        int e = StoredChunkFormat.elementSizeOf(codec);
        if (e == 0) {
            throw new IOException("stored chunk has an unknown Cairn header");
        }
        ByteBuffer planes = scratch(rawLen);
        decodeFrame(src, srcOff + h, srcLen - h, planes, 0, rawLen);
        BytePlanes.join(planes, 0, rawLen, e, dst, dstOff);
        return codec;
    }

    private void decodeFrame(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
        int n;
        try {
            n = decompress.decompressDirectByteBuffer(dst, dstOff, rawLen, src, srcOff, srcLen);
        } catch (RuntimeException e) {
            throw new IOException("zstd frame does not decode: " + e.getMessage(), e);
        }
        if (n != rawLen) {
            throw new IOException("zstd frame decodes to " + n + " bytes, expected " + rawLen);
        }
    }

    private ByteBuffer scratch(int capacity) {
        if (scratch.capacity() < capacity) {
            scratch = ByteBuffer.allocateDirect(capacity);
        }
        return scratch;
    }

    private ByteBuffer sample(int capacity) {
        if (sample.capacity() < capacity) {
            sample = ByteBuffer.allocateDirect(capacity);
        }
        return sample;
    }

    @Override
    public void close() {
        compress.close();
        decompress.close();
    }
}
