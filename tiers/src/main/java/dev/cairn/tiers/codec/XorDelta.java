package dev.cairn.tiers.codec;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Differential chunks: the stored form {@value #CODEC}, a chunk kept as the XOR of its raw bytes with the raw bytes
 * of a base chunk of the same length (its previous version), compressed with zstd. Where a tensor changed little the
 * XOR is mostly zero bytes, which zstd shrinks by one to two orders of magnitude.
 * <pre>
 *   0          4          8     11   12                            28
 *   +----------+----------+-----+----+-----------------------------+-------------------------------+
 *   | 5C2A4D18 | 14000000 | CRN | x  | base content hash, 16 bytes | zstd frame of raw XOR base    |
 *   +----------+----------+-----+----+-----------------------------+-------------------------------+
 *   skippable frame (magic 0x184D2A5C, 20 bytes of user data), which zstd tools skip, then one zstd frame.
 * </pre>
 * The header names the base, so a reader follows the chain from the stored bytes alone: the base is itself a chunk
 * of the same store, whole or differential, until a whole one ends the chain. A reader checks the content hash of
 * every link it materializes. One instance per thread: it owns zstd contexts and scratch.
 */
public final class XorDelta implements AutoCloseable {
    /** The codec name recorded in manifests. */
    public static final String CODEC = "xor+zstd";
    /** Bytes before the zstd frame. */
    public static final int HEADER_BYTES = 28;
    private static final int USER_DATA_BYTES = 20;
    private static final byte ID = 'x';

    private final ZstdCompressCtx compress = new ZstdCompressCtx();
    private final ZstdDecompressCtx decompress = new ZstdDecompressCtx();
    private ByteBuffer scratch = ByteBuffer.allocateDirect(0);

    public XorDelta(int level) {
        compress.setLevel(level);
        compress.setContentSize(true);
        compress.setChecksum(false);
    }

    /** Whether {@code src[off, off+len)} starts with the differential header. */
    public static boolean isDelta(ByteBuffer src, int off, int len) {
        ByteBuffer b = src.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        return len >= HEADER_BYTES && b.getInt(off) == StoredChunkFormat.SKIPPABLE_MAGIC && b.getInt(off + 4) == USER_DATA_BYTES
                && b.get(off + 8) == 'C' && b.get(off + 9) == 'R' && b.get(off + 10) == 'N' && b.get(off + 11) == ID;
    }

    /** The content hash of the base a differential chunk names, as hex. */
    public static String baseOf(ByteBuffer src, int off, int len) throws IOException {
        if (!isDelta(src, off, len)) {
            throw new IOException("stored chunk is not differential");
        }
        ByteBuffer b = src.duplicate().order(ByteOrder.BIG_ENDIAN);
        long hi = b.getLong(off + 12);
        long lo = b.getLong(off + 20);
        return String.format("%016x%016x", hi, lo);
    }

    /**
     * Stores {@code current[curOff, curOff+len)} as its XOR with {@code base[baseOff, baseOff+len)} into {@code dst} at
     * 0, naming {@code baseHash}; returns the stored length, or -1 when it would not fit in {@code limit} bytes (then it
     * does not pay).
     */
    public int encode(ByteBuffer current, int curOff, ByteBuffer base, int baseOff, int len, String baseHash, ByteBuffer dst,
                      int limit) {
        int room = Math.min(limit, dst.capacity()) - HEADER_BYTES;
        if (room <= 0) {
            return -1;
        }
        ByteBuffer x = scratch(len);
        xor(current, curOff, base, baseOff, x, 0, len);
        writeHeader(dst, baseHash);
        try {
            return HEADER_BYTES + compress.compressDirectByteBuffer(dst, HEADER_BYTES, room, x, 0, len);
        } catch (RuntimeException tooSmall) {
            return -1;
        }
    }

    /**
     * Applies the differential chunk {@code src[srcOff, srcOff+srcLen)} to {@code dst[dstOff, dstOff+rawLen)}, which
     * holds its base's raw bytes: afterwards it holds the chunk's raw bytes.
     */
    public void applyInto(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
        if (!isDelta(src, srcOff, srcLen)) {
            throw new IOException("stored chunk is not differential");
        }
        ByteBuffer x = scratch(rawLen);
        int n;
        try {
            n = decompress.decompressDirectByteBuffer(x, 0, rawLen, src, srcOff + HEADER_BYTES, srcLen - HEADER_BYTES);
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

    private static void writeHeader(ByteBuffer dst, String baseHash) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, StoredChunkFormat.SKIPPABLE_MAGIC);
        b.putInt(4, USER_DATA_BYTES);
        b.put(8, (byte) 'C');
        b.put(9, (byte) 'R');
        b.put(10, (byte) 'N');
        b.put(11, ID);
        b.order(ByteOrder.BIG_ENDIAN);
        b.putLong(12, Long.parseUnsignedLong(baseHash.substring(0, 16), 16));
        b.putLong(20, Long.parseUnsignedLong(baseHash.substring(16), 16));
    }

    private ByteBuffer scratch(int capacity) {
        if (scratch.capacity() < capacity) {
            scratch = ByteBuffer.allocateDirect(capacity);
        }
        return scratch;
    }

    @Override
    public void close() {
        compress.close();
        decompress.close();
    }
}
