package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.IndexRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Format 4 ({@link FormatFourStore}, written by the last release to write it): a MANIFEST of several ranks references
 * each rank's index by length and SHA-256 instead of holding the chunk rows; an index replaced or lost after the commit
 * is refused, naming it, by whoever needs it; GC learns what format-4 steps name through their indexes beside format-5
 * steps. One rank's MANIFEST keeps its rows inline (format 5 too).
 */
class IndexedRowsTest {
    private final ObjectStore store = new MemoryObjectStore(64L << 20);
    private final StoreLayout layout = new StoreLayout(FormatFourStore.RUN);

    @AfterEach
    void close() throws Exception {
        store.close();
    }

    private Checkpointer open(int rank, int world) {
        return Checkpointer.open(FormatFourStore.config(rank, world).tier(TierConfig.of("mem", store).keepLast(5))
                .build());
    }

    private void saveOnTwoRanks(long step) throws Exception {
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                ranks.add(open(r, 2));
            }
            for (int r = 0; r < 2; r++) {
                handles.add(ranks.get(r).save(step, FormatThreeStore.state(r, step)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    private Manifest read(String key) throws Exception {
        try (RootAllocator a = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(key), key, a);
        }
    }

    @Test
    void aMultiRankManifestReferencesTheExactBytesOfEachIndex() throws Exception {
        FormatFourStore.load(store);
        Manifest m = read(layout.manifestKey(1));
        assertTrue(m.rowsInIndexes());
        assertFalse(m.complete());
        assertEquals(2, m.indexed().indexes().size());
        for (int r = 0; r < 2; r++) {
            IndexRef ref = m.indexed().indexes().get(r);
            assertEquals(null, ref.mismatch(store.readAll(layout.indexKey(1, r))), "rank " + r);
        }
        long chunks = 0;
        for (int r = 0; r < 2; r++) {
            chunks += read(layout.indexKey(1, r)).chunkCount();
        }
        assertEquals(chunks, m.chunkCount(), "the MANIFEST states the chunk rows its indexes hold");
        assertThrows(IllegalStateException.class, m::referencedHashes, "a MANIFEST without its indexes names no chunk set");
    }

    @Test
    void anIndexReplacedAfterTheCommitIsRefusedByTheRankThatNeedsItAndByVerify() throws Exception {
        FormatFourStore.load(store);
        Manifest index = read(layout.indexKey(1, 1));
        // The same rows, written again at another time: a valid index of this rank and step, but not the one committed.
        Manifest other = new Manifest(index.formatVersion(), index.contentHash(), index.run(), index.step(), index.worldSize(),
                index.rank(), index.createdAt().plusSeconds(1), index.chunkBytes(), index.entries());
        try (RootAllocator a = new RootAllocator()) {
            store.put(layout.indexKey(1, 1), ByteBuffer.wrap(ManifestFormat.write(other, "index", a)));
        }
        try (Checkpointer rank1 = open(1, 2)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> rank1.restore(RestoreRequest.step(1)));
            assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains(layout.indexKey(1, 1)) && e.getMessage().contains("replaced after the commit"),
                    e.getMessage());
        }
        try (Checkpointer rank0 = open(0, 2)) { // its slices are in its own index (and its blobs): untouched
            TrainingStateAssert.restored(FormatThreeStore.state(0, 1), rank0.restore(RestoreRequest.step(1)).state());
        }
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "m", store)))) {
            StepCheck check = admin.verify(FormatFourStore.RUN, List.of(1L), CheckpointAdmin.Progress.NONE).get(0);
            assertFalse(check.intact());
            assertTrue(check.manifestProblem().contains("rank-1.index"), check.toString());
        }
    }

    @Test
    void aLostIndexIsReportedAsSuch() throws Exception {
        FormatFourStore.load(store);
        store.delete(layout.indexKey(1, 1));
        try (Checkpointer rank1 = open(1, 2)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> rank1.restore(RestoreRequest.step(1)));
            assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains(layout.indexKey(1, 1)) && e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    void gcLearnsWhatRetainedStepsNameThroughTheirIndexesAndRetiresIndexesOnlyWithTheirStep() throws Exception {
        FormatFourStore.load(store); // steps 1 and 2, format 4
        saveOnTwoRanks(3); // format 5, a fresh process: rank 0's first collection learns the steps from the store alone
        java.util.Set<String> stepOne = new java.util.HashSet<>();
        for (dev.cairn.ObjectInfo o : store.list(layout.stepPrefix(1))) {
            stepOne.add(o.key());
        }
        assertTrue(stepOne.contains(layout.manifestKey(1)), "keepLast 5: step 1 is retained, its indexes with it " + stepOne);
        assertTrue(stepOne.contains(layout.indexKey(1, 0)) && stepOne.contains(layout.indexKey(1, 1)), stepOne.toString());
        try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("mem", "m", store)))) {
            dev.cairn.GcReport report = admin.gc(new StoreRef("mem", "m", store), FormatFourStore.RUN, 2,
                    java.time.Duration.ZERO, false);
            assertEquals(List.of(1L), report.stepsRetired());
        }
        assertEquals(List.of(layout.retiredKey(1)), store.list(layout.stepPrefix(1)).stream().map(dev.cairn.ObjectInfo::key).toList(),
                "step 1 retired: its MANIFEST and both indexes gone, retention's marker left");
        java.util.Set<String> named = new java.util.HashSet<>();
        try (RootAllocator a = new RootAllocator()) {
            for (long step = 2; step <= 3; step++) {
                named.addAll(dev.cairn.tiers.internal.manifest.CommittedManifest.load(store, layout, step, a).referencedHashes());
            }
        }
        java.util.Set<String> held = new java.util.HashSet<>();
        for (dev.cairn.ObjectInfo o : store.list(layout.chunksPrefix())) {
            held.add(layout.hashOfChunkKey(o.key()));
        }
        assertEquals(named, held, "exactly the chunks steps 2 and 3 name, learnt through their indexes, are left");
        for (long step = 2; step <= 3; step++) {
            for (int r = 0; r < 2; r++) {
                try (Checkpointer cp = open(r, 2)) {
                    TrainingStateAssert.restored(FormatThreeStore.state(r, step), cp.restore(RestoreRequest.step(step)).state());
                }
            }
        }
    }

    /** The MANIFEST of step 1 edited by {@code edit} (its digest made to match), then read: the refusal. */
    private CheckpointException refusedAfter(java.util.function.Consumer<dev.cairn.testkit.ManifestEdit> edit) throws Exception {
        ByteBuffer b = store.readAll(layout.manifestKey(1));
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        dev.cairn.testkit.ManifestEdit m = dev.cairn.testkit.ManifestEdit.parse(bytes);
        edit.accept(m);
        byte[] edited = m.encode();
        try (RootAllocator a = new RootAllocator()) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> ManifestFormat.read(ByteBuffer.wrap(edited), "MANIFEST", a));
            assertEquals(Reason.CORRUPT, e.reason(), e.getMessage());
            return e;
        }
    }

    @Test
    void aHostileManifestOfIndexedRowsIsRefusedNamingWhatIsWrong() throws Exception {
        FormatFourStore.load(store);
        CheckpointException lost = refusedAfter(m -> m.rows.remove(m.rows.size() - 1));
        assertTrue(lost.getMessage().contains("references 1 rank indexes for a world of 2"), lost.getMessage());
        CheckpointException where = refusedAfter(m -> m.meta.put("cairn.rows", "elsewhere"));
        assertTrue(where.getMessage().contains("unknown cairn.rows 'elsewhere'"), where.getMessage());
        CheckpointException one = refusedAfter(m -> m.meta.put("cairn.world_size", "1"));
        assertTrue(one.getMessage().contains("only a MANIFEST of several ranks"), one.getMessage());
        CheckpointException chunk = refusedAfter(m -> m.rows.get(0).put("chunk", 0));
        assertTrue(chunk.getMessage().contains("names a chunk"), chunk.getMessage());
        CheckpointException digest = refusedAfter(m -> m.rows.get(m.rows.size() - 1).put("hash", "not-a-digest"));
        assertTrue(digest.getMessage().contains("index reference row 'rank-1.index'"), digest.getMessage());
    }

    @Test
    void oneRanksManifestKeepsItsRowsInline() throws Exception {
        try (Checkpointer one = Checkpointer.open(FormatFourStore.config(0, 1)
                .tier(TierConfig.of("mem", store).keepLast(5)).build())) {
            one.save(1, FormatThreeStore.state(0, 1)).done().get(60, TimeUnit.SECONDS);
        }
        Manifest m = read(layout.manifestKey(1));
        assertEquals(ManifestFormat.FORMAT_VERSION, m.formatVersion());
        assertFalse(m.rowsInIndexes());
        assertTrue(m.entries().stream().filter(e -> e.byteSize() > 0).allMatch(e -> !e.chunks().isEmpty()));
    }
}
