package dev.cairn.tiers;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.DType;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * What {@link CairnConfig.Builder#prepareFirstSave} runs at open, once per JVM: throwaway saves of a small synthetic
 * state through a private checkpointer of the same engine (its own run, one in-memory store of its own, this
 * configuration's encoder threads and a chunk of at most 1 MiB), each waited for until committed, then that
 * checkpointer closed and its memory freed. The first real save then finds the copy, pipeline, memory-tier and
 * commit code loaded and run (in {@code cairn bench --goodput}: the examples' MLP's first save stalled 30-60 ms
 * without it, against 0.5 ms for later saves). It writes nothing to the configuration's tiers. A failure is
 * ignored: nothing depends on it, and the real save meets the same cause and reports it.
 */
final class FirstSavePreparation {
    private static final AtomicBoolean DONE = new AtomicBoolean();
    private static final int MAX_CHUNK = 1 << 20;
    /** The memory store's budget: keepLast(2) of a state under 1.1 MiB, plus room for a save in flight. */
    private static final long STORE_BYTES = 16L << 20;

    private FirstSavePreparation() {
    }

    /** Runs the preparation unless a checkpointer of this JVM ran it already; returns whether it ran now. */
    static boolean runOnce(CairnConfig config) {
        if (!DONE.compareAndSet(false, true)) {
            return false;
        }
        try {
            run(config);
        } catch (RuntimeException | LinkageError | OutOfMemoryError e) {
            // see the class comment: nothing depends on it
        }
        return true;
    }

    /** The preparation itself; throws what it meets (tests). */
    static void run(CairnConfig config) {
        int chunk = Math.min(config.chunkBytes(), MAX_CHUNK);
        CairnConfig.Builder b = CairnConfig.builder("cairn-prepare-first-save")
                .chunkBytes(chunk)
                .encoderThreads(config.encoderThreads())
                .stagingBytes(CairnConfig.minimumStagingBytes(chunk, config.encoderThreads()))
                .gcGrace(Duration.ZERO);
        try (MemoryObjectStore store = new MemoryObjectStore(STORE_BYTES)) {
            b.tier(TierConfig.of("memory", store).everySteps(1).keepLast(2));
            try (CairnCheckpointer cp = new CairnCheckpointer(b.build())) {
                Synthetic state = new Synthetic(chunk);
                for (int step = 1; step <= CairnConfig.PREPARE_SAVES; step++) {
                    state.change(step);
                    // Both modes: COPY stages on this thread, ZERO_COPY on the capture thread (a first overlapped save
                    // stalled 26 ms when only COPY had run).
                    cp.save(step, state.build(step), step % 2 == 0 ? SaveMode.COPY : SaveMode.ZERO_COPY).done().join();
                }
            }
        }
    }

    /**
     * A state shaped like a small model's: a weight of about one chunk and its optimizer moments, biases of a few
     * floats to a few KiB (each its own chunk), a step blob. Every save changes the weights and moments (new chunks,
     * as training does) and leaves one bias alone (a chunk found held).
     */
    private static final class Synthetic {
        private final ByteBuffer weight;
        private final ByteBuffer first;
        private final ByteBuffer second;
        private final ByteBuffer[] biases;
        private final SplittableRandom random = new SplittableRandom(17);

        Synthetic(int chunk) {
            int floats = Math.max(1, chunk / 4 - 64);
            this.weight = floats(floats);
            this.first = floats(floats);
            this.second = floats(floats);
            this.biases = new ByteBuffer[] {floats(8), floats(128), floats(512), floats(1024)};
        }

        private static ByteBuffer floats(int n) {
            return ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        }

        void change(int step) {
            for (ByteBuffer b : new ByteBuffer[] {weight, first, second, biases[1], biases[2], biases[3]}) {
                for (int i = 0; i < b.capacity(); i += 4) {
                    b.putFloat(i, (float) (random.nextGaussian() * 0.02 + step));
                }
            }
        }

        TrainingState build(int step) {
            TrainingState.Builder b = TrainingState.builder()
                    .add(Tensor.of("param/w", DType.F32, new long[] {weight.capacity() / 4}, weight))
                    .add(Tensor.of("optim/m/w", DType.F32, new long[] {first.capacity() / 4}, first).asOptimizerState())
                    .add(Tensor.of("optim/v/w", DType.F32, new long[] {second.capacity() / 4}, second).asOptimizerState());
            for (int i = 0; i < biases.length; i++) {
                b.add(Tensor.of("param/b" + i, DType.F32, new long[] {biases[i].capacity() / 4}, biases[i]));
            }
            return b.add(Blob.of("train/step", ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(step).array()))
                    .build();
        }
    }
}
