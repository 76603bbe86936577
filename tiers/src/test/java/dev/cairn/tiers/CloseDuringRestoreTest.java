package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A restore running when the checkpointer is closed from another thread fails with CLOSED once close stops the restore
 * threads. Before, close dropped the chunk tasks still queued without cancelling them, and the restore waited for them
 * until its deadline, then failed with TIMEOUT.
 */
class CloseDuringRestoreTest {
    private static final String RUN = "close-during-restore";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /** 64 chunks of 64 KiB (smallConfig), many more than the restore threads: most wait in the queue. */
    private static final long FLOATS = 64L * (64 << 10) / 4;
    /**
     * The restore's deadline, which the old code waited out: the test tells CLOSED from TIMEOUT, not times, so this
     * only has to be far longer than a close.
     */
    private static final Duration DEADLINE = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    /** Holds every chunk read of the restore until interrupted (close stops the restore threads); says when the first began. */
    private static final class HeldReads extends ForwardingObjectStore {
        final CountDownLatch reading = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        HeldReads(FileSystemObjectStore disk) {
            super(disk);
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            // Only the restore's chunk reads (a new checkpointer also reads chunk headers at open, off the caller's thread).
            if (key.startsWith(LAYOUT.chunksPrefix()) && Thread.currentThread().getName().startsWith("cairn-restore")) {
                reading.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("held read interrupted");
                }
            }
            return super.read(key, offset, dst);
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, FLOATS, seed)).build();
    }

    @Test
    void aRestoreFailsClosedWhenTheCheckpointerIsClosed() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
                cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            }
            HeldReads store = new HeldReads(disk);
            TrainingState targets = state(9);
            ByteBuffer w = ((Tensor) targets.entries().get(0)).buffers().get(0);
            Checkpointer cp = Checkpointer.open(smallConfig(RUN).deadline(DEADLINE).tier(TierConfig.of("disk", store)).build());
            AtomicReference<Throwable> failed = new AtomicReference<>();
            Thread restore = new Thread(() -> {
                try {
                    cp.restore(RestoreRequest.latest().into(targets));
                } catch (Throwable e) {
                    failed.set(e);
                }
            }, "test-restore");
            try {
                restore.start();
                assertTrue(store.reading.await(60, TimeUnit.SECONDS), "the restore began reading chunks");
                // Every chunk task submitted: the restore waits for their futures (chunk tasks queued behind the held
                // reads), not still submitting them (a submit refused by the closed pool was always CLOSED).
                while (restore.isAlive() && !(LockSupport.getBlocker(restore) instanceof FutureTask)) {
                    Thread.sleep(5);
                }
                cp.close();
                // Half the deadline: the old restore waited for the dropped tasks until its deadline; one that ends
                // with the close takes a small part of this however busy the machine.
                restore.join(DEADLINE.toMillis() / 2);
                assertTrue(!restore.isAlive(), "the restore ended soon after close, not at its deadline");
                CheckpointException e = checkpointFailure(failed.get());
                assertEquals(CheckpointException.Reason.CLOSED, e.reason(), e.getMessage());
                for (int i = 0; i < w.capacity(); i++) {
                    w.put(i, (byte) 0x5A); // the caller's own use of its buffers, once the restore gave up
                }
            } finally {
                store.release.countDown();
                cp.close();
                restore.join(DEADLINE.toMillis() * 2);
            }
            for (int i = 0; i < w.capacity(); i++) {
                assertEquals((byte) 0x5A, w.get(i), "byte " + i + " written after the restore gave up");
            }
        }
    }

    private static CheckpointException checkpointFailure(Throwable t) {
        assertTrue(t instanceof CheckpointException, "the restore failed with a CheckpointException: " + t);
        return (CheckpointException) t;
    }
}
