package dev.cairn.tiers.internal.restore;

import java.nio.ByteBuffer;
import java.util.List;

/** Writes bytes at a position of an entry that may span several buffers. */
final class Placement {
    private Placement() {
    }

    /**
     * Copies {@code src[srcPos, srcPos + length)} to byte {@code at} of the entry held in {@code dst}, in order; a
     * fault of the copy (a caller's memory map whose file was truncated) is a {@link TargetFault}.
     */
    static void put(List<ByteBuffer> dst, long at, ByteBuffer src, int srcPos, int length) {
        int b = 0;
        long off = at;
        while (b < dst.size() && off >= dst.get(b).remaining()) {
            off -= dst.get(b).remaining();
            b++;
        }
        int copied = 0;
        while (copied < length) {
            ByteBuffer d = dst.get(b);
            int n = (int) Math.min(length - copied, d.remaining() - off);
            TargetFault.copy(d, (int) off, src, srcPos + copied, n);
            copied += n;
            b++;
            off = 0;
        }
    }
}
