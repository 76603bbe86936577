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
                    .tier(TierConfig.of("memory", mem).keepLast(4))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(4)).build())) {
                for (int s = 0; s < steps.length; s++) {
                    Thread.sleep(20);
                    cp.save(s + 1, DeltaChainProperties.state(DType.F32, steps[s])).done().get(30, TimeUnit.SECONDS);
                }
                StoredForms.assertManifestsAgree(mem, "prop");
                StoredForms.assertManifestsAgree(disk, "prop");
            }
            try (Checkpointer memoryOnly = Checkpointer.open(RoundTripProperties.config(1).differential(4)
                    .tier(TierConfig.of("memory", mem).keepLast(4)).build())) {
                for (int s = 0; s < steps.length; s++) {
                    var r = memoryOnly.restore(RestoreRequest.step(s + 1));
                    assertSameState(DeltaChainProperties.state(DType.F32, steps[s]), r.state());
                }
            }
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }
}
