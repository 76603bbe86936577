package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A save that reuses a stored chunk records the form it found (codec, stored length). If the tier meanwhile holds the
 * same content in another form (deleted by a collector in another process and written again by a later save, whose
 * codec choice may differ), the commit's confirmation of that chunk finds another length and fails the step, instead of
 * committing rows whose recorded length would cut the stored frame short; the catalog forgets the chunk, so the next
 * save learns the form the tier holds and commits, and restores bit-exact.
 */
class ReusedChunkFormTest {
    private static final String RUN = "forms";

    @TempDir
    Path dir;

    /** One chunk of a compressible tensor: stored zstd-coded, far shorter than stored raw. */
    private static TrainingState state() {
        Tensor w = Tensor.allocate("w", DType.F32, 16 << 10);
        ByteBuffer b = w.buffers().get(0);
        for (int i = 0; i < b.capacity(); i += 4) {
            b.putFloat(i, (i / 4) % 7 * 0.5f);
        }
        return TrainingState.builder().add(w).build();
    }

    @Test
    void aReusedChunkStoredAgainInAnotherFormFailsTheCommitThenIsLearned() throws Exception {
        TrainingState state = state();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, state).done().get(60, TimeUnit.SECONDS);
            List<ObjectInfo> chunks = disk.list(RUN + "/chunks/");
            assertEquals(1, chunks.size(), "one chunk: " + chunks);
            String key = chunks.get(0).key();
            ByteBuffer stored = disk.readAll(key);
            int rawLength = Math.toIntExact(state.entries().get(0).byteSize());
            ByteBuffer raw = ByteBuffer.allocateDirect(rawLength);
            ByteBuffer storedDirect = ByteBuffer.allocateDirect(stored.remaining()).put(stored).flip();
            ByteBuffer again = ByteBuffer.allocateDirect(ChunkCodec.maxStoredBytes(rawLength));
            try (ChunkCodec codec = new ChunkCodec(1)) {
                codec.decode(storedDirect, 0, storedDirect.limit(), raw, 0, rawLength);
            }
            int n = ChunkCodec.encodeRaw(raw, 0, rawLength, again);
            assertNotEquals(storedDirect.limit(), n, "the other form has another length");
            disk.put(key, again.limit(n)); // the same content, stored in another form

            CompletionException failed = assertThrows(CompletionException.class, () -> cp.save(2, state).done().join());
            CheckpointException e = (CheckpointException) failed.getCause();
            assertEquals(CheckpointException.Reason.STORAGE, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("another form"), e.getMessage());

            cp.save(3, state).done().get(60, TimeUnit.SECONDS);
            TrainingState into = state();
            into.entries().get(0).buffers().get(0).putFloat(0, 99f);
            RestoreResult r = cp.restore(RestoreRequest.latest().into(into));
            assertEquals(3, r.step());
            assertSameState(state, into);
        }
    }
}
