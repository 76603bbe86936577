package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** A failing stage fails that checkpoint's futures, and the pipeline goes on serving the next saves. */
class PipelineFailureTest {

    /** A memory store whose writes fail while {@link #broken} is set. */
    static class BreakableStore extends ForwardingObjectStore {
        final AtomicBoolean broken = new AtomicBoolean();

        BreakableStore() {
            super(new MemoryObjectStore(256L << 20));
        }

        private void check(String key) throws IOException {
            if (broken.get()) {
                throw new IOException("injected write failure for " + key);
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            check(key);
            delegate.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            check(key);
            return delegate.putIfAbsent(key, data);
        }

        @Override
        public String describe() {
            return "breakable " + delegate.describe();
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 200_000, seed)).build();
    }

    @Test
    void aFailingTierFailsOnlyItsFutureAndTheNextSaveSucceeds() throws Exception {
        try (MemoryObjectStore good = new MemoryObjectStore(256L << 20);
             BreakableStore flaky = new BreakableStore();
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("memory", good))
                     .tier(TierConfig.of("flaky", flaky)).build())) {
            flaky.broken.set(true);
            CheckpointHandle failed = cp.save(1, state(1));
            assertEquals(1, failed.committed("memory").get(30, TimeUnit.SECONDS).step());
            ExecutionException e = assertThrows(ExecutionException.class, () -> failed.committed("flaky").get(30, TimeUnit.SECONDS));
            CheckpointException cause = assertInstanceOf(CheckpointException.class, e.getCause());
            assertEquals(CheckpointException.Reason.STORAGE, cause.reason());
            assertTrue(cause.getMessage().contains("flaky"), cause.getMessage());
            assertThrows(ExecutionException.class, () -> failed.done().get(30, TimeUnit.SECONDS));

            flaky.broken.set(false);
            cp.save(2, state(2)).done().get(30, TimeUnit.SECONDS);
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
            assertEquals(List.of(2L, 2L, 1L), cp.list().stream().map(dev.cairn.CheckpointInfo::step).toList());
            assertEquals(0, ((CairnCheckpointer) cp).stagingSlabsInUse(), "no staging leaked by the failed save");
        }
    }

    @Test
    void closeCutsOffASaveStillPersistingAndStillGetsEveryBufferBack() throws Exception {
        // Writes so slow that the save is still persisting when close stops waiting for it: close fails the save,
        // lets the writes in flight end, and must then find every slab and scratch buffer back, or Arrow's leak check
        // fails the close itself.
        try (BreakableStore slow = new BreakableStore() {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    slowly();
                    super.put(key, data);
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    slowly(); // a save creates the chunks its catalog does not know
                    return super.putIfAbsent(key, data);
                }

                private void slowly() {
                    try {
                        Thread.sleep(500);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }) {
            Checkpointer cp = Checkpointer.open(smallConfig("run1").deadline(java.time.Duration.ofSeconds(1))
                    .tier(TierConfig.of("slow", slow)).build());
            CheckpointHandle cutOff = cp.save(1, state(1));
            org.junit.jupiter.api.Assertions.assertDoesNotThrow(cp::close, "nothing leaked");
            ExecutionException e = assertThrows(ExecutionException.class, () -> cutOff.done().get(30, TimeUnit.SECONDS));
            CheckpointException cause = assertInstanceOf(CheckpointException.class, e.getCause());
            assertTrue(cause.reason() == CheckpointException.Reason.CLOSED || cause.reason() == CheckpointException.Reason.TIMEOUT,
                    cause.getMessage());
        }
    }

    @Test
    void aCaptureThatCannotGetStagingFailsAndTheRingKeepsRunning() throws Exception {
        // Staging deadline shorter than the time the blocked I/O holds every slab: the capture times out. The writes
        // stay blocked until the test releases them, not for a time a busy machine could outlast or fall short of.
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (BreakableStore slow = new BreakableStore() {
                @Override
                public void put(String key, ByteBuffer data) throws IOException {
                    stall();
                    super.put(key, data);
                }

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    stall(); // a save creates the chunks its catalog does not know
                    return super.putIfAbsent(key, data);
                }

                private void stall() throws IOException {
                    if (broken.get()) {
                        try {
                            if (!release.await(120, TimeUnit.SECONDS)) {
                                throw new IOException("test: the blocked writes were never released");
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }
            };
             Checkpointer cp = Checkpointer.open(smallConfig("run1").deadline(java.time.Duration.ofSeconds(1))
                     .stagingBytes(dev.cairn.CairnConfig.minimumStagingBytes(64 << 10, 2))
                     .tier(TierConfig.of("slow", slow)).build())) {
            try {
                slow.broken.set(true);
                Throwable failure = null;
                long step = 0;
                while (failure == null && step < 20) {
                    step++;
                    CheckpointHandle h = cp.save(step, state(step)); // never throws for it: training goes on
                    try {
                        h.done().get(30, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        failure = e.getCause();
                    }
                }
                CheckpointException c = assertInstanceOf(CheckpointException.class, failure);
                assertEquals(CheckpointException.Reason.TIMEOUT, c.reason(), c.getMessage());
                slow.broken.set(false);
                release.countDown(); // the blocked writes go on, and staging drains
                // The ring keeps running: a later save commits. One taken while staging still drains, or slowed past
                // the 1 s deadline by a busy machine, times out; the next step is tried (120 s bounds a hang).
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                long committed = -1;
                while (committed < 0) {
                    step++;
                    try {
                        committed = cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS).get(0).step();
                    } catch (ExecutionException e) {
                        CheckpointException timedOut = assertInstanceOf(CheckpointException.class, e.getCause());
                        assertEquals(CheckpointException.Reason.TIMEOUT, timedOut.reason(), timedOut.getMessage());
                        assertTrue(System.nanoTime() - until < 0, "no save committed within 120 s: " + timedOut);
                    }
                }
                assertEquals(step, committed);
                assertSameState(state(step), cp.restore(RestoreRequest.latest()).state());
            } finally {
                release.countDown();
            }
        }
    }

    /** A memory store that throws an Error while reading a stored chunk, when {@link #broken} is set. */
    static final class ErrorOnChunkReads extends ForwardingObjectStore {
        final AtomicBoolean broken = new AtomicBoolean();

        ErrorOnChunkReads() {
            super(new MemoryObjectStore(64L << 20));
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (broken.get() && key.contains("/chunks/")) {
                throw new OutOfMemoryError("injected: Direct buffer memory");
            }
            return super.read(key, offset, dst);
        }
    }

    @Test
    void anErrorOnTheFeederFailsThatSaveAndTheNextSavesGoOn() throws Exception {
        int chunk = 64 << 10;
        ByteBuffer w = ByteBuffer.allocateDirect(chunk * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        java.util.SplittableRandom random = new java.util.SplittableRandom(1);
        for (int i = 0; i < w.capacity(); i += 4) {
            w.putFloat(i, (float) (random.nextGaussian() * 0.02));
        }
        ErrorOnChunkReads store = new ErrorOnChunkReads();
        // A compressed memory tier keeps differential chunks: the feeder reads a changed chunk's base from the store.
        try (store; Checkpointer cp = Checkpointer.open(smallConfig("run1").chunkBytes(chunk)
                .tier(TierConfig.of("memory", store).compressionLevel(1).keepLast(2)).build())) {
            cp.save(1, state(w)).done().get(60, TimeUnit.SECONDS);
            w.putFloat(0, w.getFloat(0) + 1e-3f);
            store.broken.set(true);
            // Before: the Error ended the feeder thread; this save and every later one failed only at their deadline
            // (TIMEOUT), their staging never came back, and close reported the leak.
            ExecutionException e = assertThrows(ExecutionException.class, () -> cp.save(2, state(w)).done().get(60, TimeUnit.SECONDS));
            assertTrue(e.getCause().toString().contains("injected"), e.getCause().toString());
            store.broken.set(false);
            w.putFloat(chunk, w.getFloat(chunk) + 1e-3f);
            cp.save(3, state(w)).done().get(60, TimeUnit.SECONDS);
            assertEquals(0, ((CairnCheckpointer) cp).stagingSlabsInUse());
            ByteBuffer restored = Fixtures.concat(cp.restore(RestoreRequest.latest()).state().tensor("w"));
            assertEquals(w.duplicate().clear(), restored);
        }
    }

    private static TrainingState state(ByteBuffer w) {
        return TrainingState.builder().add(dev.cairn.Tensor.of("w", DType.F32, new long[] {w.capacity() / 4}, w.duplicate().clear()))
                .build();
    }
}
