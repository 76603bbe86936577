package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Damage, true or only reported, on the chain of a differential chunk in the memory tier, and what saves and
 * promotions make of it.
 *
 * <p>A mark of damage on a base of a committed differential chunk (a promotion's or a restore's verdict, which may be
 * false or stale) made the next save that met the chunk take its chain for broken and put the chunk whole over the
 * intact differential form that committed steps record: their MANIFESTs then named a codec and a length the tier no
 * longer held, and the promotion of such a step failed STORAGE ("holds more than ... bytes") and never reached disk.
 * Now the writer reads the chunk and its chain again and keeps the stored form where it is intact.
 *
 * <p>A differential chunk that does not decode (its own zstd frame damaged, or a link's) failed its
 * promotion with STORAGE and was never marked damaged, so every later save named it again and every later promotion
 * failed the same way. Now the promotion fails CORRUPT and marks it, and the next save writes it whole; a store that
 * fails to read a link still fails the promotion with STORAGE, and marks nothing.
 */
class DifferentialChainDamageTest {
    private static final String RUN = "chain-damage";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final int VALUES = 64 << 10;

    @TempDir
    Path dir;

    /**
     * Step 2's promotion to disk is held back (its reads of memory's chunks wait) while a false mark on a base of one
     * of its differential chunks is set and step 3 saves the very same content. Step 3 must keep the differential form
     * step 2 records; step 2 then reaches disk and restores bit-exact from disk alone.
     */
    @Test
    void aFalseMarkOnABaseLeavesTheCommittedDifferentialChunkAsStoredAndItsStepIsPromoted() throws Exception {
        CountDownLatch held = new CountDownLatch(1);
        float[] w = weights(1);
        CountDownLatch gate = new CountDownLatch(1);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            dev.cairn.testkit.ForwardingObjectStore hooked = new dev.cairn.testkit.ForwardingObjectStore(mem) {
                @Override
                public int read(String key, long offset, ByteBuffer dst) throws IOException {
                    // A promotion's copy runs on the disk tier's I/O threads: its reads of memory wait for the gate.
                    if (Thread.currentThread().getName().startsWith("cairn-io-disk")
                            && key.startsWith(LAYOUT.chunksPrefix()) && gate.getCount() > 0) {
                        held.countDown();
                        try {
                            gate.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IOException(e);
                        }
                    }
                    return delegate.read(key, offset, dst);
                }
            };
            float[] w2;
            ChunkRef chunk;
            ByteBuffer before;
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                    .tier(TierConfig.of("memory", hooked).compressionLevel(1).keepLast(3))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(3)).build())) {
                try {
                    cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS); // memory only
                    w2 = w.clone();
                    change(w2, 0.002, 2);
                    CheckpointHandle step2 = cp.save(2, state(w2));
                    step2.committed("memory").get(30, TimeUnit.SECONDS);
                    assertTrue(held.await(30, TimeUnit.SECONDS), "step 2's promotion is under way, held back");
                    chunk = differential(mem, 2);
                    String key = LAYOUT.chunkKey(chunk.hash());
                    before = mem.readAll(key);
                    ChunkCatalog catalog = ((CairnCheckpointer) cp).catalogOf("memory");
                    String base = chunk.bases().get(0);
                    catalog.markDamaged(base); // false: the base is intact

                    // Step 3, memory only: the same content again meets the chunk whose base is marked.
                    cp.save(3, state(w2)).done().get(30, TimeUnit.SECONDS);
                    assertEquals(before, mem.readAll(key), "the intact differential form is left as it is");
                    assertFalse(catalog.damaged(base), "the false mark ended");
                    ChunkRef named = chunksOf(mem, 3).stream().filter(c -> c.hash().equals(chunk.hash())).findFirst()
                            .orElseThrow(() -> new AssertionError("step 3 names the same key"));
                    assertEquals(chunk.codec(), named.codec(), "step 3 records the stored form");
                    assertEquals(chunk.storedLength(), named.storedLength(), "step 3 records the stored form");
                    assertEquals(chunk.bases(), named.bases(), "step 3 records the stored form");

                    gate.countDown();
                    step2.committed("disk").get(30, TimeUnit.SECONDS);
                    assertFalse(disk.list(LAYOUT.manifestKey(2)).isEmpty(), "step 2 is on disk");
                    for (long step = 1; step <= 3; step++) {
                        RestoreResult r = cp.restore(RestoreRequest.step(step));
                        assertEquals("memory", r.tier(), "step " + step);
                        assertSameState(state(step == 1 ? w : w2), r.state());
                        assertEquals(0, r.chunksRepaired(), "step " + step);
                    }
                } finally {
                    gate.countDown(); // a failure above does not leave the promotion waiting
                }
            }
            try (Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
                RestoreResult r = diskOnly.restore(RestoreRequest.step(2));
                assertEquals("disk", r.tier());
                assertSameState(state(w2), r.state());
                assertEquals(0, r.chunksRepaired());
            }
        }
    }

    /**
     * Where the marked base is damaged in fact, the chain is broken: the save writes the chunk whole over the
     * differential form, and its step restores from memory alone.
     */
    @Test
    void aBaseDamagedInFactStillHasItsDifferentialChunkWrittenWhole() throws Exception {
        float[] w = weights(3);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(3)).build())) {
            cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS);
            float[] w2 = w.clone();
            change(w2, 0.002, 2);
            cp.save(2, state(w2)).done().get(30, TimeUnit.SECONDS);
            ChunkRef chunk = differential(mem, 2);
            String base = chunk.bases().get(0);
            flip(mem, LAYOUT.chunkKey(base), StoredChunkHeader.MAX_LENGTH + 64);
            ((CairnCheckpointer) cp).catalogOf("memory").markDamaged(base);

            cp.save(3, state(w2)).done().get(30, TimeUnit.SECONDS);
            ChunkRef named = chunksOf(mem, 3).stream().filter(c -> c.hash().equals(chunk.hash())).findFirst()
                    .orElseThrow(() -> new AssertionError("step 3 names the same key"));
            assertTrue(named.bases().isEmpty(), "written whole: " + named);
            RestoreResult r = cp.restore(RestoreRequest.step(3));
            assertSameState(state(w2), r.state());
            assertEquals(0, r.chunksRepaired());
        }
    }

    /**
     * A differential chunk that does not decode in memory (its zstd frame damaged, or its base's) is named again
     * by step 4 (the same content as step 3, where it was written) and fails step 4's promotion with CORRUPT, which
     * marks it; step 6, the same content again, writes it whole, and is promoted and restores bit-exact from disk.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"frame damaged", "base frame damaged"})
    void aDifferentialChunkThatDoesNotDecodeFailsItsPromotionCorruptAndIsWrittenAgain(String what) throws Exception {
        float[] w = weights(5);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            float[] w2 = w.clone();
            change(w2, 0.002, 2);
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(4))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(3)).build())) {
                cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS); // memory only
                cp.save(3, state(w2)).done().get(30, TimeUnit.SECONDS); // memory only
                ChunkRef chunk = differential(mem, 3);
                String key = LAYOUT.chunkKey(chunk.hash());
                if (what.equals("frame damaged")) {
                    flip(mem, key, StoredChunkHeader.DELTA_LENGTH); // the zstd frame's magic
                } else {
                    flip(mem, LAYOUT.chunkKey(chunk.bases().get(0)), StoredChunkHeader.LENGTH); // the base's frame
                }

                CheckpointHandle step4 = cp.save(4, state(w2));
                step4.committed("memory").get(30, TimeUnit.SECONDS);
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> step4.committed("disk").get(30, TimeUnit.SECONDS), what);
                CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause(), what);
                assertEquals(CheckpointException.Reason.CORRUPT, c.reason(), what + ": " + c.getMessage());
                assertTrue(c.getMessage().contains(key), what + ": names the chunk: " + c.getMessage());
                assertTrue(((CairnCheckpointer) cp).catalogOf("memory").damaged(chunk.hash()), what + ": marked");
                assertTrue(disk.list(LAYOUT.manifestKey(4)).isEmpty(), what + ": no step 4 on disk");

                ByteBuffer damaged = mem.readAll(key);
                CheckpointHandle step6 = cp.save(6, state(w2));
                step6.committed("memory").get(30, TimeUnit.SECONDS);
                step6.committed("disk").get(30, TimeUnit.SECONDS);
                assertNotEquals(damaged, mem.readAll(key), what + ": written again");
                ChunkRef named = chunksOf(mem, 6).stream().filter(r -> r.hash().equals(chunk.hash())).findFirst()
                        .orElseThrow(() -> new AssertionError("step 6 names the same key"));
                assertTrue(named.bases().isEmpty(), what + ": written whole: " + named);
                RestoreResult r = cp.restore(RestoreRequest.step(6));
                assertEquals("memory", r.tier(), what);
                assertSameState(state(w2), r.state());
                assertEquals(0, r.chunksRepaired(), what);
            }
            try (Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
                RestoreResult r = diskOnly.restore(RestoreRequest.step(6));
                assertEquals("disk", r.tier(), what);
                assertSameState(state(w2), r.state());
            }
        }
    }

    /**
     * The store failing to read a link of the chain (a disk's EIO) says nothing of the chunk: the promotion fails with
     * STORAGE and marks nothing, and once the store reads again the next promotion of the same content succeeds.
     */
    @Test
    void aLinkTheStoreCannotReadFailsThePromotionWithStorageAndMarksNothing() throws Exception {
        float[] w = weights(7);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             dev.cairn.testkit.ReadErrorStore failing = new dev.cairn.testkit.ReadErrorStore(mem);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(TierConfig.of("memory", failing).compressionLevel(1).keepLast(4))
                     .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(3)).build())) {
            float[] w2 = w.clone();
            change(w2, 0.002, 2);
            cp.save(1, state(w)).done().get(30, TimeUnit.SECONDS);
            cp.save(3, state(w2)).done().get(30, TimeUnit.SECONDS);
            ChunkRef chunk = differential(mem, 3);
            String baseKey = LAYOUT.chunkKey(chunk.bases().get(0));
            ChunkCatalog catalog = ((CairnCheckpointer) cp).catalogOf("memory");

            failing.failReadsOf(baseKey::equals);
            CheckpointHandle step4 = cp.save(4, state(w2));
            step4.committed("memory").get(30, TimeUnit.SECONDS);
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> step4.committed("disk").get(30, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(CheckpointException.Reason.STORAGE, c.reason(), c.getMessage());
            assertFalse(catalog.damaged(chunk.hash()), "the chunk is not marked");
            assertFalse(catalog.damaged(chunk.bases().get(0)), "nor its base");

            failing.heal();
            CheckpointHandle step6 = cp.save(6, state(w2));
            step6.committed("disk").get(30, TimeUnit.SECONDS);
            ChunkRef named = chunksOf(mem, 6).stream().filter(r -> r.hash().equals(chunk.hash())).findFirst()
                    .orElseThrow(() -> new AssertionError("step 6 names the same key"));
            assertEquals(chunk.bases(), named.bases(), "kept as stored");
        }
    }

    /** fp32 weights of N(0, 0.02), as a model's are. */
    private static float[] weights(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[VALUES];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (r.nextGaussian() * 0.02);
        }
        return w;
    }

    /** Changes {@code fraction} of the values, scattered: the chunks of the next save are stored as differences. */
    private static void change(float[] w, double fraction, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (int c = 0; c < w.length * fraction; c++) {
            int i = r.nextInt(w.length);
            w[i] = w[i] + (float) (r.nextGaussian() * 1e-3);
        }
    }

    private static TrainingState state(float[] w) {
        ByteBuffer b = ByteBuffer.allocateDirect(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(w);
        return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {w.length}, b)).build();
    }

    private static List<ChunkRef> chunksOf(MemoryObjectStore mem, long step) throws Exception {
        return Fixtures.chunksOf(mem, LAYOUT, step, "w");
    }

    /** A chunk of {@code step} stored as the difference against one base (a whole chunk). */
    private static ChunkRef differential(MemoryObjectStore mem, long step) throws Exception {
        return chunksOf(mem, step).stream().filter(c -> c.bases().size() == 1).findFirst()
                .orElseThrow(() -> new AssertionError("no differential chunk in step " + step));
    }

    private static void flip(MemoryObjectStore mem, String key, int at) throws Exception {
        ByteBuffer stored = mem.readAll(key);
        byte[] bytes = new byte[stored.remaining()];
        stored.get(bytes);
        bytes[at] ^= 0x10;
        mem.put(key, ByteBuffer.wrap(bytes));
    }
}
