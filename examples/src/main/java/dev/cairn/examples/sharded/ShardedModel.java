package dev.cairn.examples.sharded;

import dev.cairn.Blob;
import dev.cairn.DType;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The state of a tensor-parallel training job, one rank's share of it, and a deterministic update step. Weights are
 * split by rows ({@code layer1.w}, and its Adam moment {@code layer1.m}) or by columns ({@code layer2.w}) across the
 * ranks; the embedding is replicated on every rank (data-parallel style: equal bytes); each rank has its own RNG
 * state (a per-rank blob) that perturbs its own slices, so a replacement rank continues identically only if it got
 * its slices and its RNG back. The update is elementwise in float arithmetic, so any rank count computes the same
 * bits for the same global element: the reference is the same code run on one rank's view of everything.
 */
public final class ShardedModel {
    /** A global tensor and the dimension it is split along (-1: replicated). */
    record Spec(String name, long[] shape, int splitDim) {
    }

    private final List<Spec> specs;
    private final int rank;
    private final int world;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private long rngState;
    private long step;

    /** Rank {@code rank} of {@code world} at step 0, the global tensors scaled by {@code scale} (1 = about 6 MiB). */
    public ShardedModel(int rank, int world, int scale) {
        this.rank = rank;
        this.world = world;
        this.specs = List.of(
                new Spec("layer1.w", new long[] {1024L * scale, 512}, 0),
                new Spec("layer1.m", new long[] {1024L * scale, 512}, 0),
                new Spec("layer2.w", new long[] {512, 1024L * scale}, 1),
                new Spec("embed", new long[] {256, 256}, -1));
        this.rngState = 0x9E3779B97F4A7C15L * (rank + 1);
        for (Spec s : specs) {
            ShardSpec shard = s.splitDim < 0 ? ShardSpec.whole(s.shape) : ShardSpec.split(s.shape, s.splitDim, world, rank);
            Tensor t = shard.isWhole() ? Tensor.allocate(s.name, DType.F32, s.shape) : Tensor.allocate(s.name, DType.F32, shard);
            tensors.put(s.name, t);
            fill(t, shard, 0);
        }
    }

    /** Advances one step: every element moves by a function of its global index, the step and this rank's RNG. */
    public void step() {
        step++;
        rngState = mix(rngState + step);
        float noise = (rngState >>> 40) * 1e-9f;
        for (Spec s : specs) {
            Tensor t = tensors.get(s.name);
            ShardSpec shard = t.shard();
            ByteBuffer b = t.buffers().get(0).order(ByteOrder.LITTLE_ENDIAN);
            long[] idx = new long[shard.dimensions()];
            Place place = new Place(shard);
            long count = b.remaining() / 4;
            for (int i = 0; i < count; i++) {
                long g = place.globalIndex(i, idx);
                float w = b.getFloat(i * 4);
                // Replicated tensors must stay equal on every rank: no per-rank noise there.
                float n = s.splitDim < 0 ? 0f : noise;
                b.putFloat(i * 4, w * 0.995f + (float) Math.sin(step * 0.1 + g * 1e-3) * 0.01f + n);
            }
        }
    }

    /** What a checkpoint holds: the slices, this rank's RNG state and the global step. */
    public TrainingState state() {
        TrainingState.Builder b = TrainingState.builder();
        tensors.values().forEach(b::add);
        b.add(Blob.perRank("rng", ByteBuffer.allocate(8).putLong(0, rngState)));
        b.add(Blob.of("step", ByteBuffer.allocate(8).putLong(0, step)));
        return b.build();
    }

    /** Restore targets: this rank's slices, to be filled in place. */
    public TrainingState targets() {
        TrainingState.Builder b = TrainingState.builder();
        tensors.values().forEach(b::add);
        return b.build();
    }

    /** Takes the blobs of a restored state (the tensors were restored in place). */
    public void restored(TrainingState s) {
        step = ByteBuffer.wrap(s.blob("step").toByteArray()).getLong();
        rngState = ByteBuffer.wrap(s.blob("rng").toByteArray()).getLong();
    }

    public long currentStep() {
        return step;
    }

    public int rank() {
        return rank;
    }

    public int world() {
        return world;
    }

    /** SHA-256 (first 16 hex digits) of each slice's bytes, by tensor name. */
    public Map<String, String> digests() {
        Map<String, String> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> out.put(name, digest(t.buffers().get(0))));
        return out;
    }

    /** The slice of {@code name} that {@code shard} selects out of this (whole, one-rank) model's tensor, digested. */
    public String digestOfSlice(String name, ShardSpec shard) {
        Tensor whole = tensors.get(name);
        ByteBuffer src = whole.buffers().get(0);
        long count = 1;
        for (long l : shard.lengths()) {
            count *= l;
        }
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(count * 4)).order(ByteOrder.LITTLE_ENDIAN);
        long[] idx = new long[shard.dimensions()];
        Place place = new Place(shard); // the shard's global shape is the whole tensor's
        for (long i = 0; i < count; i++) {
            out.putInt(src.getInt(Math.toIntExact(place.globalIndex(i, idx) * 4)));
        }
        return digest(out.flip());
    }

    /** The shard rank {@code r} of {@code w} holds of tensor {@code name}. */
    public ShardSpec shardOf(String name, int r, int w) {
        for (Spec s : specs) {
            if (s.name.equals(name)) {
                return s.splitDim < 0 ? ShardSpec.whole(s.shape) : ShardSpec.split(s.shape, s.splitDim, w, r);
            }
        }
        throw new IllegalArgumentException(name);
    }

    public List<String> tensorNames() {
        return List.copyOf(tensors.keySet());
    }

    /**
     * The reference: the model of {@code world} ranks after {@code steps} steps, computed on one rank's view of every
     * global tensor. Each rank's noise is added to the rows or columns that rank holds.
     */
    public static ShardedModel reference(int world, int scale, long steps) {
        Reference run = new Reference(world, scale);
        while (run.model().currentStep() < steps) {
            run.step();
        }
        return run.model();
    }

    /**
     * {@link #reference} one step at a time, for a test that checks many steps of one long run: the model it holds
     * is at {@link ShardedModel#currentStep()}, and {@link #rngOf} gives each rank's RNG state there.
     */
    public static final class Reference {
        private final ShardedModel whole;
        private final long[] rng;
        /** Per split tensor: the rank that holds each index along its split dimension. */
        private final Map<String, int[]> owners = new java.util.HashMap<>();

        public Reference(int world, int scale) {
            this.whole = new ShardedModel(0, 1, scale);
            for (Spec s : whole.specs) {
                if (s.splitDim >= 0) {
                    int[] o = new int[Math.toIntExact(s.shape[s.splitDim])];
                    long[] idx = new long[s.shape.length];
                    for (int i = 0; i < o.length; i++) {
                        idx[s.splitDim] = i;
                        o[i] = owner(s, idx, world);
                    }
                    owners.put(s.name, o);
                }
            }
            this.rng = new long[world];
            for (int r = 0; r < world; r++) {
                rng[r] = 0x9E3779B97F4A7C15L * (r + 1);
            }
            whole.rngState = rng[0];
        }

        /** The whole model at the current step (its RNG state is rank 0's). */
        public ShardedModel model() {
            return whole;
        }

        /** The RNG state rank {@code rank} saves at the current step. */
        public long rngOf(int rank) {
            return rng[rank];
        }

        /** Advances every rank's share of the model by one step. */
        public void step() {
            int world = rng.length;
            long t = whole.step + 1;
            whole.step = t;
            float[] noise = new float[world];
            for (int r = 0; r < world; r++) {
                rng[r] = mix(rng[r] + t);
                noise[r] = (rng[r] >>> 40) * 1e-9f;
            }
            for (Spec s : whole.specs) {
                Tensor tensor = whole.tensors.get(s.name);
                ShardSpec all = tensor.shard();
                ByteBuffer b = tensor.buffers().get(0).order(ByteOrder.LITTLE_ENDIAN);
                long[] idx = new long[all.dimensions()];
                Place place = new Place(all);
                int[] owner = owners.get(s.name);
                long count = b.remaining() / 4;
                for (int i = 0; i < count; i++) {
                    long g = place.globalIndex(i, idx);
                    float n = s.splitDim < 0 ? 0f : noise[owner[(int) idx[s.splitDim]]];
                    float w = b.getFloat(i * 4);
                    b.putFloat(i * 4, w * 0.995f + (float) Math.sin(t * 0.1 + g * 1e-3) * 0.01f + n);
                }
            }
            whole.rngState = rng[0];
        }
    }

    private static int owner(Spec s, long[] idx, int world) {
        for (int r = 0; r < world; r++) {
            ShardSpec sh = ShardSpec.split(s.shape, s.splitDim, world, r);
            long o = sh.offsets()[s.splitDim];
            if (idx[s.splitDim] >= o && idx[s.splitDim] < o + sh.lengths()[s.splitDim]) {
                return r;
            }
        }
        throw new IllegalStateException("no owner");
    }

    private static void fill(Tensor t, ShardSpec shard, long seed) {
        ByteBuffer b = t.buffers().get(0).order(ByteOrder.LITTLE_ENDIAN);
        long[] idx = new long[shard.dimensions()];
        Place place = new Place(shard);
        for (int i = 0; i < b.remaining() / 4; i++) {
            long g = place.globalIndex(i, idx);
            b.putFloat(i * 4, (float) Math.cos(g * 0.37 + seed) * 0.02f);
        }
    }

    /** Where the elements of a slice lie in its global tensor (the spec's arrays, copied once). */
    private static final class Place {
        private final long[] len;
        private final long[] off;
        private final long[] global;

        Place(ShardSpec shard) {
            len = shard.lengths();
            off = shard.offsets();
            global = shard.globalShape();
        }

        /** The global flat index of local element {@code i}; {@code idx} receives its global coordinates. */
        long globalIndex(long i, long[] idx) {
            long rest = i;
            for (int d = len.length - 1; d >= 0; d--) {
                idx[d] = rest % len[d] + off[d];
                rest /= len[d];
            }
            long flat = 0;
            for (int d = 0; d < len.length; d++) {
                flat = flat * global[d] + idx[d];
            }
            return flat;
        }
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static String digest(ByteBuffer bytes) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(bytes.duplicate());
            return HexFormat.of().formatHex(md.digest()).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
