package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
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
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A chunk damaged in the memory tier is not reused by later saves once a promotion has found it damaged. Its content
 * never changes here (a frozen tensor), so every save names the same key, and disk (every 2nd step) has not got it yet
 * when it is damaged (step 1 is in memory only): before, each save found the key held in memory and reused the damaged
 * object, every promotion to disk failed CORRUPT on it, and disk never got another step while the run went on (nor
 * could memory's steps be restored: no tier held the chunk intact). Now the promotion that finds it damaged (step
 * 2's, which still fails: nothing damaged is copied on) tells the memory tier's catalog, the next save (step 4) writes
 * the chunk again over the damaged object, and step 4 is promoted and restores bit-exact from disk; steps 1, 2 and 4,
 * which all name the key, restore from memory, which holds the chunk intact again.
 *
 * <p>Where disk already holds the chunk (it got a step naming it before the damage), a promotion does not copy it
 * from memory and so never meets the damage: that case never failed.
 */
class DamagedChunkNotReusedTest {
    private static final String RUN = "damaged";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    static Stream<Arguments> memoryTiers() {
        return Stream.of(
                Arguments.of("uncompressed memory", (UnaryOperator<TierConfig>) t -> t, false),
                Arguments.of("compressed memory, zstd chunks", (UnaryOperator<TierConfig>) t -> t.compressionLevel(3), true));
    }

    /**
     * As {@link #memoryTiers}, with the damage in the chunk's data or in its header: a codec id no release wrote, under a
     * key this release's rows name with a codec it knows (the writer's re-read then finds no header it knows, which no
     * step of this release naming the key can read in this tier: damage, put over; before, the re-read took it for a
     * failure to read, and every later save of the content failed).
     */
    static Stream<Arguments> damages() {
        return memoryTiers().flatMap(a -> Stream.of(false, true).map(header -> Arguments.of(
                a.get()[0] + (header ? ", header" : ", data"), a.get()[1], a.get()[2], header)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("damages")
    void theSaveAfterAPromotionFoundAChunkDamagedWritesItAgainAndIsPromoted(String what,
            UnaryOperator<TierConfig> memoryTier, boolean smooth, boolean inHeader) throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                    .tier(memoryTier.apply(TierConfig.of("memory", mem)).keepLast(3))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(3)).build())) {
                cp.save(1, state(1, smooth)).done().get(30, TimeUnit.SECONDS);
                assertTrue(disk.list(LAYOUT.manifestKey(1)).isEmpty(), what + ": step 1 is in memory only");

                String bad = chunksOf(mem, 1, "frozen").get(0);
                String key = LAYOUT.chunkKey(bad);
                byte[] flipped = damage(mem, key, inHeader);

                // Step 2 names the same content: memory reuses its damaged copy, and the promotion refuses it.
                CheckpointHandle step2 = cp.save(2, state(2, smooth));
                step2.committed("memory").get(30, TimeUnit.SECONDS);
                ExecutionException e = assertThrows(ExecutionException.class,
                        () -> step2.committed("disk").get(30, TimeUnit.SECONDS), what);
                CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause(), what);
                assertEquals(CheckpointException.Reason.CORRUPT, c.reason(), what + ": " + c.getMessage());
                assertTrue(c.getMessage().contains(key), what + ": names the chunk: " + c.getMessage());
                assertTrue(disk.list(LAYOUT.manifestKey(2)).isEmpty(), what + ": no step 2 on disk");
                assertTrue(disk.list(key).isEmpty(), what + ": the damaged chunk was not written to disk");

                // Step 4, the next save, the same content again: memory writes the chunk anew, and disk gets the step.
                CheckpointHandle step4 = cp.save(4, state(4, smooth));
                step4.committed("memory").get(30, TimeUnit.SECONDS);
                step4.committed("disk").get(30, TimeUnit.SECONDS);
                assertFalse(disk.list(LAYOUT.manifestKey(4)).isEmpty(), what + ": step 4 is on disk");
                assertTrue(chunksOf(mem, 4, "frozen").contains(bad), what + ": step 4 names the same key");
                assertNotEquals(ByteBuffer.wrap(flipped), mem.readAll(key), what + ": the damaged object was replaced");

                // Memory holds the chunk intact again: every step naming it restores from memory alone, step 2 (which
                // named the damaged object) and step 1 (which named it before it was damaged) too.
                for (long step : new long[] {1, 2, 4}) {
                    RestoreResult r = cp.restore(RestoreRequest.step(step));
                    assertEquals("memory", r.tier(), what + ": step " + step);
                    assertSameState(state(step, smooth), r.state());
                    assertEquals(0, r.chunksRepaired(), what + ": step " + step + " needs nothing from disk");
                }
            }
            try (Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
                RestoreResult r = diskOnly.restore(RestoreRequest.step(4));
                assertEquals("disk", r.tier());
                assertSameState(state(4, smooth), r.state());
                assertEquals(0, r.chunksRepaired());
            }
        }
    }

    /**
     * A restore that finds a chunk damaged in memory takes it from disk and tells memory's catalog, as a promotion does:
     * the next save writes the chunk again. Disk holds the chunk here (it gets every step), so no promotion reads
     * memory's copy and none would ever find the damage: before, every later save named the damaged object again, and
     * every restore of their steps from memory needed disk's copy (a lost node's recovery at disk's speed, silently).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("memoryTiers")
    void theSaveAfterARestoreFoundAChunkDamagedWritesItAgain(String what, UnaryOperator<TierConfig> memoryTier,
            boolean smooth) throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(memoryTier.apply(TierConfig.of("memory", mem)).keepLast(3))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state(1, smooth)).done().get(30, TimeUnit.SECONDS);
            String bad = chunksOf(mem, 1, "frozen").get(0);
            String key = LAYOUT.chunkKey(bad);
            byte[] flipped = damage(mem, key);

            RestoreResult first = cp.restore(RestoreRequest.step(1));
            assertEquals("memory", first.tier(), what);
            assertSameState(state(1, smooth), first.state());
            assertEquals(1, first.chunksRepaired(), what + ": the damaged chunk came from disk");

            cp.save(2, state(2, smooth)).done().get(30, TimeUnit.SECONDS);
            assertTrue(chunksOf(mem, 2, "frozen").contains(bad), what + ": step 2 names the same key");
            assertNotEquals(ByteBuffer.wrap(flipped), mem.readAll(key), what + ": the damaged object was replaced");
            for (long step : new long[] {1, 2}) {
                RestoreResult r = cp.restore(RestoreRequest.step(step));
                assertEquals("memory", r.tier(), what + ": step " + step);
                assertSameState(state(step, smooth), r.state());
                assertEquals(0, r.chunksRepaired(), what + ": step " + step + " needs nothing from disk");
            }
        }
    }

    /**
     * A false mark (the stored object is intact, in the form a committed step records) does not make the next save put
     * its own form over it. Step 1 stores the frozen content as floats (a float codec at level 3); the catalog is then
     * told the chunk is damaged, as a promotion whose codec failed for its own reasons, or a restore that read it cut
     * short, would tell it; step 2 saves the very same bytes as 32-bit integers, which the tier encodes in another form
     * (no float codec for them). Before, step 2 put its form over the intact object: step 1 recorded a codec and a
     * length the tier no longer held, and its restore from memory (the only tier) failed. Now the save reads the object
     * whole again, finds it intact, ends the mark and records the stored form, which it leaves as it is.
     */
    @Test
    void aFalseMarkDoesNotPutAnotherFormOverAnIntactChunk() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(TierConfig.of("memory", mem).compressionLevel(3).keepLast(3)).build())) {
            cp.save(1, frozenAs(1, DType.F32)).done().get(30, TimeUnit.SECONDS);
            ChunkRef stored = chunkRefsOf(mem, 1, "frozen").get(0);
            String key = LAYOUT.chunkKey(stored.hash());
            ByteBuffer before = mem.readAll(key);
            ChunkCatalog catalog = ((CairnCheckpointer) cp).catalogOf("memory");
            catalog.markDamaged(stored.hash());

            cp.save(2, frozenAs(2, DType.I32)).done().get(30, TimeUnit.SECONDS);
            assertEquals(before, mem.readAll(key), "the intact object is left as it is");
            assertFalse(catalog.damaged(stored.hash()), "the mark ended");
            ChunkRef named = chunkRefsOf(mem, 2, "frozen").stream().filter(c -> c.hash().equals(stored.hash()))
                    .findFirst().orElseThrow(() -> new AssertionError("step 2 names the same key"));
            assertEquals(stored.codec(), named.codec(), "step 2 records the stored form");
            assertEquals(stored.storedLength(), named.storedLength(), "step 2 records the stored form");
            for (long step = 1; step <= 2; step++) {
                RestoreResult r = cp.restore(RestoreRequest.step(step));
                assertSameState(frozenAs(step, step == 1 ? DType.F32 : DType.I32), r.state());
                assertEquals(0, r.chunksRepaired(), "step " + step);
            }
        }
    }

    /**
     * Where the store fails to read the chunk marked damaged (a disk's EIO), that says nothing of the object, which
     * may be intact in a form committed steps record: the save puts nothing over it and fails with STORAGE, and the
     * mark stays. Once the store reads it again, the next save finds it intact and keeps it.
     */
    @Test
    void aMarkedChunkTheStoreCannotReadIsNotPutOver() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             dev.cairn.testkit.ReadErrorStore failing = new dev.cairn.testkit.ReadErrorStore(mem);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(TierConfig.of("memory", failing).compressionLevel(3).keepLast(3)).build())) {
            cp.save(1, frozenAs(1, DType.F32)).done().get(30, TimeUnit.SECONDS);
            String hash = chunksOf(mem, 1, "frozen").get(0);
            String key = LAYOUT.chunkKey(hash);
            ByteBuffer before = mem.readAll(key);
            ChunkCatalog catalog = ((CairnCheckpointer) cp).catalogOf("memory");
            catalog.markDamaged(hash);

            failing.failReadsOf(key::equals);
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> cp.save(2, frozenAs(2, DType.I32)).done().get(30, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(CheckpointException.Reason.STORAGE, c.reason(), c.getMessage());
            assertEquals(before, mem.readAll(key), "nothing was put over it");
            assertTrue(catalog.damaged(hash), "still to be checked");

            failing.heal();
            cp.save(3, frozenAs(3, DType.I32)).done().get(30, TimeUnit.SECONDS);
            assertEquals(before, mem.readAll(key), "intact: left as it is");
            assertFalse(catalog.damaged(hash));
            for (long step : new long[] {1, 3}) {
                assertSameState(frozenAs(step, step == 1 ? DType.F32 : DType.I32),
                        cp.restore(RestoreRequest.step(step)).state());
            }
        }
    }

    /**
     * A save that reused a chunk just before a promotion (or a restore) found it damaged fails with STORAGE instead of
     * committing a step that names it, and does not write the damaged bytes again as they are. The mark is forced
     * between the save's reuse and its commit: the commit's confirmation asks the store for the save's chunks, and the
     * store marks the chunk then. The chunk is in fact intact here (a false mark): the next save reads it whole, finds
     * it so, keeps it and commits.
     */
    @Test
    void aSaveThatCountedOnAChunkMarkedDamagedBeforeItsCommitFails() throws Exception {
        AtomicReference<Runnable> onStat = new AtomicReference<>();
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             dev.cairn.testkit.ForwardingObjectStore hooked = new dev.cairn.testkit.ForwardingObjectStore(mem) {
                 @Override
                 public java.util.Map<String, dev.cairn.ObjectInfo> statAll(java.util.Collection<String> keys)
                         throws java.io.IOException {
                     Runnable r = onStat.getAndSet(null);
                     if (r != null) {
                         r.run();
                     }
                     return delegate.statAll(keys);
                 }
             };
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(TierConfig.of("memory", hooked).keepLast(3)).build())) {
            cp.save(1, state(1, false)).done().get(30, TimeUnit.SECONDS);
            String hash = chunksOf(mem, 1, "frozen").get(0);
            String key = LAYOUT.chunkKey(hash);
            ByteBuffer before = mem.readAll(key);
            ChunkCatalog catalog = ((CairnCheckpointer) cp).catalogOf("memory");
            onStat.set(() -> catalog.markDamaged(hash));

            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> cp.save(2, state(2, false)).done().get(30, TimeUnit.SECONDS));
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(CheckpointException.Reason.STORAGE, c.reason(), c.getMessage());
            assertTrue(c.getMessage().contains(hash) && c.getMessage().contains("damaged"), c.getMessage());
            assertTrue(mem.list(LAYOUT.manifestKey(2)).isEmpty(), "step 2 is not committed");
            assertTrue(onStat.get() == null, "the mark came from the commit's confirmation");

            cp.save(3, state(3, false)).done().get(30, TimeUnit.SECONDS);
            assertTrue(chunksOf(mem, 3, "frozen").contains(hash));
            assertEquals(before, mem.readAll(key), "intact: left as it is");
            assertFalse(catalog.damaged(hash));
            assertSameState(state(3, false), cp.restore(RestoreRequest.step(3)).state());
        }
    }

    /**
     * The mark outlives what a commit learns from the store: a save in flight when the promotion found the chunk
     * damaged had counted on it, and its commit's confirmation then finds the (damaged) object stored and would mark it
     * present again, so the save after it would count on the damaged object once more. Only a write of the chunk ends
     * the mark (or a deletion of it).
     */
    @Test
    void aDamagedChunkStaysUncountedUntilItIsWrittenAgain() {
        ChunkCatalog catalog = new ChunkCatalog();
        String h = "0123456789abcdef0123456789abcdef";
        catalog.markPresent(h, 100, "zstd");
        catalog.committed(1, java.util.Set.of(h));
        assertTrue(catalog.reusable(h, List.of(), Long.MIN_VALUE));
        catalog.markDamaged(h);
        assertTrue(catalog.damaged(h));
        assertEquals(-1, catalog.sizeOf(h));
        // A commit's confirmation, or a create that found it: the damaged object is stored.
        catalog.markPresent(h, 100, Instant.now());
        catalog.markCommitted(h, 100, "zstd", List.of());
        catalog.committed(2, java.util.Set.of(h));
        assertEquals(-1, catalog.pin(h), "still taken for absent");
        assertFalse(catalog.reusable(h, List.of(), Long.MIN_VALUE));
        assertFalse(catalog.pinChain(List.of(h)), "not a base any chunk can count on");
        // A writer put it over the damaged object.
        catalog.markPresent(h, 100, "zstd", List.of());
        assertFalse(catalog.damaged(h));
        assertTrue(catalog.reusable(h, List.of(), Long.MIN_VALUE));
    }

    /**
     * A writer that reads a marked chunk again and finds it intact (or gone) ends the mark without taking the chunk for
     * present: what the store says of it counts again, and it learns the stored form from there.
     */
    @Test
    void aMarkFoundFalseEndsWithoutTakingTheChunkForPresent() {
        ChunkCatalog catalog = new ChunkCatalog();
        String h = "0123456789abcdef0123456789abcdef";
        catalog.markPresent(h, 100, "zstd");
        catalog.markDamaged(h);
        catalog.markIntact(h);
        assertFalse(catalog.damaged(h));
        assertEquals(-1, catalog.sizeOf(h), "not known until the writer learns it");
        catalog.markPresent(h, 120, Instant.now());
        assertEquals(120, catalog.sizeOf(h), "a stat counts again");
    }

    private static byte[] damage(MemoryObjectStore mem, String key) throws Exception {
        return damage(mem, key, false);
    }

    /**
     * Flips a bit past the headers, in the frame's data (a bit the format cannot ignore), or, {@code inHeader}, puts a
     * codec id no release writes where the header keeps it (or, for a chunk stored without a Cairn header, into the
     * zstd frame's magic).
     */
    private static byte[] damage(MemoryObjectStore mem, String key, boolean inHeader) throws Exception {
        ByteBuffer stored = mem.readAll(key);
        byte[] flipped = new byte[stored.remaining()];
        stored.get(flipped);
        if (inHeader) {
            flipped[StoredChunkHeader.CODEC_ID_OFFSET] = (byte) '?';
        } else {
            flipped[StoredChunkHeader.MAX_LENGTH + (flipped.length - StoredChunkHeader.MAX_LENGTH) / 2] ^= 0x10;
        }
        mem.put(key, ByteBuffer.wrap(flipped));
        return flipped;
    }

    /** A frozen tensor, the same at every step, beside one that training changes. */
    private static TrainingState state(long step, boolean smooth) {
        return TrainingState.builder()
                .add(smooth ? smooth("frozen", 32 << 10) : randomTensor("frozen", DType.F32, 32 << 10, 7))
                .add(randomTensor("trained", DType.F32, 8 << 10, 100 + step))
                .build();
    }

    /** Floats that compress: stored far shorter than raw at any level. */
    private static dev.cairn.Tensor smooth(String name, int floats) {
        ByteBuffer b = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i * 4, (float) (i % 7));
        }
        return dev.cairn.Tensor.of(name, DType.F32, new long[] {floats}, b);
    }

    /**
     * The frozen content as weight-like floats (small, normally distributed: their exponents compress, their mantissas
     * do not), as a tensor of {@code dtype}: the same bytes whatever the dtype, stored in a float codec for F32 and
     * otherwise for an integer type.
     */
    private static TrainingState frozenAs(long step, DType dtype) {
        int floats = 32 << 10;
        ByteBuffer b = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        java.util.SplittableRandom random = new java.util.SplittableRandom(7);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i * 4, (float) (random.nextGaussian() * 0.02));
        }
        return TrainingState.builder()
                .add(dev.cairn.Tensor.of("frozen", dtype, new long[] {floats}, b))
                .add(randomTensor("trained", DType.F32, 8 << 10, 100 + step))
                .build();
    }

    private static List<ChunkRef> chunkRefsOf(MemoryObjectStore store, long step, String entry) throws Exception {
        return Fixtures.chunksOf(store, LAYOUT, step, entry);
    }

    private static List<String> chunksOf(MemoryObjectStore store, long step, String entry) throws Exception {
        return Fixtures.chunksOf(store, LAYOUT, step, entry).stream().map(ChunkRef::hash).toList();
    }
}
