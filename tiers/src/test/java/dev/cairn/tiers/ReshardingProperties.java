package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * A checkpoint saved by N ranks, each holding a slice of every global tensor, restores on M ranks cut along any
 * dimension, uneven cuts included: every M-slice equals the same slice of the global tensor.
 */
class ReshardingProperties {
    static final int CHUNK = 4096;

    /** A global tensor and how the savers and the restorers cut it. */
    record Case(DType dtype, long[] shape, int saveDim, int savers, int restoreDim, int restorers, long seed) {
        @Override
        public String toString() {
            return dtype + Arrays.toString(shape) + " saved by " + savers + " along " + saveDim + ", restored by " + restorers
                    + " along " + restoreDim;
        }
    }

    @Provide
    Arbitrary<Case> cases() {
        Arbitrary<long[]> shapes = Arbitraries.integers().between(1, 3).flatMap(rank -> Arbitraries.longs().between(0, 9)
                .array(long[].class).ofSize(rank).flatMap(s -> Arbitraries.longs().between(0, 700).flatMap(first ->
                        Arbitraries.longs().between(0, 1200).map(last -> {
                            long[] out = s.clone();
                            out[0] = first; // a long first dimension gives several chunks per slice
                            if (rank > 1 && last > 500) {
                                out[0] = first % 40; // rows longer than a chunk: chunks cut inside rows
                                out[rank - 1] = last;
                            }
                            return out;
                        }))));
        return Combinators.combine(Arbitraries.of(DType.F32, DType.BF16, DType.F64, DType.U8, DType.I16), shapes,
                        Arbitraries.integers().between(0, 2), Arbitraries.integers().between(1, 5),
                        Arbitraries.integers().between(0, 2), Arbitraries.integers().between(1, 5), Arbitraries.longs())
                .as((dtype, shape, sd, n, rd, m, seed) -> new Case(dtype, shape, sd % shape.length, n, rd % shape.length, m, seed));
    }

    @Property(tries = 40)
    void everySliceOfAnyReshardedRestoreEqualsTheGlobalTensor(@ForAll("cases") Case c) throws Exception {
        byte[] global = new byte[Math.toIntExact(Tensor.expectedBytes("g", c.dtype, c.shape))];
        new Random(c.seed).nextBytes(global);
        byte[] blob = new byte[] {1, 2, 3};
        try (ObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> savers = open(store, c.savers);
            try {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < c.savers; r++) {
                    ShardSpec s = cut(c.shape, c.saveDim, c.savers, r, c.seed);
                    TrainingState state = TrainingState.builder()
                            .add(Tensor.sharded("w", c.dtype, s, slice(global, c.shape, s, c.dtype.byteSize())))
                            .add(dev.cairn.Blob.of("meta", blob))
                            .build();
                    handles.add(savers.get(r).save(3, state));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            } finally {
                savers.forEach(Checkpointer::close);
            }
            List<Checkpointer> restorers = open(store, c.restorers);
            try {
                for (int r = 0; r < c.restorers; r++) {
                    ShardSpec want = cut(c.shape, c.restoreDim, c.restorers, r, ~c.seed);
                    Tensor target = Tensor.allocate("w", c.dtype, want);
                    TrainingState restored = restorers.get(r).restore(RestoreRequest.latest()
                            .into(TrainingState.builder().add(target).build())).state();
                    ByteBuffer expected = slice(global, c.shape, want, c.dtype.byteSize());
                    assertEquals(expected, concat(target), "slice " + want + " on rank " + r + " of " + c.restorers);
                    assertEquals(ByteBuffer.wrap(blob), ByteBuffer.wrap(restored.blob("meta").toByteArray()));
                }
            } finally {
                restorers.forEach(Checkpointer::close);
            }
        }
    }

    static List<Checkpointer> open(ObjectStore store, int ranks) {
        List<Checkpointer> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            out.add(Checkpointer.open(CairnConfig.builder("resharding").tier(TierConfig.of("mem", store).keepLast(1))
                    .chunkBytes(CHUNK).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(30))
                    .rank(r, ranks).build()));
        }
        return out;
    }

    /** Part {@code index} of {@code parts} cuts of {@code shape} along {@code dim}, at random (seeded) cut points. */
    static ShardSpec cut(long[] shape, int dim, int parts, int index, long seed) {
        long n = shape[dim];
        Random random = new Random(seed ^ (31L * parts + dim));
        long[] cuts = new long[parts + 1];
        cuts[parts] = n;
        for (int i = 1; i < parts; i++) {
            cuts[i] = random.nextInt(2) == 0 ? n * i / parts : (long) (random.nextDouble() * (n + 1));
        }
        Arrays.sort(cuts);
        long[] offsets = new long[shape.length];
        long[] lengths = shape.clone();
        offsets[dim] = cuts[index];
        lengths[dim] = cuts[index + 1] - cuts[index];
        return ShardSpec.of(shape, offsets, lengths);
    }

    /** The bytes of slice {@code s} of the row-major global tensor, in the slice's own row-major order. */
    static ByteBuffer slice(byte[] global, long[] shape, ShardSpec s, int width) {
        long[] off = s.offsets();
        long[] len = s.lengths();
        long count = 1;
        for (long l : len) {
            count *= l;
        }
        ByteBuffer out = ByteBuffer.allocateDirect(Math.toIntExact(count * width));
        long[] idx = new long[shape.length];
        for (long i = 0; i < count; i++) {
            long rest = i;
            for (int d = shape.length - 1; d >= 0; d--) {
                idx[d] = rest % len[d] + off[d];
                rest /= len[d];
            }
            long flat = 0;
            for (int d = 0; d < shape.length; d++) {
                flat = flat * shape[d] + idx[d];
            }
            out.put(global, Math.toIntExact(flat * width), width);
        }
        return out.flip();
    }

    static ByteBuffer concat(Tensor t) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(t.byteSize()));
        t.buffers().forEach(out::put);
        return out.flip();
    }
}
