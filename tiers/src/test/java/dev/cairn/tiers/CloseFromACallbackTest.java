package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A close called from a save's commit callback ({@code committed("fast").thenRun(cp::close)}) runs on the fast tier's
 * I/O thread, inside that step's commit, with the tier's commit lock held, before the step's promotion starts. Before,
 * it waited for that very save until its deadline, then 10 s for the I/O thread it ran on, and failed the slower tier
 * with TIMEOUT; the commit then went on (the promotion started on closed parts). Now it fails the slower tier at once
 * with CLOSED, waits for nothing it holds up, and nothing starts after it.
 */
class CloseFromACallbackTest {
    private static final String RUN = "close-from-callback";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /** The save's deadline, which the old close waited out (and 10 s more): the bound below tells them apart. */
    private static final Duration DEADLINE = Duration.ofSeconds(8);

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, seed)).build();
    }

    @Test
    void aCloseInTheFastTiersCommitCallbackFailsTheSlowerTierClosedAtOnce() throws Exception {
        Files.createDirectories(dir.resolve("fast"));
        Files.createDirectories(dir.resolve("slower"));
        try (FileSystemObjectStore fast = new FileSystemObjectStore(dir.resolve("fast"));
             FileSystemObjectStore slower = new FileSystemObjectStore(dir.resolve("slower"))) {
            java.util.concurrent.CountDownLatch attached = new java.util.concurrent.CountDownLatch(1);
            Checkpointer cp = Checkpointer.open(smallConfig(RUN).deadline(DEADLINE)
                    .tier(TierConfig.of("fast", manifestAfter(attached, fast))).tier(TierConfig.of("slower", slower)).build());
            AtomicLong closeMillis = new AtomicLong(-1);
            AtomicReference<Thread> callbackThread = new AtomicReference<>();
            CompletableFuture<Void> closed;
            CheckpointHandle handle;
            try {
                handle = cp.save(1, state(1));
                closed = handle.committed("fast").thenRun(() -> {
                    callbackThread.set(Thread.currentThread());
                    long began = System.nanoTime();
                    cp.close();
                    closeMillis.set(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began));
                });
                attached.countDown();
                closed.get(60, TimeUnit.SECONDS); // a close that threw (a leak) fails this
                assertNotSame(Thread.currentThread(), callbackThread.get(), "the callback ran inside the commit");
                // The fast tier's I/O thread the callback ran on ends once the commit it was called in is over.
                callbackThread.get().join(TimeUnit.SECONDS.toMillis(60));
                assertFalse(callbackThread.get().isAlive(), "the commit the close was called in ended");
            } finally {
                cp.close();
            }
            // The old close took the deadline and 10 s more; one that waits for nothing takes a small part of the
            // deadline however busy the machine.
            assertTrue(closeMillis.get() < DEADLINE.toMillis(), "the close took " + closeMillis.get() + " ms");
            assertEquals(1, handle.committed("fast").get(0, TimeUnit.SECONDS).step());
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> handle.committed("slower").get(60, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof CheckpointException, String.valueOf(e.getCause()));
            assertEquals(CheckpointException.Reason.CLOSED, ((CheckpointException) e.getCause()).reason(),
                    e.getCause().getMessage());
            assertNull(handle.done().handle((r, x) -> r).get(60, TimeUnit.SECONDS), "done failed");
            assertTrue(fast.stat(LAYOUT.manifestKey(1)).size() > 0, "step 1 committed in the fast tier");
            assertFalse(slower.list(LAYOUT.chunksPrefix()).stream().findAny().isPresent(),
                    "no promotion started after close: no chunk copied to the slower tier");
        }
    }

    /**
     * A close from a commit callback does not wait for its own I/O thread, but it waits for the tier's other I/O
     * threads: they may be writing the next save's chunks from staging slabs, which the close then frees. It used to
     * skip the whole pool: close failed with Arrow's leak check ("Memory was leaked") while those writes went on, and
     * they landed in the store after close had returned.
     */
    @Test
    void aCloseInACommitCallbackWaitsForTheTiersOtherWritesBeforeFreeingStaging() throws Exception {
        Files.createDirectories(dir.resolve("fast"));
        java.util.concurrent.CountDownLatch firstSaveWritten = new java.util.concurrent.CountDownLatch(4); // 4 chunks of 64 KiB
        java.util.concurrent.CountDownLatch secondSaveWriting = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch closeCalled = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch closeReturned = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicBoolean holding = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger landedAfterClose = new java.util.concurrent.atomic.AtomicInteger();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("fast"))) {
            java.util.concurrent.CountDownLatch attached = new java.util.concurrent.CountDownLatch(1);
            dev.cairn.testkit.ForwardingObjectStore fast = new dev.cairn.testkit.ForwardingObjectStore(manifestAfter(attached, disk)) {
                @Override
                public boolean putIfAbsent(String key, java.nio.ByteBuffer data) throws java.io.IOException {
                    if (!key.contains("/chunks/")) {
                        return super.putIfAbsent(key, data);
                    }
                    if (holding.get()) {
                        // The second save's write: in flight (holding its slab) when the callback closes; it goes on
                        // once close was called, and takes as long as close lets it: until close returns, or 5 s.
                        secondSaveWriting.countDown();
                        await(closeCalled, 60);
                        boolean returned = await(closeReturned, 5);
                        boolean put = super.putIfAbsent(key, data);
                        if (returned) {
                            landedAfterClose.incrementAndGet();
                        }
                        return put;
                    }
                    boolean put = super.putIfAbsent(key, data);
                    firstSaveWritten.countDown();
                    return put;
                }
            };
            Checkpointer cp = Checkpointer.open(smallConfig(RUN).deadline(Duration.ofSeconds(60))
                    .tier(TierConfig.of("fast", fast)).build());
            AtomicReference<Throwable> closeFailed = new AtomicReference<>();
            try {
                CheckpointHandle first = cp.save(1, TrainingState.builder().add(randomTensor("w", DType.F32, 64_000, 1)).build());
                CompletableFuture<Void> closed = first.committed("fast").thenRun(() -> {
                    await(secondSaveWriting, 60);
                    closeCalled.countDown();
                    try {
                        cp.close();
                    } catch (Throwable t) {
                        closeFailed.set(t);
                    } finally {
                        closeReturned.countDown();
                    }
                });
                attached.countDown();
                assertTrue(firstSaveWritten.await(60, TimeUnit.SECONDS), "the first save's chunks written");
                holding.set(true);
                cp.save(2, TrainingState.builder().add(randomTensor("w", DType.F32, 64_000, 2)).build());
                closed.get(60, TimeUnit.SECONDS);
            } finally {
                cp.close();
            }
            assertNull(closeFailed.get(), "the close in the callback freed staging still in use");
            assertEquals(0, landedAfterClose.get(), "chunk writes landed in the store after close returned");
        }
    }

    /**
     * {@code store}, whose MANIFEST creates wait until {@code attached}: the commit callback is then attached before
     * the commit completes its future, and runs inside the commit, on the tier's I/O thread, not on the test's.
     */
    private static dev.cairn.ObjectStore manifestAfter(java.util.concurrent.CountDownLatch attached, dev.cairn.ObjectStore store) {
        return new dev.cairn.testkit.ForwardingObjectStore(store) {
            @Override
            public boolean putIfAbsent(String key, java.nio.ByteBuffer data) throws java.io.IOException {
                if (key.endsWith("/MANIFEST")) {
                    await(attached, 60);
                }
                return super.putIfAbsent(key, data);
            }
        };
    }

    private static boolean await(java.util.concurrent.CountDownLatch latch, long seconds) {
        try {
            return latch.await(seconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
