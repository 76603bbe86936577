package dev.cairn.tiers.internal.restore;

import dev.cairn.ShardSpec;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Copies the part of one saved chunk that a restore target's slice needs. A saved slice and a target slice are
 * boxes in the global tensor; their intersection is copied run by run, a run being contiguous along the last
 * dimension in both (row-major) layouts, and only the runs (or parts of runs) that lie inside the chunk's bytes.
 * Chunks are cut on row boundaries of the first dimension ({@code ChunkPlan}), so the runs of one chunk are those of
 * a few rows.
 */
final class SliceCopy {
    private final ShardSpec source;
    private final ShardSpec target;
    private final int elementBytes;
    private final long[] lo;
    private final long[] hi;

    private SliceCopy(ShardSpec source, ShardSpec target, int elementBytes, long[] lo, long[] hi) {
        this.source = source;
        this.target = target;
        this.elementBytes = elementBytes;
        this.lo = lo;
        this.hi = hi;
    }

    /** The copy from {@code source} into {@code target}, or null when the two slices do not overlap. */
    static SliceCopy between(ShardSpec source, ShardSpec target, int elementBytes) {
        int d = source.dimensions();
        long[] so = source.offsets();
        long[] sl = source.lengths();
        long[] to = target.offsets();
        long[] tl = target.lengths();
        long[] lo = new long[d];
        long[] hi = new long[d];
        for (int i = 0; i < d; i++) {
            lo[i] = Math.max(so[i], to[i]);
            hi[i] = Math.min(so[i] + sl[i], to[i] + tl[i]);
            if (lo[i] >= hi[i]) {
                return null;
            }
        }
        return new SliceCopy(source, target, elementBytes, lo, hi);
    }

    /** Elements in the overlap. */
    long volume() {
        long v = 1;
        for (int i = 0; i < lo.length; i++) {
            v *= hi[i] - lo[i];
        }
        return v;
    }

    /** Whether saved bytes {@code [offset, offset + length)} of the source slice hold any element of the overlap. */
    boolean touches(long offset, long length) {
        if (lo.length == 0) {
            return true;
        }
        long rowBytes = rowElements(source.lengths()) * elementBytes;
        if (rowBytes == 0) {
            return false;
        }
        long firstRow = source.offsets()[0] + offset / rowBytes;
        long lastRow = source.offsets()[0] + (offset + length - 1) / rowBytes;
        return firstRow < hi[0] && lastRow >= lo[0];
    }

    /**
     * Copies the overlap's elements that lie in {@code raw[rawPos, rawPos + length)}, which holds the source slice's
     * bytes {@code [offset, offset + length)}, into the target's buffers.
     */
    void copy(ByteBuffer raw, int rawPos, long offset, int length, List<ByteBuffer> dst) {
        int d = lo.length;
        if (d == 0) {
            Placement.put(dst, 0, raw, rawPos, length);
            return;
        }
        long[] sLen = source.lengths();
        long[] sOff = source.offsets();
        long[] tLen = target.lengths();
        long[] tOff = target.offsets();
        long runElements = hi[d - 1] - lo[d - 1];
        long end = offset + length;
        long rowBytes = rowElements(sLen) * elementBytes;
        // With one dimension the overlap is a single run, clipped to the chunk below.
        long firstRow = d == 1 ? lo[0] : Math.max(lo[0], sOff[0] + offset / rowBytes);
        long lastRow = d == 1 ? lo[0] : Math.min(hi[0] - 1, sOff[0] + (end - 1) / rowBytes);
        long[] idx = lo.clone();
        idx[0] = firstRow;
        while (idx[0] <= lastRow) {
            long src = 0;
            long tgt = 0;
            for (int i = 0; i < d; i++) {
                src = src * sLen[i] + (idx[i] - sOff[i]);
                tgt = tgt * tLen[i] + (idx[i] - tOff[i]);
            }
            long runStart = src * elementBytes;
            long runEnd = runStart + runElements * elementBytes;
            long from = Math.max(runStart, offset);
            long to = Math.min(runEnd, end);
            if (from < to) {
                Placement.put(dst, tgt * elementBytes + (from - runStart), raw, rawPos + (int) (from - offset), (int) (to - from));
            }
            // Next run: odometer over dimensions 0 .. d-2 within the overlap.
            int i = d - 2;
            for (; i >= 0; i--) {
                if (++idx[i] < hi[i] || i == 0) {
                    break;
                }
                idx[i] = lo[i];
            }
            if (i < 0) {
                break;
            }
        }
    }

    private static long rowElements(long[] shape) {
        long n = 1;
        for (int i = 1; i < shape.length; i++) {
            n *= shape[i];
        }
        return n;
    }
}
