package dev.cairn.tiers.codec;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * zstd on direct buffers with a reusable context: one instance per thread (contexts are not thread-safe).
 * The output is a standard zstd frame with the content size in its header, readable by the {@code zstd} tool.
 */
public final class ChunkCodec implements AutoCloseable {
    /** The codec name recorded in manifests. */
    public static final String ZSTD = "zstd";

    private final ZstdCompressCtx compress = new ZstdCompressCtx();
    private final ZstdDecompressCtx decompress = new ZstdDecompressCtx();

    public ChunkCodec(int level) {
        compress.setLevel(level);
        compress.setContentSize(true);
        compress.setChecksum(false);
    }

    /** Worst-case stored size of a chunk of {@code rawBytes}. */
    public static int maxEncodedBytes(int rawBytes) {
        return (int) Zstd.compressBound(rawBytes);
    }

    /** Compresses {@code src[srcOff, srcOff+len)} into {@code dst} at 0; returns the frame's length. Both direct. */
    public int encode(ByteBuffer src, int srcOff, int len, ByteBuffer dst) {
        return compress.compressDirectByteBuffer(dst, 0, dst.capacity(), src, srcOff, len);
    }

    /**
     * Decompresses the frame {@code src[srcOff, srcOff+srcLen)} into {@code dst[dstOff, dstOff+rawLen)}; fails unless
     * the frame decodes to exactly {@code rawLen} bytes.
     */
    public void decode(ByteBuffer src, int srcOff, int srcLen, ByteBuffer dst, int dstOff, int rawLen) throws IOException {
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
    }
}
