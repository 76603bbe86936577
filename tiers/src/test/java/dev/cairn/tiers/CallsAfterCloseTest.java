package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every call after close fails with CLOSED and writes nothing. Before, {@code gc} and {@code list} did not check: a
 * {@code gc(false)} after close deleted from the stores as the run's writer (chunks only retired steps named at once,
 * without grace, which a checkpointer reopened on the run cannot see), and a collection running when close began went
 * on deleting after close returned.
 */
class CallsAfterCloseTest {
    private static final String RUN = "after-close";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /** A chunk no step names: garbage to a collection whose clock is past its grace period. */
    private static final String ORPHAN = LAYOUT.chunkKey("ab" + "0".repeat(30));

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, seed)).build();
    }

    /** A collection's clock an hour ahead: the orphan is past the grace period without a test waiting it out. */
    private static CairnCheckpointer open(dev.cairn.ObjectStore store) {
        return new CairnCheckpointer(smallConfig(RUN).tier(TierConfig.of("disk", store)).build(),
                () -> System.currentTimeMillis() + TimeUnit.HOURS.toMillis(1));
    }

    @Test
    void gcAndListAfterCloseFailClosedAndDeleteNothing() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            CairnCheckpointer cp = open(disk);
            cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            cp.close();
            disk.put(ORPHAN, ByteBuffer.wrap(new byte[] {1, 2, 3}));

            CheckpointException gc = assertThrows(CheckpointException.class, () -> cp.gc(false));
            assertEquals(Reason.CLOSED, gc.reason(), gc.getMessage());
            CheckpointException dry = assertThrows(CheckpointException.class, () -> cp.gc(true));
            assertEquals(Reason.CLOSED, dry.reason(), dry.getMessage());
            CheckpointException list = assertThrows(CheckpointException.class, cp::list);
            assertEquals(Reason.CLOSED, list.reason(), list.getMessage());
            assertEquals(3, disk.stat(ORPHAN).size(), "the orphan is kept");
        }
    }

    /** Holds the collection's listing of the chunks until released; notes a delete made after close returned. */
    private static final class HeldListing extends ForwardingObjectStore {
        final CountDownLatch listing = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicBoolean closeReturned = new AtomicBoolean();
        final AtomicReference<String> deletedAfterClose = new AtomicReference<>();
        volatile boolean hold;

        HeldListing(FileSystemObjectStore disk) {
            super(disk);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            if (hold && prefix.equals(LAYOUT.chunksPrefix())) {
                listing.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("held listing interrupted");
                }
            }
            return super.list(prefix);
        }

        @Override
        public void delete(String key) throws IOException {
            if (closeReturned.get()) {
                deletedAfterClose.compareAndSet(null, key);
            }
            super.delete(key);
        }
    }

    @Test
    void aCloseWaitsForACollectionInFlight() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            HeldListing store = new HeldListing(disk);
            CairnCheckpointer cp = open(store);
            cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            disk.put(ORPHAN, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            store.hold = true;
            AtomicReference<Throwable> gcFailed = new AtomicReference<>();
            Thread gc = new Thread(() -> {
                try {
                    cp.gc(false);
                } catch (Throwable e) {
                    gcFailed.set(e);
                }
            }, "test-gc");
            gc.start();
            assertTrue(store.listing.await(60, TimeUnit.SECONDS), "the collection listed the chunks");
            Thread closer = new Thread(() -> {
                cp.close();
                store.closeReturned.set(true);
            }, "test-close");
            closer.start();
            // Until the close has returned, or waits on a lock (the tier's commit lock, which the collection holds).
            while (closer.isAlive() && !(LockSupport.getBlocker(closer) instanceof java.util.concurrent.locks.AbstractQueuedSynchronizer s
                    && s.getClass().getName().contains("ReentrantLock"))) {
                Thread.sleep(5);
            }
            store.release.countDown();
            gc.join(TimeUnit.SECONDS.toMillis(60));
            closer.join(TimeUnit.SECONDS.toMillis(60));
            assertTrue(store.closeReturned.get(), "close returned");
            assertNull(gcFailed.get(), "the collection begun before close finished");
            assertNull(store.deletedAfterClose.get(), "deleted after close returned");
            assertThrows(java.nio.file.NoSuchFileException.class, () -> disk.stat(ORPHAN), "the collection ran to its end");
        }
    }

    /**
     * A close waiting for a save in flight that is interrupted stops waiting and keeps the interrupt (it used to be
     * swallowed: a caller's interrupt of a closing thread was lost).
     */
    @Test
    void aCloseInterruptedWhileItWaitsForASaveKeepsTheInterrupt() throws Exception {
        java.util.concurrent.CountDownLatch writing = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            dev.cairn.testkit.ForwardingObjectStore held = new dev.cairn.testkit.ForwardingObjectStore(disk) {
                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws java.io.IOException {
                    if (key.contains("/chunks/")) {
                        writing.countDown();
                        try {
                            release.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return super.putIfAbsent(key, data);
                }
            };
            CairnCheckpointer cp = new CairnCheckpointer(smallConfig(RUN).deadline(java.time.Duration.ofSeconds(60))
                    .tier(TierConfig.of("disk", held)).build());
            cp.save(1, state(1));
            assertTrue(writing.await(60, TimeUnit.SECONDS), "the save's first chunk is being written");
            java.util.concurrent.atomic.AtomicBoolean keptInterrupt = new java.util.concurrent.atomic.AtomicBoolean();
            Thread closer = new Thread(() -> {
                cp.close();
                keptInterrupt.set(Thread.currentThread().isInterrupted());
            }, "closer");
            closer.start();
            // Interrupted once it waits for the save (parked in the save's future), not before.
            while (closer.isAlive() && !String.valueOf(java.util.concurrent.locks.LockSupport.getBlocker(closer))
                    .startsWith("java.util.concurrent.CompletableFuture$Signaller")) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
            }
            closer.interrupt();
            release.countDown(); // the writes go on, fail for the closed checkpointer, and the close ends
            closer.join(TimeUnit.SECONDS.toMillis(60));
            assertFalse(closer.isAlive(), "the close ended");
            assertTrue(keptInterrupt.get(), "the close kept its thread's interrupt");
        }
    }
}
