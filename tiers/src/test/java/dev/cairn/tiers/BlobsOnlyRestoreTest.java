package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** {@link RestoreRequest#blobsOnly()}: a step's blobs without its tensors, for checks before anything is overwritten. */
class BlobsOnlyRestoreTest {
    /** 400 KB of tensors (lossy among them) beside two small blobs. */
    private static TrainingState state(long step) {
        return TrainingState.builder()
                .add(randomTensor("weight", DType.F32, 100_000, step))
                .add(Blob.ofUtf8("config", "{\"beta1\":0.9}"))
                .add(randomTensor("moment", DType.F32, 1_000, step + 1).asOptimizerState())
                .add(Blob.perRank("rng", new byte[] {1, 2, 3, (byte) step}))
                .build();
    }

    @Test
    void aRestoreOfBlobsOnlyReturnsTheBlobsOfTheNewestStepAndReadsNoTensor() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("blobs").lossy("moment", 10)
                     .tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, state(1)).done().get(30, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(30, TimeUnit.SECONDS);

            RestoreResult blobs = cp.restore(RestoreRequest.latest().blobsOnly());
            assertEquals(2, blobs.step());
            assertEquals(List.of("config", "rng"), blobs.state().entries().stream().map(Entry::name).toList());
            assertEquals("{\"beta1\":0.9}", blobs.state().blob("config").toUtf8());
            assertArrayEquals(new byte[] {1, 2, 3, 2}, blobs.state().blob("rng").toByteArray());
            assertTrue(blobs.state().blob("rng").isPerRank());
            long read = blobs.bytesReadByTier().values().stream().mapToLong(Long::longValue).sum();
            assertTrue(read > 0 && read < 1_000, "the blobs' chunks alone, read " + read + " bytes");
            assertEquals(List.of(), blobs.warnings(), "no lossy tensor restored");

            RestoreResult whole = cp.restore(RestoreRequest.step(blobs.step()));
            assertTrue(whole.bytesReadByTier().values().stream().mapToLong(Long::longValue).sum() > 400_000);
            assertEquals(1, whole.warnings().size(), whole.warnings().toString());
            assertEquals(1, cp.restore(RestoreRequest.step(1).blobsOnly()).step());
        }
    }

    @Test
    void blobsOnlyAndTargetsAreRefusedTogetherInEitherOrder() {
        TrainingState targets = state(1);
        CheckpointException first = assertThrows(CheckpointException.class,
                () -> RestoreRequest.latest().into(targets).blobsOnly());
        assertEquals(CheckpointException.Reason.INVALID_INPUT, first.reason());
        CheckpointException second = assertThrows(CheckpointException.class,
                () -> RestoreRequest.latest().blobsOnly().into(targets));
        assertEquals(CheckpointException.Reason.INVALID_INPUT, second.reason());
        assertTrue(RestoreRequest.step(3).blobsOnly().together().isBlobsOnly());
    }

    @Test
    void aRestoreOfBlobsOnlyOfARunWithNothingCommittedIsNotFound() {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("empty").tier(TierConfig.of("memory", mem)).build())) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> cp.restore(RestoreRequest.latest().blobsOnly()));
            assertEquals(CheckpointException.Reason.NOT_FOUND, e.reason());
        }
    }
}
