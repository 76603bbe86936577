package dev.cairn.tiers;

import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Shrunk from GcSafetyProperties: zero-copy saves issued back to back, without waiting, all commit. */
class PipelinedZeroCopyTest {
    @TempDir
    Path dir;

    @Test
    void backToBackZeroCopySavesAllCommit() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2)
                     .tier(TierConfig.of("memory", mem).keepLast(1))
                     .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(1)).build())) {
            List<CheckpointHandle> handles = new ArrayList<>();
            int[] variants = {3, 3, 0, 3};
            for (int i = 0; i < variants.length; i++) {
                handles.add(cp.save(i + 1, GcSafetyProperties.variant(variants[i], i + 1), SaveMode.ZERO_COPY));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(30, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void zeroCopySavesWithStagedChunksAndCopySavesShareTightStagingWithoutWaiting() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).deadline(java.time.Duration.ofSeconds(20))
                     .tier(TierConfig.of("memory", mem).keepLast(2)).build())) {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int step = 1; step <= 12; step++) {
                // Blobs and heap tensors must be staged even in ZERO_COPY; staging holds only a few chunks.
                dev.cairn.TrainingState state = dev.cairn.TrainingState.builder()
                        .add(dev.cairn.Blob.of("blob", new byte[5 * RoundTripProperties.CHUNK + step]))
                        .add(dev.cairn.Tensor.of("heap", dev.cairn.DType.U8, new long[] {3L * RoundTripProperties.CHUNK},
                                java.nio.ByteBuffer.allocate(3 * RoundTripProperties.CHUNK)))
                        .add(GcSafetyProperties.variant(step % 3, step).entry("step"))
                        .build();
                handles.add(cp.save(step, state, step % 2 == 0 ? SaveMode.ZERO_COPY : SaveMode.COPY));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(30, TimeUnit.SECONDS);
            }
            org.junit.jupiter.api.Assertions.assertEquals(12, cp.restore(dev.cairn.RestoreRequest.latest()).step());
        }
    }
}
