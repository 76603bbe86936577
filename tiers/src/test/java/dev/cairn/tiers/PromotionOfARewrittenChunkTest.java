package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A promotion copies a chunk's stored bytes as the step's manifest records them, by length. The same content may be
 * stored again under its key in another form since (another save of it, another codec), and a longer one: the copy
 * then fails instead of cutting that form to the recorded length and committing the cut bytes as the chunk (a step
 * that no read could restore). Here the newest step, held in memory only (the disk tier takes every 10th step), is
 * persisted as at a shutdown, after its one chunk was stored again raw, longer than its compressed form.
 */
class PromotionOfARewrittenChunkTest {
    private static final String RUN = "rewritten";

    @TempDir
    Path dir;

    @Test
    void aChunkStoredAgainLongerSinceItsManifestFailsThePromotionInsteadOfCommittingACutCopy() throws Exception {
        int floats = 8 << 10;
        ByteBuffer smooth = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < floats; i++) {
            smooth.putFloat(i * 4, (float) (i % 7)); // compresses: stored far shorter than raw
        }
        StoreLayout layout = new StoreLayout(RUN);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder(RUN).chunkBytes(floats * 4).encoderThreads(1)
                     .deadline(Duration.ofMinutes(1)).tier(TierConfig.of("memory", mem).compressionLevel(3))
                     .tier(TierConfig.of("disk", disk).everySteps(10)).build())) {
            cp.save(1, TrainingState.builder().tensor("w", DType.F32, new long[] {floats}, smooth).build(), SaveMode.COPY)
                    .done().join();
            List<ObjectInfo> chunks = mem.list(layout.chunksPrefix());
            assertEquals(1, chunks.size(), "one chunk: " + chunks);
            String key = chunks.get(0).key();
            long recorded = chunks.get(0).size();
            ByteBuffer raw = ByteBuffer.allocateDirect(floats * 4 + 64);
            int n = ChunkCodec.encodeRaw(smooth.duplicate().clear(), 0, floats * 4, raw);
            assertTrue(n > recorded, "the raw form (" + n + " bytes) is longer than the stored one (" + recorded + ")");
            mem.put(key, raw.limit(n));
            assertEquals(1, cp.restore(RestoreRequest.step(1)).step(), "the content is the same: memory restores it");

            List<String> persisted = ((CairnCheckpointer) cp).persistNewest(Duration.ofMinutes(1));
            assertFalse(persisted.contains("disk"), "persisted into " + persisted);
            assertTrue(disk.list(layout.manifestKey(1)).isEmpty(), "no step 1 committed on disk");
        }
    }
}
