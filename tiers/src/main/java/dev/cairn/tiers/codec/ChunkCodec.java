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
 * <p>Codecs, as recorded in manifests: {@value #ZSTD} (zstd of the raw bytes), {@value #PLANES2}, {@value #PLANES4},
 * {@value #PLANES8} (zstd of the {@link BytePlanes} for 2-, 4- and 8-byte floats), and {@value #RAW} (stored
 * uncompressed, in a zstd frame of raw blocks). {@link #encodeChoosing} picks one per chunk: for floats it
 * compresses a sample of {@value #SAMPLE_BYTES} bytes both plain and plane by plane, and keeps the smaller; any chunk
 * whose encoding saves less than 1/32 (about 3 %) of its bytes is stored raw, so decoding it is a copy.
 */
public final class ChunkCodec implements AutoCloseable {
    /** The codec name recorded in manifests. */
    public static final String ZSTD = "zstd";
    public static final String RAW = "raw";
    public static final String PLANES2 = "planes2+zstd";
    public static final String PLANES4 = "planes4+zstd";
    public static final String PLANES8 = "planes8+zstd";
    /** Bytes at the start of a chunk compressed both ways to pick planes or plain zstd. */
    public static final int SAMPLE_BYTES = 64 << 10;

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
        return ZSTD.equals(codec) || RAW.equals(codec) || StoredChunkFormat.elementSizeOf(codec) != 0;
    }

    /** Worst-case stored size of a chunk of {@code rawBytes}, in any codec. */
    public static int maxEncodedBytes(int rawBytes) {
        long bound = Math.max(Zstd.compressBound(rawBytes), StoredChunkFormat.rawFrameBytes(rawBytes));
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
        int probe = Math.min(len, SAMPLE_BYTES) & ~63;
        if (BytePlanes.supports(elementSize) && probe > 0) {
            ByteBuffer out = sample(Math.toIntExact(Zstd.compressBound(probe)));
            int plain = compress.compressDirectByteBuffer(out, 0, out.capacity(), src, srcOff, probe);
            ByteBuffer planes = scratch(probe);
            BytePlanes.split(src, srcOff, probe, elementSize, planes, 0);
            // Each plane alone: in a full chunk every zstd block holds a single plane, which is where planes win;
            // one frame of a small sample's planes would mix them within a block and hide the gain.
            int split = 0;
            int plane = probe / elementSize;
            for (int p = 0; p < elementSize; p++) {
                split += compress.compressDirectByteBuffer(out, 0, out.capacity(), planes, p * plane, plane);
            }
            if (split < plain) {
                codec = elementSize == 2 ? PLANES2 : elementSize == 4 ? PLANES4 : PLANES8;
            }
        }
        int n = encodeAs(codec, src, srcOff, len, dst);
        if (n > len - (len >>> 5)) {
            codec = RAW;
            n = encodeAs(RAW, src, srcOff, len, dst);
        }
        lastCodec = codec;
        return n;
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
