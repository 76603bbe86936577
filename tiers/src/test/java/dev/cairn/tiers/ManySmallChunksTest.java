package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A state of hundreds of small tensors (a model's biases and norms, one chunk each) saved every step into a memory
 * tier, whose chunks the feeder hands to the encoders in groups rather than one by one
 * ({@code SavePipeline#HELD_EVENTS}): more chunks than a group, in staging too small to capture a whole save (so a
 * save reaches the feeder in several runs), in both save modes; every step restores bit-exact from memory and from
 * the disk it is promoted to, and no staging is left in use.
 */
class ManySmallChunksTest {
    private static final int CHUNK = 64 << 10;
    @TempDir
    Path dir;

    private static TrainingState state(long step) {
        List<Tensor> tensors = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            tensors.add(Fixtures.randomTensor("layer" + i + ".bias", DType.F32, 64 + (i % 7) * 100, step * 1000 + i));
        }
        tensors.add(Fixtures.randomTensor("embedding", DType.F32, 3 * CHUNK / 4 + 123, step * 1000 + 999));
        return TrainingState.of(tensors);
    }

    @Test
    void everyStepOfHundredsOfSmallChunksRestoresBitExactFromMemoryAndDisk() throws Exception {
        // Staging for a handful of chunks: a save of 300 reaches the feeder in several runs.
        long staging = CairnConfig.minimumStagingBytes(CHUNK, 2) + 4L * CHUNK;
        try (MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            CairnConfig config = smallConfig("many").stagingBytes(staging)
                    .tier(TierConfig.of("memory", memory).everySteps(1).keepLast(2))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(2)).build();
            try (Checkpointer cp = Checkpointer.open(config)) {
                for (long step = 1; step <= 6; step++) {
                    TrainingState s = state(step);
                    CheckpointHandle h = cp.save(step, s, step % 3 == 0 ? SaveMode.ZERO_COPY : SaveMode.COPY);
                    // Generous: the saves are small; only a stuck feeder would take this long.
                    h.done().get(60, TimeUnit.SECONDS);
                    assertSameState(state(step), cp.restore(RestoreRequest.step(step)).state());
                }
                assertEquals(0, ((CairnCheckpointer) cp).stagingSlabsInUse());
            }
            try (Checkpointer fromDisk = Checkpointer.open(smallConfig("many").tier(TierConfig.of("disk", disk)).build())) {
                assertSameState(state(6), fromDisk.restore(RestoreRequest.step(6)).state());
            }
        }
    }
}
