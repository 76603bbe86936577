package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A differential save into a memory first tier reads a chunk's delta base (the previous version, rebuilt from the
 * tier) only for a chunk that changed: the feeder compares the chunk's hash with the previous version's before it
 * reads, so that an unchanged chunk, stored without a base, costs no read. Counted at the store: every chunk object a
 * save reads is a base (or a link of a base's chain) read for the differential form.
 */
class DeltaBaseReadsTest {
    static final int CHUNK = 64 << 10;
    static final int CHUNKS = 16;
    static final int CHANGED = 2;
    final StoreLayout layout = new StoreLayout("run1");

    /** Counts the chunk objects read from the store it wraps. */
    static final class CountingStore extends ForwardingObjectStore {
        final Set<String> chunksRead = ConcurrentHashMap.newKeySet();
        final AtomicLong chunkReads = new AtomicLong();

        CountingStore(MemoryObjectStore delegate) {
            super(delegate);
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (key.contains("/chunks/")) {
                chunksRead.add(key);
                chunkReads.incrementAndGet();
            }
            return super.read(key, offset, dst);
        }

        void reset() {
            chunksRead.clear();
            chunkReads.set(0);
        }
    }

    @ParameterizedTest
    @EnumSource(SaveMode.class)
    void aDifferentialSaveReadsTheBasesOfTheChangedChunksOnly(SaveMode mode) throws Exception {
        ByteBuffer w = Fixtures.modelWeights(CHUNK * CHUNKS, 1); // saved in ZERO_COPY too
        MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
        try (CountingStore store = new CountingStore(mem); // closes mem
             Checkpointer cp = Checkpointer.open(smallConfig("run1").chunkBytes(CHUNK)
                     .tier(TierConfig.of("memory", store).compressionLevel(1).keepLast(2)).build())) {
            cp.save(1, state(w), mode).done().get(30, TimeUnit.SECONDS);
            store.reset();
            // A few values of the first CHANGED chunks change; the rest of the state is as saved.
            SplittableRandom r = new SplittableRandom(7);
            for (int c = 0; c < CHANGED; c++) {
                for (int k = 0; k < 20; k++) {
                    int at = c * CHUNK + 4 * r.nextInt(CHUNK / 4);
                    w.putFloat(at, w.getFloat(at) + 1e-3f);
                }
            }
            cp.save(2, state(w), mode).done().get(30, TimeUnit.SECONDS);
            long againstABase = chunks(mem, 2).stream().filter(c -> !c.bases().isEmpty()).count();
            System.out.printf("differential save (%s), %d of %d chunks changed: %d chunk objects read (%d reads), "
                            + "%d chunks encoded against a base%n", mode, CHANGED, CHUNKS, store.chunksRead.size(),
                    store.chunkReads.get(), againstABase);
            assertEquals(CHANGED, againstABase, "each changed chunk is stored against its previous version");
            assertTrue(store.chunksRead.size() <= againstABase,
                    "chunk objects read by the save: " + store.chunksRead.size() + ", bases used: " + againstABase);
            assertSameState(state(w), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /**
     * Where every value changes at every save (fresh random bits: no differential form pays), each miss skips the
     * differential tries for twice as many saves as the one before: the bases are rebuilt at saves 2, 7, 16 and 33 of
     * 40 (skips of 4, 8, 16, 32), not every fifth save.
     */
    @org.junit.jupiter.api.Test
    void aPositionWhoseDifferentialFormNeverPaysIsTriedLessAndLessOften() throws Exception {
        MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
        List<Integer> savesThatReadABase = new java.util.ArrayList<>();
        ByteBuffer w = ByteBuffer.allocateDirect(CHUNK * 4);
        SplittableRandom r = new SplittableRandom(3);
        try (CountingStore store = new CountingStore(mem);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").chunkBytes(CHUNK)
                     .tier(TierConfig.of("memory", store).compressionLevel(1).keepLast(2)).build())) {
            for (int step = 1; step <= 40; step++) {
                for (int i = 0; i < w.capacity(); i += 8) {
                    w.putLong(i, r.nextLong());
                }
                store.reset();
                cp.save(step, state(w)).done().get(30, TimeUnit.SECONDS);
                if (store.chunkReads.get() > 0) {
                    savesThatReadABase.add(step);
                }
            }
            assertEquals(List.of(2, 7, 16, 33), savesThatReadABase);
            assertSameState(state(w), cp.restore(RestoreRequest.latest()).state());
        }
    }

    private List<ChunkRef> chunks(MemoryObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
            return m.entries().get(0).chunks();
        }
    }

    private static TrainingState state(ByteBuffer w) {
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {w.capacity() / 4}, w.duplicate())).build();
    }
}
