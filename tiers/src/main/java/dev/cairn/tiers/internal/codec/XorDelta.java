package dev.cairn.tiers.internal.codec;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Differential chunks: codec {@link Codec#XOR}, a chunk kept as the XOR of its raw bytes with the raw bytes of a base
 * chunk of the same length (its previous version), compressed with zstd, after a {@link StoredChunkHeader} that names
 * the base ({@link StoredChunkHeader#DELTA_LENGTH} bytes). Where a tensor changed little the XOR is mostly zero bytes,
 * which zstd shrinks by one to two orders of magnitude.
 *
 * <p>The header names the base, so a reader follows the chain from the stored bytes alone: the base is itself a chunk
 * of the same store, whole or differential, until a whole one ends the chain. A reader checks the content hash of
 * every link it materializes. One instance per thread: it owns zstd contexts and uses scratch.
 */
public final class XorDelta implements AutoCloseable {
    private final ZstdCompressCtx compress = new ZstdCompressCtx();
    private final ZstdDecompressCtx decompress = new ZstdDecompressCtx();
    /** The scratch this instance made for itself, closed with it; null when its owner's scratch holds its buffer. */
    private final Scratch ownScratch;
    private final Scratch.Buffer scratch;

    /** Differences at zstd {@code level} with scratch of their own, freed by {@link #close}. */
    public XorDelta(int level) {
        this(level, Scratch.standalone("xor-delta"), true);
    }

    /** Differences at zstd {@code level} whose buffer belongs to {@code scratch} (closed by its owner, after this). */
    public XorDelta(int level, Scratch scratch) {
        this(level, scratch, false);
    }

    private XorDelta(int level, Scratch scratch, boolean owned) {
        this.ownScratch = owned ? scratch : null;
        this.scratch = scratch.buffer();
        compress.setLevel(level);
        compress.setContentSize(true);
        compress.setChecksum(false);
    }

    /**
     * Stores {@code current[curOff, curOff+len)} as its XOR with {@code base[baseOff, baseOff+len)} into {@code dst} at
     * 0, naming {@code baseHash}; returns the stored length, or -1 when it would not fit in {@code limit} bytes (then it
     * does not pay).
     */
    public int encode(ByteBuffer current, int curOff, ByteBuffer base, int baseOff, int len, String baseHash, ByteBuffer dst,
                      int limit) {
        int h = StoredChunkHeader.DELTA_LENGTH;
        int room = Math.min(limit, dst.capacity()) - h;
        if (room <= 0) {
            return -1;
        }
        ByteBuffer x = scratch.atLeast(len);
        xor(current, curOff, base, baseOff, x, 0, len);
        StoredChunkHeader.writeDelta(dst, 0, baseHash);
        try {
            return h + compress.compressDirectByteBuffer(dst, h, room, x, 0, len);
        } catch (RuntimeException tooSmall) {
            return -1;
        }
    }

    /**
     * Applies the differential chunk {@code src[srcOff, srcOff+srcLen)} to {@code dst[dstOff, dstOff+rawLen)}, which
     * holds its base's raw bytes: afterwards it holds the chunk's raw bytes.
     */
    public void applyInto(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
        if (!StoredChunkHeader.isDelta(src, srcOff, srcLen)) {
            throw new IOException("stored chunk is not differential");
        }
        int h = StoredChunkHeader.DELTA_LENGTH;
        ByteBuffer x = scratch.atLeast(rawLen);
        int n;
        try {
            n = decompress.decompressDirectByteBuffer(x, 0, rawLen, src, srcOff + h, srcLen - h);
        } catch (RuntimeException e) {
            throw new IOException("zstd frame of a differential chunk does not decode: " + e.getMessage(), e);
        }
        if (n != rawLen) {
            throw new IOException("differential chunk decodes to " + n + " bytes, expected " + rawLen);
        }
        xor(dst, dstOff, x, 0, dst, dstOff, rawLen);
    }

    /** {@code out[outOff + i] = a[aOff + i] ^ b[bOff + i]} for {@code i < len}, eight bytes at a time. */
    static void xor(ByteBuffer a, int aOff, ByteBuffer b, int bOff, ByteBuffer out, int outOff, int len) {
        ByteBuffer x = a.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer y = b.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer o = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            o.putLong(outOff + i, x.getLong(aOff + i) ^ y.getLong(bOff + i));
        }
        for (; i < len; i++) {
            o.put(outOff + i, (byte) (x.get(aOff + i) ^ y.get(bOff + i)));
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
