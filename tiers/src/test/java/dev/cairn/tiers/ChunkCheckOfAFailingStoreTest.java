package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ReadErrorStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.ChunkReader.Status;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * {@link ChunkReader#check} tells the store's failure to read a chunk (an S3 503 after its retries, a disk's EIO),
 * which says nothing of what the store holds, from damage: UNREADABLE where the read of the chunk, or of a link of a
 * differential chunk's chain, failed in the store; CORRUPT for a missing link or bytes that do not decode to the
 * hash. A copy puts its own form over a chunk only for the second ({@code AdminCopy}).
 */
class ChunkCheckOfAFailingStoreTest {
    static final int CHUNK = 64 << 10;
    static final int CHUNKS = 4;
    final StoreLayout layout = new StoreLayout("run1");

    /** Reads of the keys {@code missing} accepts fail as for an absent object; other reads pass. */
    static final class MissingKeys extends ForwardingObjectStore {
        private final Predicate<String> missing;

        MissingKeys(ObjectStore delegate, Predicate<String> missing) {
            super(delegate);
            this.missing = missing;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (missing.test(key)) {
                throw new NoSuchFileException(key);
            }
            return super.read(key, offset, dst);
        }

        @Override
        public String describe() {
            return "missing-keys";
        }
    }

    /** Reads of the keys {@code flipped} accepts return their bytes with every bit of the last one flipped. */
    static final class FlippedKeys extends ForwardingObjectStore {
        private final Predicate<String> flipped;

        FlippedKeys(ObjectStore delegate, Predicate<String> flipped) {
            super(delegate);
            this.flipped = flipped;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            int n = super.read(key, offset, dst);
            if (n > 0 && flipped.test(key)) {
                dst.put(dst.position() - 1, (byte) ~dst.get(dst.position() - 1));
            }
            return n;
        }

        @Override
        public String describe() {
            return "flipped-keys";
        }
    }

    @Test
    void aReadTheStoreFailsIsUnreadableAndDamageIsCorrupt() throws Exception {
        ByteBuffer w = Fixtures.modelWeights(CHUNK * CHUNKS, 1);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").chunkBytes(CHUNK)
                .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(2)).build())) {
            cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS);
            SplittableRandom r = new SplittableRandom(7);
            for (int k = 0; k < 20; k++) { // a few values of the first chunk change: stored against its previous version
                int at = 4 * r.nextInt(CHUNK / 4);
                w.putFloat(at, w.getFloat(at) + 1e-3f);
            }
            cp.save(2, state(w)).done().get(30, TimeUnit.SECONDS);
            ChunkRef differential = Fixtures.chunksOf(mem, layout, 2, "w").stream().filter(c -> !c.bases().isEmpty()).findFirst().orElseThrow();
            String chunkKey = layout.chunkKey(differential.hash());
            String baseKey = layout.chunkKey(differential.bases().get(0));
            ChunkRef whole = Fixtures.chunksOf(mem, layout, 2, "w").stream().filter(c -> c.bases().isEmpty()).findFirst().orElseThrow();
            String wholeKey = layout.chunkKey(whole.hash());

            try (ChunkReader reader = new ChunkReader()) {
                assertTrue(reader.check(mem, layout, differential).ok());
                assertTrue(reader.check(mem, layout, whole).ok());

                // The store fails the read: of a whole chunk, of a differential one, of a link of its chain.
                for (String failing : new String[] {wholeKey, chunkKey, baseKey}) {
                    ChunkRef c = failing.equals(wholeKey) ? whole : differential;
                    ChunkReader.Check check = reader.check(new ReadErrorStore(mem).failReadsOf(failing::equals), layout, c);
                    assertEquals(Status.UNREADABLE, check.status(), failing + ": " + check);
                    assertTrue(check.detail().contains(ReadErrorStore.EIO), check.detail());
                    assertFalse(check.ok());
                    assertTrue(check.toString().startsWith("unreadable ("), check.toString());
                }

                // Damage: a link gone, or bytes that do not decode to the hash.
                assertEquals(Status.MISSING, reader.check(new MissingKeys(mem, chunkKey::equals), layout, differential)
                        .status());
                assertEquals(Status.CORRUPT, reader.check(new MissingKeys(mem, baseKey::equals), layout, differential)
                        .status(), "a missing link is damage");
                assertEquals(Status.CORRUPT, reader.check(new FlippedKeys(mem, baseKey::equals), layout, differential)
                        .status());
                assertEquals(Status.CORRUPT, reader.check(new FlippedKeys(mem, wholeKey::equals), layout, whole).status());

                // A failed read is forgotten by the next check.
                assertEquals(Status.UNREADABLE, reader.check(new ReadErrorStore(mem).failReadsOf(baseKey::equals), layout,
                        differential).status());
                assertEquals(Status.CORRUPT, reader.check(new FlippedKeys(mem, baseKey::equals), layout, differential)
                        .status());
                assertTrue(reader.check(mem, layout, differential).ok());
            }
        }
    }

    private static TrainingState state(ByteBuffer w) {
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {w.capacity() / 4}, w.duplicate())).build();
    }
}
