package dev.cairn.bench.simulate;

import dev.cairn.DType;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.pipeline.ChunkPlan;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The training state the simulation saves: a model trained with bf16 weights, fp32 master weights and Adam's two
 * fp32 moments, fully sharded over the ranks as FSDP/ZeRO-3 shard it (each state one flat buffer per rank): four
 * tensors of {@value #COLUMNS} columns whose rows are split evenly over the ranks ({@link ShardSpec#split}), 14
 * bytes per parameter. The engine's own chunk plan ({@link ChunkPlan}) cuts each slice on row boundaries into
 * chunks of at most {@code chunkBytes}. Every chunk of every checkpoint is new (training changes every value), so
 * nothing is deduplicated.
 *
 * <p>Stored sizes are the raw ones divided by the ratios measured on this project's codecs for such data (FACTS:
 * byte planes + zstd, 1.5 on bf16 weights and 1.19 on fp32): the simulated store charges transfer time by them.
 */
final class SimulatedModel {
    /** Columns of every tensor; a row of fp32 is 16 KiB. */
    static final int COLUMNS = 4096;
    /** Bytes of state per parameter: bf16 weight, fp32 master weight, fp32 exp_avg and exp_avg_sq. */
    static final int BYTES_PER_PARAMETER = 14;

    /** One of the four tensors. */
    record State(String name, DType dtype, String codec, double ratio) {
    }

    static final List<State> STATES = List.of(
            new State("params.bf16", DType.BF16, Codec.PLANES2.manifestName(), 1.5),
            new State("master.fp32", DType.F32, Codec.PLANES4.manifestName(), 1.19),
            new State("adam.exp_avg", DType.F32, Codec.PLANES4.manifestName(), 1.19),
            new State("adam.exp_avg_sq", DType.F32, Codec.PLANES4.manifestName(), 1.19));

    private final int ranks;
    private final long rows;
    private final int chunkBytes;
    private final TargetBytes backing;

    /**
     * @param ranks      ranks that save it
     * @param modelBytes bytes of state in all (rounded down to whole rows on every rank)
     */
    SimulatedModel(int ranks, long modelBytes, int chunkBytes, TargetBytes backing) {
        long rowsPerRank = modelBytes / ((long) ranks * COLUMNS * BYTES_PER_PARAMETER);
        if (rowsPerRank < 1) {
            throw new IllegalArgumentException("a model of " + modelBytes + " bytes gives " + ranks + " ranks less than a row of "
                    + COLUMNS + " parameters each (" + (long) COLUMNS * BYTES_PER_PARAMETER + " bytes)");
        }
        this.ranks = ranks;
        this.rows = rowsPerRank * ranks;
        this.chunkBytes = chunkBytes;
        this.backing = backing;
    }

    long rows() {
        return rows;
    }

    long parameters() {
        return rows * COLUMNS;
    }

    long bytes() {
        return parameters() * BYTES_PER_PARAMETER;
    }

    int chunkBytes() {
        return chunkBytes;
    }

    long[] globalShape() {
        return new long[] {rows, COLUMNS};
    }

    /** Rank {@code rank} of {@code world}'s slice of every tensor. */
    ShardSpec slice(int rank, int world) {
        return ShardSpec.split(globalShape(), 0, world, rank);
    }

    /** The tensor {@code state} as rank {@code rank} of {@code world} holds it, over shared bytes nobody reads. */
    Tensor tensor(State state, int rank, int world) {
        ShardSpec shard = slice(rank, world);
        long bytes = shard.lengths()[0] * COLUMNS * state.dtype().byteSize();
        return Tensor.sharded(state.name(), state.dtype(), shard, backing.views(bytes));
    }

    /**
     * Rank {@code rank}'s index of {@code step} as its save would commit it: one entry per tensor, chunked by the
     * engine's plan, each chunk keyed by a hash unique to (step, rank, tensor, chunk).
     */
    Manifest index(String run, long step, int rank, Instant createdAt) {
        List<EntryRecord> entries = new ArrayList<>(STATES.size());
        for (int s = 0; s < STATES.size(); s++) {
            State state = STATES.get(s);
            Tensor t = tensor(state, rank, ranks);
            int n = ChunkPlan.plan(t, chunkBytes, null, null, 0);
            long[] offsets = new long[n];
            int[] lengths = new int[n];
            ChunkPlan.plan(t, chunkBytes, offsets, lengths, 0);
            List<ChunkRef> chunks = new ArrayList<>(n);
            for (int c = 0; c < n; c++) {
                chunks.add(new ChunkRef(offsets[c], lengths[c], hash(step, rank, s, c), state.codec(),
                        Math.max(1, (long) (lengths[c] / state.ratio()))));
            }
            ShardSpec shard = t.shard();
            entries.add(new EntryRecord(state.name(), true, state.dtype(), shard.lengths(), shard.globalShape(),
                    shard.offsets(), false, t.byteSize(), rank, chunks));
        }
        return new Manifest(ManifestFormat.FORMAT_VERSION, run, step, ranks, rank, createdAt, chunkBytes, entries);
    }

    /** 32 hex digits, as the engine's 128-bit content hashes. */
    static String hash(long step, int rank, int tensor, int chunk) {
        long a = mix(step * 0x9E3779B97F4A7C15L ^ rank);
        long b = mix(a ^ ((long) tensor << 32 | chunk));
        return HexFormat.of().toHexDigits(a) + HexFormat.of().toHexDigits(b);
    }

    /** The 64-bit hash the simulated store keeps for a chunk (its bytes are never made). */
    static long storeHash(String hash) {
        return HexFormat.fromHexDigitsToLong(hash, 0, 16);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        return z ^ (z >>> 33);
    }

    /**
     * Bytes that tensors of the simulation stand on: the engine's tensors need buffers of their size, which neither the
     * chunk plan nor a restore plan reads or writes. One direct buffer of at most 1 GiB, shared by every view.
     */
    static final class TargetBytes {
        private final ByteBuffer shared;

        TargetBytes(long largest) {
            this.shared = ByteBuffer.allocateDirect((int) Math.min(Tensor.MAX_BUFFER_BYTES, Math.max(1, largest)));
        }

        /** Views that add up to {@code bytes}, each at most the shared buffer's size. */
        ByteBuffer[] views(long bytes) {
            int cap = shared.capacity();
            int n = (int) Math.max(1, (bytes + cap - 1) / cap);
            ByteBuffer[] out = new ByteBuffer[n];
            long left = bytes;
            for (int i = 0; i < n; i++) {
                int len = (int) Math.min(cap, left);
                out[i] = shared.duplicate().clear().limit(len).slice();
                left -= len;
            }
            return out;
        }
    }
}
