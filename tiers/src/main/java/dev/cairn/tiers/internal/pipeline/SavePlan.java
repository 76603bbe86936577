package dev.cairn.tiers.internal.pipeline;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.codec.MantissaRounding;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The plan of one save, fixed before anything is written: its entries, where each is cut into chunks
 * ({@link ChunkPlan}), and which chunks are rounded (lossy optimizer state, checked here). Immutable; read by capture,
 * the encoders and the manifest. Chunk {@code i} is bytes [{@link #offset}, {@link #offset} + {@link #length}) of
 * entry {@link #entryOf}.
 */
public final class SavePlan {
    private final long step;
    private final SaveMode mode;
    private final List<Entry> entries;
    private final int chunkBytes;
    private final int rank;
    private final int worldSize;
    private final int[] entryOf;
    private final long[] offsetOf;
    private final int[] lengthOf;
    /** 0, or the relative error bound of chunk i's lossy rounding. */
    private final double[] errorBoundOf;
    /** The lossy mantissa bits for chunk i's entry, or 0 when it is stored exactly. */
    private final int[] lossyBitsOf;

    /**
     * @param lossy tensors whose whole name matches are rounded to {@code lossyBits} mantissa bits; null for none; a
     *              match that is not {@link Tensor#isOptimizerState() optimizer state} fails with INVALID_INPUT
     */
    public SavePlan(long step, TrainingState state, SaveMode mode, int chunkBytes, int rank, int worldSize, Pattern lossy,
                    int lossyBits) {
        this.step = step;
        this.mode = mode;
        this.entries = state.entries();
        this.chunkBytes = chunkBytes;
        this.rank = rank;
        this.worldSize = worldSize;
        int n = 0;
        for (Entry e : entries) {
            n = Math.addExact(n, ChunkPlan.plan(e, chunkBytes, null, null, 0));
        }
        entryOf = new int[n];
        offsetOf = new long[n];
        lengthOf = new int[n];
        int c = 0;
        for (int e = 0; e < entries.size(); e++) {
            int from = c;
            c = ChunkPlan.plan(entries.get(e), chunkBytes, offsetOf, lengthOf, c);
            Arrays.fill(entryOf, from, c, e);
        }
        errorBoundOf = new double[n];
        lossyBitsOf = new int[n];
        if (lossy != null) {
            for (int i = 0; i < n; i++) {
                if (entries.get(entryOf[i]) instanceof Tensor t && lossy.matcher(t.name()).matches()
                        && MantissaRounding.errorBound(t.dtype(), lossyBits) != 0) {
                    // Only a tensor that would be rounded needs the mark: an integer step counter named by the
                    // pattern is stored exactly either way.
                    if (!t.isOptimizerState()) {
                        throw new CheckpointException(Reason.INVALID_INPUT, "lossy pattern '" + lossy.pattern()
                                + "' matches tensor '" + t.name() + "', which is not marked as optimizer state "
                                + "(Tensor.asOptimizerState()): weights and other tensors are always stored exactly; "
                                + "nothing of step " + step + " was written");
                    }
                    errorBoundOf[i] = MantissaRounding.errorBound(t.dtype(), lossyBits);
                    lossyBitsOf[i] = errorBoundOf[i] == 0 ? 0 : lossyBits;
                }
            }
        }
    }

    public long step() {
        return step;
    }

    SaveMode mode() {
        return mode;
    }

    List<Entry> entries() {
        return entries;
    }

    int chunkBytes() {
        return chunkBytes;
    }

    int rank() {
        return rank;
    }

    int worldSize() {
        return worldSize;
    }

    public int chunkCount() {
        return entryOf.length;
    }

    /** The index of the entry chunk {@code i} belongs to. */
    int entryOf(int i) {
        return entryOf[i];
    }

    long offset(int i) {
        return offsetOf[i];
    }

    int length(int i) {
        return lengthOf[i];
    }

    double errorBound(int i) {
        return errorBoundOf[i];
    }

    int lossyBits(int i) {
        return lossyBitsOf[i];
    }

    /** The name of the entry chunk {@code i} belongs to. */
    String entryName(int i) {
        return entries.get(entryOf[i]).name();
    }

    /** The dtype of chunk {@code i}'s tensor, or null for a blob. */
    DType dtype(int i) {
        return entries.get(entryOf[i]) instanceof Tensor t ? t.dtype() : null;
    }

    /** The width of the floats chunk {@code i} holds (2, 4 or 8), or 0 when it does not hold floats. */
    int floatWidth(int i) {
        if (entries.get(entryOf[i]) instanceof Tensor t && t.dtype().isFloatingPoint()) {
            return t.dtype().byteSize();
        }
        return 0;
    }

    /** Where chunk {@code i}'s bytes start in its entry's buffers: [buffer index, position in that buffer]. */
    private long[] locate(int i) {
        long off = offsetOf[i];
        List<ByteBuffer> bufs = entries.get(entryOf[i]).buffers();
        for (int b = 0; b < bufs.size(); b++) {
            int size = bufs.get(b).remaining();
            if (off < size) {
                return new long[] {b, off};
            }
            off -= size;
        }
        throw new IllegalStateException("chunk " + i + " lies outside its entry");
    }

    /** Copies chunk {@code i}'s bytes, wherever they lie across the entry's buffers, into {@code dst} at 0. */
    void copyChunk(int i, ByteBuffer dst) {
        List<ByteBuffer> bufs = entries.get(entryOf[i]).buffers();
        long[] at = locate(i);
        int b = (int) at[0];
        int pos = (int) at[1];
        int left = lengthOf[i];
        int out = 0;
        while (left > 0) {
            ByteBuffer src = bufs.get(b);
            int n = Math.min(left, src.remaining() - pos);
            dst.put(out, src, pos, n);
            out += n;
            left -= n;
            b++;
            pos = 0;
        }
    }

}
