package dev.cairn.tiers.internal.codec;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Encodes and decodes chunks in their stored forms ({@link Codec}, {@link StoredChunkHeader}) on direct buffers with
 * reusable zstd contexts and scratch: one instance per thread (contexts are not thread-safe).
 *
 * <p>{@link #encodeChoosing} picks a codec per chunk: for floats it compresses a sample of {@value #SAMPLE_BYTES}
 * bytes both plain and piece by piece ({@link Codec#PLANES4R} and its kin: the {@link FloatPlanes} split, each piece
 * its own zstd frame or stored raw), and keeps the smaller; the pieces whose sample did not shrink by 1/64 (the
 * mantissa planes) are stored raw without trying zstd on the whole chunk, which is where the time went. Only when the
 * exponents are spread wide (the high-nibble piece of the sample shrinks less than 8x) does it also try the
 * unrotated byte planes ({@link Codec#PLANES4} and its kin), and takes them if they save another 1/128. Any chunk
 * whose encoding saves less than 1/32 (about 3 %) of its bytes is stored {@link Codec#RAW}, so decoding it is a copy.
 */
public final class ChunkCodec implements AutoCloseable {
    /** Bytes at the start of a chunk compressed both ways to pick planes or plain zstd. */
    public static final int SAMPLE_BYTES = 64 << 10;
    /** Every piece of a {@link FloatPlanes} split tried with zstd (bit p: piece p). */
    private static final int ALL_PIECES = -1;

    private final ZstdCompressCtx compress = new ZstdCompressCtx();
    private final ZstdDecompressCtx decompress = new ZstdDecompressCtx();
    /** The scratch this codec made for itself, closed with it; null when its owner's scratch holds its buffers. */
    private final Scratch ownScratch;
    private final Scratch.Buffer scratch;
    private final Scratch.Buffer sample;
    private final int level;
    /** Chunks this codec probed (compressed a sample several ways) since it was made; read by tests. */
    private long probes;

    /** What {@link #encodeChoosing} chose: a holder owned by the caller and filled by each call. */
    public static final class Encoded {
        private Codec codec = Codec.ZSTD;
        private int length;
        private CodecChoice choice;

        /** The codec of the last encoding into this holder. */
        public Codec codec() {
            return codec;
        }

        /** The stored length of the last encoding into this holder. */
        public int length() {
            return length;
        }

        /**
         * The choice to reuse for the chunk's position next time ({@link #encodeReusing}): made by a probe, or the one
         * reused, counted once more.
         */
        public CodecChoice choice() {
            return choice;
        }

        Encoded set(Codec codec, int length, CodecChoice choice) {
            this.codec = codec;
            this.length = length;
            this.choice = choice;
            return this;
        }
    }

    /** A codec at zstd {@code level} with scratch of its own, freed by {@link #close}. */
    public ChunkCodec(int level) {
        this(level, Scratch.standalone("chunk-codec"), true);
    }

    /** A codec at zstd {@code level} whose buffers belong to {@code scratch} (closed by its owner, after this codec). */
    public ChunkCodec(int level, Scratch scratch) {
        this(level, scratch, false);
    }

    private ChunkCodec(int level, Scratch scratch, boolean owned) {
        this.ownScratch = owned ? scratch : null;
        this.scratch = scratch.buffer();
        this.sample = scratch.buffer();
        this.level = level;
        compress.setLevel(level);
        compress.setContentSize(true);
        compress.setChecksum(false);
    }

    /** Worst-case stored size of a whole chunk of {@code rawBytes}, in any codec. */
    public static int maxEncodedBytes(int rawBytes) {
        long bound = Math.max(Zstd.compressBound(rawBytes), RawZstdFrame.length(rawBytes));
        for (int e = 2; e <= 8; e <<= 1) {
            long pieces = 0;
            for (int p = 0; p < FloatPlanes.pieces(e); p++) {
                int n = FloatPlanes.pieceLength(rawBytes, e, p);
                pieces += Math.max(Zstd.compressBound(n), RawZstdFrame.length(n));
            }
            bound = Math.max(bound, pieces);
        }
        return Math.toIntExact(bound + StoredChunkHeader.LENGTH);
    }

    /**
     * Worst-case size of a stored chunk of {@code rawBytes}, whole or differential: how much a reader reads at most
     * when no manifest row gives the stored length.
     */
    public static int maxStoredBytes(int rawBytes) {
        return maxEncodedBytes(rawBytes) + StoredChunkHeader.DELTA_LENGTH;
    }

    /** Compresses {@code src[srcOff, srcOff+len)} into {@code dst} at 0 as codec "zstd"; returns the frame's length. Both direct. */
    public int encode(ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        return compress.compressDirectByteBuffer(dst, 0, dst.capacity(), src, srcOff, len);
    }

    /** Encodes {@code src[srcOff, srcOff+len)} into {@code dst} at 0 as the whole-chunk {@code codec}; returns the stored length. */
    public int encodeAs(Codec codec, ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        if (codec == Codec.ZSTD) {
            return encode(src, srcOff, len, dst);
        }
        if (codec == Codec.RAW) {
            return encodeRaw(src, srcOff, len, dst);
        }
        int h = StoredChunkHeader.writeWhole(dst, 0, codec);
        int f = codec.floatPlanesWidth();
        if (f != 0) {
            return h + encodePieces(src, srcOff, len, f, ALL_PIECES, dst, h);
        }
        ByteBuffer planes = scratch.atLeast(len);
        BytePlanes.split(src, srcOff, len, codec.bytePlanesWidth(), planes, 0);
        return h + compress.compressDirectByteBuffer(dst, h, dst.capacity() - h, planes, 0, len);
    }

    /**
     * Stores {@code src[srcOff, srcOff+len)} as {@link Codec#RAW} into {@code dst} at 0: its header, then the bytes
     * copied into a zstd frame of raw blocks, nothing compressed; returns the stored length. Needs no codec instance
     * (no zstd context): an uncompressed tier's chunks are stored so.
     */
    public static int encodeRaw(ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        int h = StoredChunkHeader.writeWhole(dst, 0, Codec.RAW);
        return h + RawZstdFrame.write(src, srcOff, len, dst, h);
    }

    /** The stored length of a chunk of {@code rawBytes} stored {@link Codec#RAW} ({@link #encodeRaw}, {@link #rawParts}). */
    public static int rawStoredLength(int rawBytes) {
        return Math.toIntExact(StoredChunkHeader.LENGTH + RawZstdFrame.length(rawBytes));
    }

    /**
     * The bytes {@link #encodeRaw} would store for {@code src[srcOff, srcOff+len)}, as parts to store one after the
     * other ({@code ObjectStore.putIfAbsentGathered}) instead of copied into one buffer: the headers in small buffers of their
     * own, the raw bytes as views of {@code src} (which must not change until they are stored).
     */
    public static ByteBuffer[] rawParts(ByteBuffer src, int srcOff, int len) {
        byte[] header = new byte[StoredChunkHeader.LENGTH];
        StoredChunkHeader.writeWhole(ByteBuffer.wrap(header), 0, Codec.RAW);
        return RawZstdFrame.parts(header, src, srcOff, len);
    }

    /** Touches the workspace a decode of a {@code rawLength}-byte chunk uses ({@link Scratch.Buffer#prefault}). */
    public void prefaultDecode(int rawLength) {
        scratch.prefault(rawLength);
    }

    /**
     * Encodes the chunk in the codec that suits it (see the class comment) into {@code dst} at 0; {@code elementSize}
     * is the width of the chunk's floats, or 0 when it does not hold floats. Returns {@code result}, filled with the
     * codec chosen and the stored length.
     */
    public Encoded encodeChoosing(ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst, Encoded result) {
        Codec codec = Codec.ZSTD;
        int compressed = ALL_PIECES;
        int probe = Math.min(len, SAMPLE_BYTES) & ~63;
        if (FloatPlanes.supports(elementSize) && probe > 0) {
            probes++;
            ByteBuffer out = sample.atLeast(Math.toIntExact(Zstd.compressBound(probe)));
            int best = compress.compressDirectByteBuffer(out, 0, out.capacity(), src, srcOff, probe);
            ByteBuffer pieces = scratch.atLeast(probe);
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
                codec = Codec.floatPlanes(elementSize);
            }
            // Exponents that cross a nibble boundary (Adam's second moments span dozens of binades) make the high
            // nibbles carry information that the low ones repeat; whole byte planes may then code them better.
            if (wideExponents && bytePlanesSample(src, srcOff, probe, elementSize, out) < best - (best >>> 7)) {
                codec = Codec.bytePlanes(elementSize);
            }
        }
        return encodeIn(codec, compressed, src, srcOff, len, elementSize, dst, result);
    }

    /**
     * As {@link #encodeChoosing}, but in {@code choice} where it may be reused ({@link CodecChoice}): no sample is
     * compressed, only the chunk in the codec chosen before (still stored {@link Codec#RAW} where that does not pay).
     * Probes as {@link #encodeChoosing} where {@code choice} is null, made for another length or level, reused
     * {@value CodecChoice#REPROBE_EVERY} times already, or where the reuse stored more than 1/32 of the raw size over
     * what the probe stored; a choice made for floats of another width (or for other data) is not reused either.
     * {@code result.choice()} is the choice to pass next time.
     */
    public Encoded encodeReusing(CodecChoice choice, ByteBuffer src, int srcOff, int len, int elementSize, ByteBuffer dst,
                                 Encoded result) {
        if (choice == null || !choice.reusableFor(level, len, elementSize)) {
            return encodeChoosing(src, srcOff, len, elementSize, dst, result);
        }
        encodeIn(choice.codec(), choice.pieces(), src, srcOff, len, elementSize, dst, result);
        if (choice.drifted(result.length())) {
            return encodeChoosing(src, srcOff, len, elementSize, dst, result);
        }
        return result.set(result.codec(), result.length(), choice.reused());
    }

    /** The chunk in {@code codec} (its pieces in {@code compressed}), or RAW where that does not pay; a new choice. */
    private Encoded encodeIn(Codec codec, int compressed, ByteBuffer src, int srcOff, int len, int elementSize,
                             ByteBuffer dst, Encoded result) {
        int n;
        int f = codec.floatPlanesWidth();
        if (f == 0) {
            n = encodeAs(codec, src, srcOff, len, dst);
        } else {
            int h = StoredChunkHeader.writeWhole(dst, 0, codec);
            n = h + encodePieces(src, srcOff, len, f, compressed, dst, h);
        }
        Codec stored = codec;
        if (codec != Codec.RAW && !pays(n, len)) {
            stored = Codec.RAW;
            n = encodeAs(Codec.RAW, src, srcOff, len, dst);
        }
        return result.set(stored, n, new CodecChoice(stored, compressed, level, len, elementSize, n, 0));
    }

    /** Chunks probed by {@link #encodeChoosing} (or {@link #encodeReusing} where it probed) since this codec was made. */
    public long probes() {
        return probes;
    }

    /** Stored bytes of the sample as {@link BytePlanes}, each plane compressed alone as in a whole chunk. */
    private int bytePlanesSample(ByteBuffer src, int srcOff, int probe, int elementSize, ByteBuffer out) {
        ByteBuffer planes = scratch.atLeast(probe);
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
        ByteBuffer pieces = scratch.atLeast(len);
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
            at += RawZstdFrame.write(pieces, off, n, dst, at);
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

    /**
     * Decodes the whole stored chunk {@code src[srcOff, srcOff+srcLen)}, whatever its codec, into
     * {@code dst[dstOff, dstOff+rawLen)}; fails unless it decodes to exactly {@code rawLen} bytes. A differential chunk
     * fails here: it decodes only onto its base ({@link XorDelta#applyInto}). Returns its codec.
     */
    public Codec decode(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
        Codec codec = StoredChunkHeader.codecOf(src, srcOff, srcLen);
        if (codec == null || codec.differential()) {
            throw new IOException("stored chunk has an unknown Cairn header");
        }
        if (codec == Codec.ZSTD) {
            decodeFrame(src, srcOff, srcLen, dst, dstOff, rawLen);
            return codec;
        }
        int h = StoredChunkHeader.LENGTH;
        if (codec == Codec.RAW) {
            decodeFrame(src, srcOff + h, srcLen - h, dst, dstOff, rawLen);
            return codec;
        }
        int f = codec.floatPlanesWidth();
        if (f != 0) {
            // The frames of the pieces decode in one call, each after the other, to the whole split.
            ByteBuffer pieces = scratch.atLeast(rawLen);
            decodeFrame(src, srcOff + h, srcLen - h, pieces, 0, rawLen);
            FloatPlanes.join(pieces, 0, rawLen, f, dst, dstOff);
            return codec;
        }
        ByteBuffer planes = scratch.atLeast(rawLen);
        decodeFrame(src, srcOff + h, srcLen - h, planes, 0, rawLen);
        BytePlanes.join(planes, 0, rawLen, codec.bytePlanesWidth(), dst, dstOff);
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

    @Override
    public void close() {
        compress.close();
        decompress.close();
        if (ownScratch != null) {
            ownScratch.close();
        }
    }
}
