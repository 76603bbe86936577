package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Checkpoints of manifest format 2 (MurmurHash3 keys, {@link FormatTwoStore}) after the move to format 3 (XXH3-128):
 * they restore bit-exact, also under new steps saved in format 3 on top of them; a chunk of theirs that decodes to
 * wrong bytes is still caught by its own hash; GC keeps exactly the chunks the retained steps of either format need;
 * and no format-3 step names a format-2 key.
 */
class FormatTwoMigrationTest {
    private final StoreLayout layout = new StoreLayout(FormatTwoStore.RUN);

    private static Checkpointer open(ObjectStore store, int keepLast) {
        return Checkpointer.open(FormatTwoStore.config().tier(TierConfig.of("mem", store).compressionLevel(1).keepLast(keepLast)).build());
    }

    private static ObjectStore fixture() throws Exception {
        ObjectStore store = new MemoryObjectStore(64L << 20);
        FormatTwoStore.load(store);
        return store;
    }

    private Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "step " + step, alloc);
        }
    }

    /** Step 3's state with a few values of {@code w} changed: a differential save on top of a format-3 step. */
    private static TrainingState changed(long seed) {
        TrainingState s = FormatTwoStore.state(3);
        ByteBuffer w = ((Tensor) s.entries().get(0)).buffers().get(0);
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (int c = 0; c < 10; c++) {
            int i = r.nextInt(w.capacity() / 4) * 4;
            w.putFloat(i, w.getFloat(i) + 1e-4f);
        }
        return s;
    }

    @Test
    void theFixtureIsFormatTwoWithDifferentialChains() throws Exception {
        try (ObjectStore store = fixture()) {
            for (long step = 1; step <= FormatTwoStore.STEPS; step++) {
                Manifest m = manifest(store, step);
                assertEquals(2, m.formatVersion());
                assertEquals(ContentHash.MURMUR3_128, m.contentHash());
            }
            long differential = manifest(store, 3).entries().get(0).chunks().stream().filter(c -> c.codec().equals(Codec.XOR.manifestName())).count();
            assertTrue(differential > 0, "step 3 holds chunks of w as deltas");
            assertTrue(manifest(store, 3).entries().get(0).chunks().stream().anyMatch(c -> c.bases().size() == 2),
                    "a chain of two links, back to step 1");
        }
    }

    @Test
    void everyStepOfAFormatTwoStoreRestoresBitExact() throws Exception {
        try (ObjectStore store = fixture(); Checkpointer cp = open(store, 10)) {
            for (long step = 1; step <= FormatTwoStore.STEPS; step++) {
                assertSameState(FormatTwoStore.state(step), cp.restore(RestoreRequest.step(step)).state());
            }
            assertEquals(3, cp.restore(RestoreRequest.latest()).step());
        }
    }

    @Test
    void formatThreeStepsSavedOnTopRestoreAsDoTheFormatTwoStepsBelow() throws Exception {
        try (ObjectStore store = fixture()) {
            try (Checkpointer cp = open(store, 10)) {
                TrainingState resumed = cp.restore(RestoreRequest.latest()).state();
                assertSameState(FormatTwoStore.state(3), resumed);
                cp.save(4, FormatTwoStore.state(3)).done().get(30, TimeUnit.SECONDS);
                cp.save(5, changed(5)).done().get(30, TimeUnit.SECONDS);
                cp.save(6, changed(6)).done().get(30, TimeUnit.SECONDS);
            }
            Set<String> formatTwoKeys = new HashSet<>();
            for (long step = 1; step <= 3; step++) {
                formatTwoKeys.addAll(manifest(store, step).referencedHashes());
            }
            for (long step = 4; step <= 6; step++) {
                Manifest m = manifest(store, step);
                assertEquals(ManifestFormat.FORMAT_VERSION, m.formatVersion());
                assertEquals(ContentHash.XXH3_128, m.contentHash());
                Set<String> shared = new HashSet<>(m.referencedHashes());
                shared.retainAll(formatTwoKeys);
                assertEquals(Set.of(), shared, "step " + step + " names no format-2 key, not even for step 3's same bytes");
            }
            assertTrue(manifest(store, 6).entries().get(0).chunks().stream().anyMatch(c -> c.codec().equals(Codec.XOR.manifestName())),
                    "step 6 is differential against format-3 steps");
            try (Checkpointer cp = open(store, 10)) { // a fresh process reads both formats
                for (long step = 1; step <= 3; step++) {
                    assertSameState(FormatTwoStore.state(step), cp.restore(RestoreRequest.step(step)).state());
                }
                assertSameState(FormatTwoStore.state(3), cp.restore(RestoreRequest.step(4)).state());
                assertSameState(changed(5), cp.restore(RestoreRequest.step(5)).state());
                assertSameState(changed(6), cp.restore(RestoreRequest.latest()).state());
            }
        }
    }

    @Test
    void gcKeepsTheChunksOfRetainedStepsOfEitherFormatAndOnlyThose() throws Exception {
        try (ObjectStore store = fixture()) {
            try (Checkpointer cp = open(store, 3)) {
                cp.save(4, FormatTwoStore.state(3)).done().get(30, TimeUnit.SECONDS);
                cp.save(5, changed(5)).done().get(30, TimeUnit.SECONDS);
                cp.gc(false);
                assertEquals(List.of(3L, 4L, 5L), committedSteps(store));
                // Step 3 is format 2 and differential: its chain reaches into retired steps 1 and 2, whose chunks stay.
                assertEquals(referenced(store, 3, 4, 5), chunkKeys(store));
                assertSameState(FormatTwoStore.state(3), cp.restore(RestoreRequest.step(3)).state());
                assertSameState(FormatTwoStore.state(3), cp.restore(RestoreRequest.step(4)).state());
                assertSameState(changed(5), cp.restore(RestoreRequest.step(5)).state());
                cp.save(6, changed(6)).done().get(30, TimeUnit.SECONDS);
                cp.save(7, changed(7)).done().get(30, TimeUnit.SECONDS);
                cp.gc(false);
                assertEquals(List.of(5L, 6L, 7L), committedSteps(store));
                Set<String> left = chunkKeys(store);
                assertEquals(referenced(store, 5, 6, 7), left, "the last format-2 step retired: its chunks are gone");
                assertSameState(changed(7), cp.restore(RestoreRequest.latest()).state());
            }
        }
    }

    @Test
    void aChunkOfAFormatTwoStepThatDecodesToOtherBytesFailsItsMurmurHash() throws Exception {
        try (ObjectStore store = fixture()) {
            EntryRecord emb = manifest(store, 3).entries().get(1);
            ChunkRef c = emb.chunks().get(0);
            assertEquals("emb", emb.name());
            assertTrue(c.bases().isEmpty());
            // A valid stored form of bytes that differ in one bit: only the content hash can tell.
            String key = layout.chunkKey(c.hash());
            ByteBuffer stored = store.readAll(key);
            ByteBuffer in = ByteBuffer.allocateDirect(stored.remaining()).put(stored).flip();
            ByteBuffer raw = ByteBuffer.allocateDirect((int) c.rawLength());
            try (ChunkCodec codec = new ChunkCodec(1)) {
                codec.decode(in, 0, in.remaining(), raw, 0, raw.capacity());
                raw.put(100, (byte) (raw.get(100) ^ 4));
                ByteBuffer out = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(raw.capacity()));
                int n = codec.encode(raw, 0, raw.capacity(), out);
                store.put(key, out.limit(n));
            }
            try (Checkpointer cp = open(store, 10)) {
                CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.step(3)));
                assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
                assertTrue(e.getMessage().contains("content hash (murmur3-128)"), e.getMessage());
                assertTrue(e.getMessage().contains(c.hash()), e.getMessage());
                assertSameState(FormatTwoStore.state(2), cp.restore(RestoreRequest.step(2)).state()); // steps 1-2 share no emb chunk with 3
            }
        }
    }

    @Test
    void aBadBaseOfAFormatTwoChainFailsTheStepsThatBuildOnIt() throws Exception {
        try (ObjectStore store = fixture()) {
            ChunkRef top = manifest(store, 3).entries().get(0).chunks().stream().filter(c -> c.bases().size() == 2).findFirst()
                    .orElseThrow();
            String rootBase = top.bases().get(1); // step 1's whole chunk
            ByteBuffer stored = store.readAll(layout.chunkKey(rootBase));
            byte[] bytes = new byte[stored.remaining()];
            stored.get(bytes);
            bytes[bytes.length - 9] ^= 1;
            store.put(layout.chunkKey(rootBase), ByteBuffer.wrap(bytes));
            try (Checkpointer cp = open(store, 10)) {
                for (long step = 1; step <= 3; step++) {
                    long s = step;
                    CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.step(s)));
                    assertEquals(CheckpointException.Reason.CORRUPT, e.reason(), e.getMessage());
                }
            }
        }
    }

    private static List<Long> committedSteps(ObjectStore store) throws Exception {
        StoreLayout layout = new StoreLayout(FormatTwoStore.RUN);
        java.util.TreeSet<Long> steps = new java.util.TreeSet<>();
        for (ObjectInfo o : store.list(layout.stepsPrefix())) {
            if (layout.isManifestKey(o.key())) {
                layout.stepOf(o.key()).ifPresent(steps::add);
            }
        }
        return List.copyOf(steps);
    }

    private static Set<String> chunkKeys(ObjectStore store) throws Exception {
        StoreLayout layout = new StoreLayout(FormatTwoStore.RUN);
        Set<String> out = new HashSet<>();
        for (ObjectInfo o : store.list(layout.chunksPrefix())) {
            out.add(layout.hashOfChunkKey(o.key()));
        }
        return out;
    }

    private Set<String> referenced(ObjectStore store, long... steps) throws Exception {
        Set<String> out = new HashSet<>();
        for (long s : steps) {
            out.addAll(manifest(store, s).referencedHashes());
        }
        assertFalse(out.isEmpty());
        return out;
    }
}
