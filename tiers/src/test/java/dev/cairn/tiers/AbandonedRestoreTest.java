package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A restore gives up at its deadline while one chunk's read still waits on the store; its caller takes the buffers
 * back (to restore an older step into them, or to start afresh). When the store answers afterwards, nothing may be
 * written into them. Before, the restore waited for such a read only as long again as its deadline, and the read's
 * chunk was then decoded into the caller's buffers whenever the store answered.
 */
class AbandonedRestoreTest {
    private static final String RUN = "abandoned";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /**
     * The restore's deadline: the test waits it out twice (the restore, then its wait for reads in flight). Long enough
     * that a loaded machine still starts the held read, the first task, before the restore gives up.
     */
    private static final Duration DEADLINE = Duration.ofSeconds(8);

    @TempDir
    Path dir;

    /** Holds the read of one chunk until released, and says when it was asked and when it answered. */
    private static final class HeldChunk extends ForwardingObjectStore {
        final String key;
        final CountDownLatch asked = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch answered = new CountDownLatch(1);

        HeldChunk(FileSystemObjectStore disk, String key) {
            super(disk);
            this.key = key;
        }

        @Override
        public int read(String k, long offset, ByteBuffer dst) throws IOException {
            if (!k.equals(key)) {
                return super.read(k, offset, dst);
            }
            asked.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("held read interrupted");
            }
            try {
                return super.read(k, offset, dst);
            } finally {
                answered.countDown();
            }
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, seed)).build();
    }

    @Test
    void aReadAnsweredAfterTheRestoreGaveUpWritesNothingIntoTheCallersBuffers() throws Exception {
        String held;
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
            cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            try (RootAllocator alloc = new RootAllocator()) {
                held = LAYOUT.chunkKey(ManifestFormat.read(disk.readAll(LAYOUT.manifestKey(1)), "m", alloc)
                        .entries().get(0).chunks().get(0).hash()); // the first chunk: its read starts first
            }
        }
        TrainingState targets = state(9);
        ByteBuffer w = ((Tensor) targets.entries().get(0)).buffers().get(0);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            HeldChunk store = new HeldChunk(disk, held);
            Checkpointer cp = Checkpointer.open(smallConfig(RUN).deadline(DEADLINE)
                    .tier(TierConfig.of("disk", store)).build());
            try {
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> cp.restore(RestoreRequest.latest().into(targets)));
                assertEquals(CheckpointException.Reason.TIMEOUT, e.reason(), e.getMessage());
                assertTrue(store.asked.await(0, TimeUnit.SECONDS), "the held read was in flight when the restore gave up");
                for (int i = 0; i < w.capacity(); i++) {
                    w.put(i, (byte) 0x5A); // the caller's own use of its buffers
                }
                store.release.countDown();
                store.answered.await();
            } finally {
                store.release.countDown();
                cp.close(); // waits for the restore's threads: the held read's chunk is done with, one way or the other
            }
        }
        for (int i = 0; i < w.capacity(); i++) {
            assertEquals((byte) 0x5A, w.get(i), "byte " + i + " written after the restore gave up");
        }
    }
}
