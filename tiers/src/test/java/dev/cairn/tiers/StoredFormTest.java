package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One stored form per chunk key and tier: a chunk that recurs is never stored again in another form under its key. */
class StoredFormTest {
    private static final int ELEMENTS = 2 * RoundTripProperties.CHUNK / 4;

    /**
     * Chunk 0 of a tensor is A0, then A1 (a few values changed: stored as its difference against A0), then B (new
     * values), then A1 again. By then A1 is neither named by the newest step nor recently written, so the save writes
     * it again; it used to write it whole over the stored difference, which step 2's manifest recorded. Step 2 then no
     * longer restored from memory (its reader stops at the difference's length, inside the whole form).
     */
    @Test
    void aChunkThatRecursKeepsTheFormTheEarlierManifestRecorded() throws Exception {
        Path dir = Files.createTempDirectory("cairn-forms");
        SplittableRandom random = new SplittableRandom(42);
        byte[] a0 = DeltaChainProperties.randomValues(DType.F32, ELEMENTS, random);
        byte[] a1 = a0.clone();
        a1[8] ^= 0x10;
        byte[] b = DeltaChainProperties.randomValues(DType.F32, ELEMENTS, random);
        System.arraycopy(a0, RoundTripProperties.CHUNK, b, RoundTripProperties.CHUNK, RoundTripProperties.CHUNK);
        byte[][] steps = {a0, a1, b, a1};
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            // A short grace makes "recently written" short: a chunk that recurs a moment later is written again.
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(1).differential(4).gcGrace(Duration.ofMillis(2))
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(4))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(4)).build())) {
                for (int s = 0; s < steps.length; s++) {
                    Thread.sleep(20);
                    cp.save(s + 1, DeltaChainProperties.state(DType.F32, steps[s])).done().get(30, TimeUnit.SECONDS);
                }
                StoredForms.assertManifestsAgree(mem, "prop");
                StoredForms.assertManifestsAgree(disk, "prop");
            }
            assertEachStepRestoresAlone(mem, steps);
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    /**
     * Shrunk from {@link StoredFormProperties}: step 2 changes a few values of a chunk (stored as their difference) and
     * is still being written when step 3, the same state, is saved. Step 3's encoder did not find the chunk yet and,
     * its previous version being the same content, encoded it whole; its writer then put the whole form over the
     * difference step 2's manifest had recorded. (Before the fix this needed step 3's encoding to run before step 2's
     * write, which the quick succession makes likely; now any order leaves one form.)
     */
    @Test
    void aSaveThatRepeatsAStepStillInFlightKeepsThatStepsForm() throws Exception {
        Path dir = Files.createTempDirectory("cairn-forms");
        SplittableRandom random = new SplittableRandom(7);
        byte[] a0 = DeltaChainProperties.randomValues(DType.F32, ELEMENTS, random);
        byte[] a1 = a0.clone();
        a1[RoundTripProperties.CHUNK + 12] ^= 0x21;
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(2)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(4))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(4)).build())) {
                cp.save(1, DeltaChainProperties.state(DType.F32, a0)).done().get(30, TimeUnit.SECONDS);
                var second = cp.save(2, DeltaChainProperties.state(DType.F32, a1));
                var third = cp.save(3, DeltaChainProperties.state(DType.F32, a1));
                second.done().get(30, TimeUnit.SECONDS);
                third.done().get(30, TimeUnit.SECONDS);
            }
            StoredForms.assertManifestsAgree(mem, "prop");
            StoredForms.assertManifestsAgree(disk, "prop");
            assertEachStepRestoresAlone(mem, a0, a1, a1);
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    /**
     * As above, then step 4 changes a few more values: its difference is against the chunk of steps 2 and 3, which the
     * tier holds as a difference against step 1's. The pipeline remembered that base with the form step 3 encoded
     * (whole), not the one the tier kept, so step 4's manifest named one base where the stored chain has two; once
     * steps 1 to 3 retired, GC took step 1's chunk, which step 4 still needed.
     */
    @Test
    void aDifferenceAgainstAnAdoptedFormNamesTheWholeStoredChain() throws Exception {
        SplittableRandom random = new SplittableRandom(9);
        byte[] a0 = DeltaChainProperties.randomValues(DType.F32, ELEMENTS, random);
        byte[] a1 = a0.clone();
        a1[RoundTripProperties.CHUNK + 12] ^= 0x21;
        byte[] a2 = a1.clone();
        a2[RoundTripProperties.CHUNK + 40] ^= 0x12;
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(4)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(1)).build())) {
                cp.save(1, DeltaChainProperties.state(DType.F32, a0)).done().get(30, TimeUnit.SECONDS);
                var second = cp.save(2, DeltaChainProperties.state(DType.F32, a1));
                var third = cp.save(3, DeltaChainProperties.state(DType.F32, a1));
                second.done().get(30, TimeUnit.SECONDS);
                third.done().get(30, TimeUnit.SECONDS);
                cp.save(4, DeltaChainProperties.state(DType.F32, a2)).done().get(30, TimeUnit.SECONDS);
                cp.gc(false);
            }
            StoredForms.assertManifestsAgree(mem, "prop");
            try (Checkpointer memoryOnly = Checkpointer.open(RoundTripProperties.config(1)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(8)).build())) {
                var r = memoryOnly.restore(RestoreRequest.step(4));
                assertSameState(DeltaChainProperties.state(DType.F32, a2), r.state());
            }
        }
    }

    /**
     * The same bytes in a float tensor and in an integer tensor of one save: stored whole, but in two codecs
     * (byte planes for the floats, plain zstd for the integers). Both positions may find the key absent and encode;
     * the second put used to replace the first form under the manifest that recorded it, and the promotion to disk,
     * reading the recorded length, then stopped short ("ended at ... of ... bytes") or copied a cut frame.
     */
    @Test
    void oneContentInTensorsOfTwoDtypesIsStoredInOneForm() throws Exception {
        Path dir = Files.createTempDirectory("cairn-forms");
        byte[] values = DeltaChainProperties.randomValues(DType.F32, RoundTripProperties.CHUNK / 4, new SplittableRandom(11));
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(2))
                    .tier(TierConfig.of("disk", disk).keepLast(2)).build())) {
                cp.save(1, twoDtypes(values)).done().get(30, TimeUnit.SECONDS);
            }
            StoredForms.assertManifestsAgree(mem, "prop");
            StoredForms.assertManifestsAgree(disk, "prop");
            for (var store : java.util.List.of(mem, disk)) {
                try (Checkpointer alone = Checkpointer.open(RoundTripProperties.config(2)
                        .tier(TierConfig.of("only", store).keepLast(4)).build())) {
                    var r = alone.restore(RestoreRequest.step(1));
                    assertSameState(twoDtypes(values), r.state());
                    org.junit.jupiter.api.Assertions.assertEquals(0, r.chunksRepaired());
                }
            }
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    private static TrainingState twoDtypes(byte[] values) {
        java.nio.ByteBuffer f = java.nio.ByteBuffer.allocateDirect(values.length).put(values).flip();
        java.nio.ByteBuffer n = java.nio.ByteBuffer.allocateDirect(values.length).put(values).flip();
        return TrainingState.builder()
                .add(dev.cairn.Tensor.of("f", DType.F32, new long[] {values.length / 4}, f))
                .add(dev.cairn.Tensor.of("n", DType.I32, new long[] {values.length / 4}, n))
                .build();
    }

    /** Each step i + 1 of {@code mem} restores as {@code steps[i]} from memory alone. */
    private static void assertEachStepRestoresAlone(MemoryObjectStore mem, byte[]... steps) throws Exception {
        try (Checkpointer memoryOnly = Checkpointer.open(RoundTripProperties.config(1)
                .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(8)).build())) {
            for (int s = 0; s < steps.length; s++) {
                var r = memoryOnly.restore(RestoreRequest.step(s + 1));
                assertSameState(DeltaChainProperties.state(DType.F32, steps[s]), r.state());
                org.junit.jupiter.api.Assertions.assertEquals(0, r.chunksRepaired());
            }
        }
    }
}
