package dev.cairn.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.Batchifier;
import ai.djl.util.Progress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;

/**
 * A data loader with state of its own, as real ones have: a fixed pool of regression batches (a pure function of
 * the seed and the batch's index), visited in a new order every epoch, drawn from a SplitMix64 generator whose
 * state carries from one epoch to the next. Its whole state is that generator's state at the start of the current
 * epoch and the position within the epoch; it hands both to {@link CairnTrainingListener} as a {@link UserState}.
 */
final class ShuffledBatches implements Dataset, UserState {
    static final int FEATURES = 8;
    static final int OUTPUTS = 4;
    static final int BATCH = 16;
    static final String RNG = "data-rng";
    static final String NEXT = "data-next";

    private final long seed;
    private final int batchesPerEpoch;
    private long rngAtEpochStart;
    private int nextInEpoch;

    ShuffledBatches(long seed, int batchesPerEpoch) {
        this.seed = seed;
        this.batchesPerEpoch = batchesPerEpoch;
        this.rngAtEpochStart = seed ^ 0x5DEECE66DL;
    }

    int batchesPerEpoch() {
        return batchesPerEpoch;
    }

    @Override
    public Iterable<Batch> getData(NDManager manager) {
        return () -> new EpochIterator(manager);
    }

    @Override
    public void prepare(Progress progress) {
    }

    @Override
    public Map<String, byte[]> capture(TrainingPosition next) {
        return Map.of(RNG, i64(rngAtEpochStart), NEXT, i64(next.batchInEpoch()));
    }

    @Override
    public void restore(TrainingPosition next, Map<String, byte[]> saved) {
        long position = readI64(saved.get(NEXT));
        if (position != next.batchInEpoch() || position > batchesPerEpoch) {
            throw new IllegalStateException("saved loader position " + position + " does not fit " + next);
        }
        this.rngAtEpochStart = readI64(saved.get(RNG));
        this.nextInEpoch = Math.toIntExact(position);
    }

    /** The rest of the current epoch; when it is used up the generator's state moves on to the next epoch's. */
    private final class EpochIterator implements Iterator<Batch> {
        private final NDManager manager;
        private final int[] order = new int[batchesPerEpoch];
        private final long rngAfterDraw;
        private boolean finished;

        EpochIterator(NDManager manager) {
            this.manager = manager;
            long state = rngAtEpochStart;
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            for (int i = order.length - 1; i > 0; i--) { // Fisher-Yates
                state += 0x9E3779B97F4A7C15L;
                int j = (int) Long.remainderUnsigned(mix(state), i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            this.rngAfterDraw = state;
        }

        @Override
        public boolean hasNext() {
            if (nextInEpoch < batchesPerEpoch) {
                return true;
            }
            if (!finished) {
                finished = true;
                rngAtEpochStart = rngAfterDraw;
                nextInEpoch = 0;
            }
            return false;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            int index = order[nextInEpoch++];
            return batch(manager, index, nextInEpoch);
        }
    }

    private Batch batch(NDManager parent, int index, int progress) {
        SplittableRandom r = new SplittableRandom(seed * 31 + index);
        float[] x = new float[BATCH * FEATURES];
        float[] y = new float[BATCH * OUTPUTS];
        for (int b = 0; b < BATCH; b++) {
            double z = 0;
            for (int i = 0; i < FEATURES; i++) {
                float v = (float) (2 * r.nextDouble() - 1);
                x[b * FEATURES + i] = v;
                z += v * (i + 1) / (double) FEATURES;
            }
            for (int o = 0; o < OUTPUTS; o++) {
                y[b * OUTPUTS + o] = (float) StrictMath.sin(z + o);
            }
        }
        NDManager manager = parent.newSubManager();
        NDArray data = manager.create(x, new Shape(BATCH, FEATURES));
        NDArray labels = manager.create(y, new Shape(BATCH, OUTPUTS));
        return new Batch(manager, new NDList(data), new NDList(labels), BATCH, Batchifier.STACK, Batchifier.STACK,
                progress, batchesPerEpoch);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static byte[] i64(long v) {
        return ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    static long readI64(byte[] bytes) {
        if (bytes == null || bytes.length != Long.BYTES) {
            throw new IllegalStateException("expected 8 bytes of loader state");
        }
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }
}
