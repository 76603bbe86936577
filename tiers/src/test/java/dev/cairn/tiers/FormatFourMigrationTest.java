package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.StoreRef;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Checkpoints of manifest format 4 saved by two ranks ({@link FormatFourStore}: a row per entry and rank in the
 * MANIFEST, which references both indexes) after the move to format 5 (those rows go into the pages of a directory
 * under the MANIFEST): they restore bit-exact on their own world and resharded on others, format-5 steps saved on top
 * by the same ranks restore as well, and the tools (verify, copy) read both.
 */
class FormatFourMigrationTest {
    private final StoreLayout layout = new StoreLayout(FormatFourStore.RUN);

    private static ObjectStore fixture() throws Exception {
        ObjectStore store = new MemoryObjectStore(64L << 20);
        FormatFourStore.load(store);
        return store;
    }

    private static Checkpointer open(ObjectStore store, int rank, int world, int keepLast) {
        return Checkpointer.open(FormatFourStore.config(rank, world)
                .tier(TierConfig.of("mem", store).keepLast(keepLast)).build());
    }

    private Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "step " + step, alloc);
        }
    }

    /** The global "w" of {@code step}: the two ranks' slices, in row order. */
    private static ByteBuffer globalW(long step) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(FormatThreeStore.GLOBAL[0] * FormatThreeStore.GLOBAL[1] * 4));
        for (int r = 0; r < FormatFourStore.WORLD; r++) {
            out.put(ReshardingProperties.concat(FormatFourStore.state(r, step).tensor("w")));
        }
        return out.flip();
    }

    private static void assertRestored(TrainingState expected, TrainingState restored) {
        TrainingStateAssert.restored(expected, restored);
    }

    @Test
    void theFixtureIsFormatFourReferencingBothIndexes() throws Exception {
        try (ObjectStore store = fixture()) {
            for (long step = 1; step <= FormatFourStore.STEPS; step++) {
                Manifest m = manifest(store, step);
                assertEquals(4, m.formatVersion());
                assertEquals(ContentHash.XXH3_128, m.contentHash());
                assertEquals(2, m.worldSize());
                assertTrue(m.rowsInIndexes());
                assertFalse(m.paged());
                assertFalse(m.complete());
                assertEquals(2, m.indexed().indexes().size());
                assertEquals(8, m.entries().size(), "a row per entry and rank, without chunks");
            }
        }
    }

    @Test
    void everyFormatFourStepRestoresBitExactOnItsOwnWorldAndReshardedOnOthers() throws Exception {
        try (ObjectStore store = fixture()) {
            for (long step = 1; step <= FormatFourStore.STEPS; step++) {
                for (int r = 0; r < 2; r++) {
                    try (Checkpointer cp = open(store, r, 2, 10)) {
                        assertRestored(FormatFourStore.state(r, step), cp.restore(RestoreRequest.step(step)).state());
                    }
                }
                try (Checkpointer one = open(store, 0, 1, 10)) {
                    Tensor w = Tensor.allocate("w", dev.cairn.DType.F32, FormatThreeStore.GLOBAL);
                    one.restore(RestoreRequest.step(step).into(TrainingState.builder().add(w).build())
                            .onRankBlobs((name, saved, savedWorld, rank, world) -> null));
                    assertEquals(globalW(step), ReshardingProperties.concat(w));
                }
                for (int r = 0; r < 3; r++) {
                    try (Checkpointer three = open(store, r, 3, 10)) {
                        ShardSpec want = ShardSpec.split(FormatThreeStore.GLOBAL, 0, 3, r);
                        Tensor w = Tensor.allocate("w", dev.cairn.DType.F32, want);
                        three.restore(RestoreRequest.step(step).into(TrainingState.builder().add(w).build())
                                .onRankBlobs((name, saved, savedWorld, rank, world) -> null));
                        assertEquals(ReshardingProperties.slice(bytes(globalW(step)), FormatThreeStore.GLOBAL, want, 4),
                                ReshardingProperties.concat(w), "rows of rank " + r + " of 3");
                    }
                }
            }
        }
    }

    @Test
    void formatFiveStepsSavedOnTopAndBothFormatsRestoreVerifyAndCopy() throws Exception {
        try (ObjectStore store = fixture()) {
            List<Checkpointer> ranks = new ArrayList<>();
            try {
                for (int r = 0; r < 2; r++) {
                    ranks.add(open(store, r, 2, 10));
                }
                for (int r = 0; r < 2; r++) {
                    assertRestored(FormatFourStore.state(r, 2), ranks.get(r).restore(RestoreRequest.latest()).state());
                }
                for (long step = 3; step <= 4; step++) {
                    List<CheckpointHandle> handles = new ArrayList<>();
                    for (int r = 0; r < 2; r++) {
                        handles.add(ranks.get(r).save(step, FormatFourStore.state(r, step)));
                    }
                    for (CheckpointHandle h : handles) {
                        h.done().get(60, TimeUnit.SECONDS);
                    }
                }
            } finally {
                ranks.forEach(Checkpointer::close);
            }
            for (long step = 3; step <= 4; step++) {
                Manifest global = manifest(store, step);
                assertEquals(ManifestFormat.FORMAT_VERSION, global.formatVersion());
                assertTrue(global.paged(), "format 5: the entries are under the MANIFEST's directory");
                assertTrue(global.entries().isEmpty(), "no entry row in the MANIFEST as read");
            }
            try (RootAllocator alloc = new RootAllocator()) {
                Set<String> named = new HashSet<>();
                for (long step = 1; step <= 4; step++) {
                    Manifest whole = CommittedManifest.load(store, layout, step, alloc);
                    assertTrue(whole.complete());
                    named.addAll(whole.referencedHashes());
                }
                Set<String> held = new HashSet<>();
                for (ObjectInfo o : store.list(layout.chunksPrefix())) {
                    held.add(layout.hashOfChunkKey(o.key()));
                }
                assertTrue(held.containsAll(named), "every chunk either format's steps name is held");
            }
            for (long step = 1; step <= 4; step++) {
                for (int r = 0; r < 2; r++) {
                    try (Checkpointer cp = open(store, r, 2, 10)) {
                        assertRestored(FormatFourStore.state(r, step), cp.restore(RestoreRequest.step(step)).state());
                    }
                }
            }
            StoreRef ref = new StoreRef("mem", "fixture", store);
            try (ObjectStore target = new MemoryObjectStore(64L << 20);
                 CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                List<StepCheck> checks = admin.verify(FormatFourStore.RUN, List.of(1L, 2L, 3L, 4L), CheckpointAdmin.Progress.NONE);
                assertEquals(4, checks.size());
                for (StepCheck c : checks) {
                    assertTrue(c.intact(), c.toString());
                    assertTrue(c.chunks() > 0, c.toString());
                }
                for (long step : new long[] {2, 4}) {
                    CopyReport copy = admin.copy(FormatFourStore.RUN, step, new StoreRef("target", "t", target), 2,
                            CheckpointAdmin.Progress.NONE);
                    assertEquals(2, copy.indexesCopied());
                    assertEquals(copy.chunks(), copy.chunksCopied());
                }
                target.delete(layout.indexKey(4, 1)); // lost there: copying again sends it, as the MANIFEST references it
                CopyReport again = admin.copy(FormatFourStore.RUN, 4, new StoreRef("target", "t", target), 2,
                        CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted());
                assertEquals(1, again.indexesCopied());
                for (int r = 0; r < 2; r++) {
                    try (Checkpointer cp = open(target, r, 2, 10)) {
                        assertRestored(FormatFourStore.state(r, 2), cp.restore(RestoreRequest.step(2)).state());
                        assertRestored(FormatFourStore.state(r, 4), cp.restore(RestoreRequest.step(4)).state());
                    }
                }
            }
        }
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }
}
