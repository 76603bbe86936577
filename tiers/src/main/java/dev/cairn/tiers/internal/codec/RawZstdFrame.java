package dev.cairn.tiers.internal.codec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Descriptor of the zstd frame of raw (uncompressed) blocks that stores bytes which do not compress (codec
 * {@link Codec#RAW}, and the mantissa pieces of a {@link FloatPlanes} split): a standard frame (RFC 8878) that any
 * zstd reader decodes, written by a copy instead of a compression.
 * <pre>
 *   0          4    5                        13
 *   +----------+----+------------------------+-------+---------------+-------+---------------+----
 *   | FD2FB528 | E0 | content size, 8 bytes  | block | block bytes   | block | block bytes   | ...
 *   +----------+----+------------------------+-------+---------------+-------+---------------+----
 *   magic (LE); frame header descriptor 0xE0: single segment, 8-byte content size (LE), no checksum, no dictionary;
 *   then blocks of at most MAX_BLOCK bytes, each after a 3-byte little-endian block header:
 *   bit 0 last block, bits 1-2 block type (0: raw), bits 3-23 block size. At least one block, empty when len is 0.
 * </pre>
 */
final class RawZstdFrame {
    static final int MAGIC = 0xFD2FB528;
    static final int MAGIC_OFFSET = 0;
    static final int DESCRIPTOR_OFFSET = 4;
    /** Single segment (bit 5) and an 8-byte content size (bits 6-7). */
    static final byte DESCRIPTOR = (byte) 0xE0;
    static final int CONTENT_SIZE_OFFSET = 5;
    static final int HEADER_LENGTH = 13;
    static final int BLOCK_HEADER_LENGTH = 3;
    static final int MAX_BLOCK = 128 << 10;
    private static final int LAST_BLOCK = 1;
    private static final int SIZE_SHIFT = 3;

    private RawZstdFrame() {
    }

    /** Bytes {@link #write} takes for {@code len} raw bytes. */
    static long length(long len) {
        long blocks = Math.max(1, (len + MAX_BLOCK - 1) / MAX_BLOCK);
        return HEADER_LENGTH + BLOCK_HEADER_LENGTH * blocks + len;
    }

    /** Writes the frame of {@code src[srcOff, srcOff+len)} at {@code dst[dstOff]}; returns its length. */
    static int write(ByteBuffer src, int srcOff, int len, ByteBuffer dst, int dstOff) {
        ByteBuffer b = dst.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(dstOff + MAGIC_OFFSET, MAGIC);
        b.put(dstOff + DESCRIPTOR_OFFSET, DESCRIPTOR);
        b.putLong(dstOff + CONTENT_SIZE_OFFSET, len);
        int at = dstOff + HEADER_LENGTH;
        int done = 0;
        do {
            int n = Math.min(MAX_BLOCK, len - done);
            writeBlockHeader(b, at, n, done + n == len);
            at += BLOCK_HEADER_LENGTH;
            if (n > 0) {
                dst.put(at, src, srcOff + done, n);
            }
            at += n;
            done += n;
        } while (done < len);
        return at - dstOff;
    }

    /**
     * The same frame as {@link #write}, after {@code prefix} (a stored chunk's header), as buffers to be stored one
     * after the other, without copying the raw bytes: the headers in small heap buffers, each block's bytes a view of
     * {@code src}, which must stay unchanged until they are stored. For a store that copies each part into place
     * ({@code ObjectStore.putIfAbsentGathered}).
     */
    static ByteBuffer[] parts(byte[] prefix, ByteBuffer src, int srcOff, int len) {
        int blocks = (int) Math.max(1, (len + (long) MAX_BLOCK - 1) / MAX_BLOCK);
        ByteBuffer headers = ByteBuffer.allocate(prefix.length + HEADER_LENGTH + BLOCK_HEADER_LENGTH * blocks)
                .order(ByteOrder.LITTLE_ENDIAN);
        headers.put(0, prefix);
        int frame = prefix.length;
        headers.putInt(frame + MAGIC_OFFSET, MAGIC);
        headers.put(frame + DESCRIPTOR_OFFSET, DESCRIPTOR);
        headers.putLong(frame + CONTENT_SIZE_OFFSET, len);
        ByteBuffer[] parts = new ByteBuffer[len == 0 ? 1 : 2 * blocks];
        int at = frame + HEADER_LENGTH;
        int done = 0;
        for (int k = 0; k < blocks; k++) {
            int n = Math.min(MAX_BLOCK, len - done);
            writeBlockHeader(headers, at, n, k == blocks - 1);
            // The first block's header goes with the chunk's and the frame's, each later one alone.
            int start = k == 0 ? 0 : at;
            at += BLOCK_HEADER_LENGTH;
            parts[k == 0 ? 0 : 2 * k] = headers.slice(start, at - start);
            if (n > 0) {
                parts[2 * k + 1] = src.slice(srcOff + done, n);
            }
            done += n;
        }
        return parts;
    }

    /** Block type 0 (raw) of {@code n} bytes, at {@code b[at, at+3)}. */
    private static void writeBlockHeader(ByteBuffer b, int at, int n, boolean last) {
        int header = (last ? LAST_BLOCK : 0) | (n << SIZE_SHIFT);
        b.put(at, (byte) header);
        b.put(at + 1, (byte) (header >>> 8));
        b.put(at + 2, (byte) (header >>> 16));
    }
}
