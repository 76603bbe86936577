package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.IndexRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.manifest.PageTree;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Ranks whose slices of one tensor disagree: a gap in the global tensor, slices that overlap without being the same
 * slice, another dtype on one rank. Before, such a save committed (rank 0 merged the rows as they came), retention
 * retired the good step before it, and every restore on another world size failed CORRUPT. Rank 0 now refuses it
 * before the MANIFEST (INVALID_INPUT, naming the tensor and the ranks' slices), and the step before stays the newest.
 * Replicas (the very same slice on several ranks) still commit, beside sharded slices, and restore on another world.
 * A step with a gap committed before this check (written here as an older release would have) is refused at restore
 * as not holding the target, also where the target lies wholly in the gap.
 */
class DisagreeingSlicesTest {
    private static final String RUN = "slices";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final long[] SHAPE = {40, 300};
    private static final int WAIT_SECONDS = 60;

    private static byte[] global(long seed) {
        byte[] g = new byte[Math.toIntExact(Tensor.expectedBytes("g", DType.F32, SHAPE))];
        new Random(seed).nextBytes(g);
        return g;
    }

    /** Keeps one step, as a run short of space would: the step before a committed bad one would be retired. */
    private static List<Checkpointer> open(ObjectStore store, int ranks) {
        List<Checkpointer> out = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            // A short deadline: the ranks other than 0 wait for a commit that does not come, until it.
            out.add(Checkpointer.open(CairnConfig.builder(RUN).tier(TierConfig.of("mem", store).keepLast(1))
                    .chunkBytes(64 << 10).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(5))
                    .rank(r, ranks).build()));
        }
        return out;
    }

    private static Tensor slice(String name, DType dt, byte[] g, long[] shape, ShardSpec s) {
        return Tensor.sharded(name, dt, s, ReshardingProperties.slice(g, shape, s, dt.byteSize()));
    }

    private static List<CheckpointHandle> saveAll(List<Checkpointer> cps, long step, IntFunction<TrainingState> state) {
        List<CheckpointHandle> hs = new ArrayList<>();
        for (int r = 0; r < cps.size(); r++) {
            hs.add(cps.get(r).save(step, state.apply(r)));
        }
        return hs;
    }

    /**
     * Step 1 saved well by two ranks, then step 2 with {@code slices} and {@code dtypes} of 'w': step 2 fails on rank
     * 0 with INVALID_INPUT whose message holds {@code says}, no MANIFEST of it exists, and step 1 restores bit-exact on
     * one rank.
     */
    private static void refused(List<ShardSpec> slices, List<DType> dtypes, String... says) throws Exception {
        byte[] good = global(1);
        byte[] bad = global(2);
        try (ObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> cps = open(store, 2);
            try {
                for (CheckpointHandle h : saveAll(cps, 1, r -> TrainingState.builder()
                        .add(slice("w", DType.F32, good, SHAPE, ShardSpec.split(SHAPE, 0, 2, r))).build())) {
                    h.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
                }
                List<CheckpointHandle> hs = saveAll(cps, 2, r -> TrainingState.builder()
                        .add(slice("w", dtypes.get(r), bad, SHAPE, slices.get(r))).build());
                ExecutionException refused = assertThrows(ExecutionException.class,
                        () -> hs.get(0).done().get(WAIT_SECONDS, TimeUnit.SECONDS));
                CheckpointException why = assertInstanceOf(CheckpointException.class, refused.getCause());
                assertEquals(Reason.INVALID_INPUT, why.reason(), why.getMessage());
                assertTrue(why.getMessage().contains("'w'"), why.getMessage());
                for (String s : says) {
                    assertTrue(why.getMessage().contains(s), "'" + s + "' in: " + why.getMessage());
                }
                // Rank 1 waits for a commit that does not come, until its deadline.
                assertThrows(ExecutionException.class, () -> hs.get(1).done().get(WAIT_SECONDS, TimeUnit.SECONDS));
            } finally {
                cps.forEach(Checkpointer::close);
            }
            assertThrows(NoSuchFileException.class, () -> store.stat(LAYOUT.manifestKey(2)), "nothing committed");
            store.stat(LAYOUT.manifestKey(1)); // not retired
            List<Checkpointer> rs = open(store, 1);
            try {
                Tensor t = Tensor.allocate("w", DType.F32, SHAPE);
                RestoreResult got = rs.get(0).restore(RestoreRequest.latest().into(TrainingState.builder().add(t).build()));
                assertEquals(1, got.step());
                assertEquals(ByteBuffer.wrap(good), ReshardingProperties.concat(t));
            } finally {
                rs.forEach(Checkpointer::close);
            }
        }
    }

    @Test
    void slicesThatLeaveAGapFailTheSave() throws Exception {
        refused(List.of(ShardSpec.of(SHAPE, new long[] {0, 0}, new long[] {10, 300}),
                ShardSpec.of(SHAPE, new long[] {20, 0}, new long[] {20, 300})), List.of(DType.F32, DType.F32),
                "rank 0 [0:10, 0:300]", "rank 1 [20:40, 0:300]", "indexes 10..19 of dimension 0", "9000 of its 12000");
    }

    @Test
    void slicesThatOverlapWithoutBeingReplicasFailTheSave() throws Exception {
        refused(List.of(ShardSpec.of(SHAPE, new long[] {0, 0}, new long[] {25, 300}),
                ShardSpec.of(SHAPE, new long[] {20, 0}, new long[] {20, 300})), List.of(DType.F32, DType.F32),
                "rank 0 [0:25, 0:300] and rank 1 [20:40, 0:300] are overlapping slices");
    }

    @Test
    void ranksThatSaveATensorWithAnotherDtypeFailTheSave() throws Exception {
        refused(List.of(ShardSpec.split(SHAPE, 0, 2, 0), ShardSpec.split(SHAPE, 0, 2, 1)), List.of(DType.F32, DType.I32),
                "rank 0 saves 'w' as tensor " + DType.F32.tag() + "[40, 300] and rank 1 as tensor " + DType.I32.tag());
    }

    /**
     * Four ranks: 'w' cut in two along its columns, each half saved by two ranks (tensor-parallel halves repeated in
     * two data-parallel groups); 'grid' in 2 x 2 blocks; 'bias' whole on every rank. Committed, and restored bit-exact
     * on three ranks that split 'w' and 'grid' by rows.
     */
    @Test
    void replicasBesideShardsCommitAndRestoreOnAnotherWorld() throws Exception {
        byte[] w = global(3);
        byte[] grid = global(4);
        long[] biasShape = {300};
        byte[] bias = new byte[300 * 4];
        new Random(5).nextBytes(bias);
        try (ObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<Checkpointer> cps = open(store, 4);
            try {
                for (CheckpointHandle h : saveAll(cps, 7, r -> TrainingState.builder()
                        .add(slice("w", DType.F32, w, SHAPE, ShardSpec.split(SHAPE, 1, 2, r % 2)))
                        .add(slice("grid", DType.F32, grid, SHAPE, ShardSpec.of(SHAPE,
                                new long[] {(r / 2) * 20, (r % 2) * 150}, new long[] {20, 150})))
                        .add(slice("bias", DType.F32, bias, biasShape, ShardSpec.whole(biasShape))).build())) {
                    h.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
                }
            } finally {
                cps.forEach(Checkpointer::close);
            }
            List<Checkpointer> rs = open(store, 3);
            try {
                for (int r = 0; r < 3; r++) {
                    ShardSpec mine = ShardSpec.split(SHAPE, 0, 3, r);
                    Tensor tw = Tensor.allocate("w", DType.F32, mine);
                    Tensor tg = Tensor.allocate("grid", DType.F32, mine);
                    Tensor tb = Tensor.allocate("bias", DType.F32, biasShape);
                    RestoreResult got = rs.get(r).restore(RestoreRequest.latest()
                            .into(TrainingState.builder().add(tw).add(tg).add(tb).build()));
                    assertEquals(7, got.step());
                    assertEquals(ReshardingProperties.slice(w, SHAPE, mine, 4), ReshardingProperties.concat(tw));
                    assertEquals(ReshardingProperties.slice(grid, SHAPE, mine, 4), ReshardingProperties.concat(tg));
                    assertEquals(ByteBuffer.wrap(bias), ReshardingProperties.concat(tb));
                }
            } finally {
                rs.forEach(Checkpointer::close);
            }
        }
    }

    /**
     * A step with a gap in 'w' (rows 10..19 saved by no rank) committed as a release before the commit's check would
     * have: three ranks save rows 0..9, 10..19 and 20..39, and the step's directory is then written again without
     * rank 1's rows. A restore of rows 12..17, wholly inside the gap, was told 'w' is not in the step (the directory's
     * pages were chosen by overlap with the target, and no row overlaps); it is CORRUPT, the step not holding the
     * target, as a restore of all of 'w' is, and the target is not written.
     */
    @Test
    void aTargetInsideAGapOfAStepCommittedBeforeTheCheckIsCorrupt() throws Exception {
        byte[] g = global(6);
        try (ObjectStore store = new MemoryObjectStore(256L << 20); RootAllocator allocator = new RootAllocator()) {
            long[][] rows = {{0, 10}, {10, 10}, {20, 20}};
            List<Checkpointer> cps = open(store, 3);
            try {
                for (CheckpointHandle h : saveAll(cps, 3, r -> TrainingState.builder().add(slice("w", DType.F32, g, SHAPE,
                        ShardSpec.of(SHAPE, new long[] {rows[r][0], 0}, new long[] {rows[r][1], 300}))).build())) {
                    h.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
                }
            } finally {
                cps.forEach(Checkpointer::close);
            }
            List<IndexRef> refs = new ArrayList<>();
            List<EntryRecord> entries = new ArrayList<>();
            Manifest first = null;
            for (int r = 0; r < 3; r++) {
                ByteBuffer bytes = store.readAll(LAYOUT.indexKey(3, r));
                refs.add(IndexRef.of(r, bytes.duplicate()));
                Manifest index = ManifestFormat.read(bytes, "index " + r, allocator);
                first = first == null ? index : first;
                if (r != 1) {
                    entries.addAll(index.entries());
                }
            }
            Manifest gap = new Manifest(first.formatVersion(), first.contentHash(), first.run(), 3, 3, 0, first.createdAt(),
                    first.chunkBytes(), entries);
            PageTree.Built built = PageTree.build(gap, refs, allocator);
            List<String> keys = built.keys(LAYOUT);
            for (int i = 0; i < keys.size(); i++) {
                store.put(keys.get(i), ByteBuffer.wrap(built.pages().get(i).bytes()));
            }
            store.delete(LAYOUT.manifestKey(3));
            store.put(LAYOUT.manifestKey(3), ByteBuffer.wrap(built.manifest()));

            List<Checkpointer> rs = open(store, 1);
            try {
                for (ShardSpec want : List.of(ShardSpec.of(SHAPE, new long[] {12, 0}, new long[] {6, 300}),
                        ShardSpec.whole(SHAPE))) {
                    Tensor t = Tensor.allocate("w", DType.F32, want);
                    ByteBuffer before = ReshardingProperties.concat(t);
                    CheckpointException e = assertThrows(CheckpointException.class, () -> rs.get(0)
                            .restore(RestoreRequest.latest().into(TrainingState.builder().add(t).build())));
                    assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
                    assertTrue(e.getMessage().contains("does not hold all of") && e.getMessage().contains("'w'"),
                            e.getMessage());
                    assertEquals(before, ReshardingProperties.concat(t), "the target is not written");
                }
            } finally {
                rs.forEach(Checkpointer::close);
            }
        }
    }
}
