package dev.cairn.tiers.internal.pipeline;

import dev.cairn.Entry;
import dev.cairn.Tensor;

/**
 * Where an entry is cut into chunks. A tensor is cut on boundaries of its rows (the slices along its first
 * dimension): as many whole rows as fit in {@code chunkBytes}, or, when one row is larger, each row on its own in
 * pieces of {@code chunkBytes}. A restore that wants some rows of a tensor (another rank count, another split)
 * then reads only the chunks of those rows and never decodes beyond them. Blobs and scalars are cut every
 * {@code chunkBytes}.
 */
public final class ChunkPlan {
    private ChunkPlan() {
    }

    /**
     * Plans {@code e}'s chunks into {@code offsets} and {@code lengths} from index {@code at} and returns the index
     * after the last; with null arrays only counts.
     */
    public static int plan(Entry e, int chunkBytes, long[] offsets, int[] lengths, int at) {
        long size = e.byteSize();
        long row = rowBytes(e);
        long step;
        if (row <= 0 || row == size) {
            step = chunkBytes;
            row = size;
        } else if (row <= chunkBytes) {
            step = chunkBytes / row * row;
            row = size;
        } else {
            step = chunkBytes;
        }
        int c = at;
        for (long rowStart = 0; rowStart < size; rowStart += row) {
            long rowEnd = Math.min(size, rowStart + row);
            for (long off = rowStart; off < rowEnd; off += step, c++) {
                if (offsets != null) {
                    offsets[c] = off;
                    lengths[c] = (int) Math.min(step, rowEnd - off);
                }
            }
        }
        return c;
    }

    /** Bytes of one row (first-dimension slice) of a tensor with at least one dimension; 0 otherwise. */
    private static long rowBytes(Entry e) {
        if (!(e instanceof Tensor t) || t.shape().length == 0 || t.shape()[0] == 0) {
            return 0;
        }
        return t.byteSize() / t.shape()[0];
    }
}
