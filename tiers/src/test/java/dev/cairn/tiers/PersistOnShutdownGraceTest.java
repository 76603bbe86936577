package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.promote.PersistNewest;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persist on shutdown keeps to its grace: a promotion the hook gave up on does not commit afterwards (its claim
 * refuses); a hook whose grace ran out waiting for the saves in flight starts nothing; a hook does not start a second
 * promotion of a step a save's own promotion is copying into the same tier; and a slower tier that does not answer
 * holds neither the first tier's commit lock (the saves) nor the hook past its grace. Each slow store here waits on a
 * latch the test opens, never on a clock: the only time-bound waits are the hook's own graces.
 */
class PersistOnShutdownGraceTest {
    private static final String RUN = "grace";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    /** One chunk (40 KB of a 64 KiB chunk size): one copy per promotion. */
    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 10_000, seed)).build();
    }

    /** A store whose calls that {@code gated} picks wait for {@link #open} once {@link #armed}. */
    private static final class Gated extends ForwardingObjectStore {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch open = new CountDownLatch(1);
        final Predicate<String> gated;
        volatile boolean armed = true;

        Gated(ObjectStore delegate, Predicate<String> gated) {
            super(delegate);
            this.gated = gated;
        }

        private void gate(String key) throws IOException {
            if (armed && gated.test(key)) {
                reached.countDown();
                try {
                    open.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("gate");
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            gate("put " + key);
            super.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            gate("put " + key);
            return super.putIfAbsent(key, data);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            gate("stat " + key);
            return super.stat(key);
        }
    }

    private static boolean isChunkPut(String call) {
        return call.startsWith("put " + LAYOUT.chunksPrefix());
    }

    /** The memory tier, counting the first reads (offset 0) of chunks on the threads {@code counted} picks. */
    private static final class CountingReads extends ForwardingObjectStore {
        final AtomicInteger chunkReads = new AtomicInteger();
        final Predicate<String> counted;

        CountingReads(ObjectStore delegate, Predicate<String> counted) {
            super(delegate);
            this.counted = counted;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (offset == 0 && key.startsWith(LAYOUT.chunksPrefix()) && counted.test(Thread.currentThread().getName())) {
                chunkReads.incrementAndGet();
            }
            return super.read(key, offset, dst);
        }
    }

    private static boolean held(ObjectStore store, String key) throws IOException {
        try {
            store.stat(key);
            return true;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /** Waits for {@code condition}, which an event of the checkpointer makes true; fails after a minute. */
    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() - until < 0, "waited a minute for " + what);
            Thread.sleep(5);
        }
    }

    /** Every promotion out of the memory tier has ended: it lets go of its pins there once its commit has run. */
    private static void awaitPromotionsEnded(CairnCheckpointer cp) throws InterruptedException {
        await(() -> {
            try {
                return cp.catalogOf("memory").pinned().isEmpty();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }, "the promotions out of memory to end");
    }

    @Test
    void aPromotionTheHookGaveUpOnAtItsGraceIsNotCommittedAfterwards() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs = new FileSystemObjectStore(dir)) {
            Gated disk = new Gated(fs, PersistOnShutdownGraceTest::isChunkPut);
            CairnCheckpointer cp = (CairnCheckpointer) Checkpointer.open(smallConfig(RUN)
                    .tier(TierConfig.of("memory", memory).everySteps(1))
                    .tier(TierConfig.of("disk", disk).everySteps(10)).build());
            try {
                cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS); // in memory only
                // The hook's copy of the step's chunk waits at the gate for longer than the grace.
                PersistNewest.Outcome o = cp.persistNewestOutcome(Duration.ofMillis(300));
                assertEquals(List.of(), o.persisted(), "out of time: the hook reports nothing persisted");
                disk.open.countDown(); // the JVM is still alive (another shutdown hook, a close in progress)
                awaitPromotionsEnded(cp);
                assertFalse(held(fs, LAYOUT.manifestKey(1)), "step 1 committed in disk after the hook gave up on it");
                assertFalse(held(fs, LAYOUT.indexKey(1, 0)), "nothing of the commit is written");
            } finally {
                disk.open.countDown();
                cp.close();
            }
        }
    }

    @Test
    void aHookWhoseGraceRanOutWaitingForTheSavesStartsNoPromotion() throws Exception {
        try (MemoryObjectStore m = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs = new FileSystemObjectStore(dir)) {
            Gated memory = new Gated(m, PersistOnShutdownGraceTest::isChunkPut);
            memory.armed = false;
            CairnCheckpointer cp = (CairnCheckpointer) Checkpointer.open(smallConfig(RUN)
                    .tier(TierConfig.of("memory", memory).everySteps(1))
                    .tier(TierConfig.of("disk", fs).everySteps(10)).build());
            try {
                cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS); // in memory only
                memory.armed = true;
                CheckpointHandle two = cp.save(2, state(2)); // its chunk's write into memory waits at the gate
                assertTrue(memory.reached.await(60, TimeUnit.SECONDS));
                // The grace runs out waiting for step 2; the first tier's lock is free, and step 1 is its newest.
                PersistNewest.Outcome o = cp.persistNewestOutcome(Duration.ofMillis(200));
                assertEquals(List.of(), o.persisted());
                memory.open.countDown();
                two.done().get(60, TimeUnit.SECONDS);
                awaitPromotionsEnded(cp);
                assertEquals(List.of(), fs.list(LAYOUT.chunksPrefix()), "no promotion started after the grace ran out");
            } finally {
                memory.open.countDown();
                cp.close();
            }
        }
    }

    @Test
    void aHookWaitsForTheSavesOwnPromotionOfTheStepInsteadOfStartingASecond() throws Exception {
        try (MemoryObjectStore m = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs1 = new FileSystemObjectStore(dir.resolve("disk1"));
             FileSystemObjectStore fs2 = new FileSystemObjectStore(dir.resolve("disk2"))) {
            CountingReads memory = new CountingReads(m, thread -> thread.startsWith("cairn-io-disk1"));
            Gated disk1 = new Gated(fs1, PersistOnShutdownGraceTest::isChunkPut); // takes step 4
            Gated disk2 = new Gated(fs2, PersistOnShutdownGraceTest::isChunkPut); // takes step 3
            CairnCheckpointer cp = (CairnCheckpointer) Checkpointer.open(smallConfig(RUN)
                    .tier(TierConfig.of("memory", memory).everySteps(1))
                    .tier(TierConfig.of("disk1", disk1).everySteps(2))
                    .tier(TierConfig.of("disk2", disk2).everySteps(3)).build());
            ExecutorService hooks = Executors.newSingleThreadExecutor();
            try {
                CheckpointHandle three = cp.save(3, state(3));
                three.committed("memory").get(60, TimeUnit.SECONDS);
                assertTrue(disk2.reached.await(60, TimeUnit.SECONDS)); // step 3's promotion into disk2 waits
                Future<PersistNewest.Outcome> hook = hooks.submit(() -> cp.persistNewestOutcome(Duration.ofMinutes(2)));
                // The hook waits for the saves in flight when it began (step 3) and no other: step 4 begins after.
                await(() -> waitsForTheSaves(hook, hooks), "the hook to wait for step 3");
                CheckpointHandle four = cp.save(4, state(4));
                four.committed("memory").get(60, TimeUnit.SECONDS);
                assertTrue(disk1.reached.await(60, TimeUnit.SECONDS)); // step 4's promotion into disk1 copies
                disk2.open.countDown(); // step 3 ends; the hook finds step 4 newest, its promotion into disk1 under way
                await(() -> {
                    try {
                        return held(fs2, LAYOUT.manifestKey(4));
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                }, "the hook to persist step 4 into disk2");
                disk1.open.countDown();
                PersistNewest.Outcome o = hook.get(60, TimeUnit.SECONDS);
                four.committed("disk1").get(60, TimeUnit.SECONDS); // not failed CONFLICT by a second promotion
                awaitPromotionsEnded(cp);
                assertEquals(List.of("disk1", "disk2"), o.persisted(), "disk1 by the save's own promotion, within the grace");
                assertEquals(1, memory.chunkReads.get(), "step 4's chunk read once for disk1, by the save's promotion");
            } finally {
                disk1.open.countDown();
                disk2.open.countDown();
                hooks.shutdownNow();
                cp.close();
            }
        }
    }

    /** Whether the hook's thread is parked in its wait for the saves in flight. */
    private static boolean waitsForTheSaves(Future<?> hook, ExecutorService hooks) {
        return !hook.isDone() && Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith("pool-") && t.getState() == Thread.State.TIMED_WAITING)
                .anyMatch(t -> Arrays.stream(t.getStackTrace()).anyMatch(f -> f.getMethodName().equals("awaitAll")));
    }

    @Test
    void aSlowerTierThatDoesNotAnswerHoldsNeitherTheSavesNorTheHookPastItsGrace() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore fs = new FileSystemObjectStore(dir)) {
            Gated disk = new Gated(fs, call -> call.equals("stat " + LAYOUT.manifestKey(1)));
            disk.armed = false;
            CairnCheckpointer cp = (CairnCheckpointer) Checkpointer.open(smallConfig(RUN)
                    .tier(TierConfig.of("memory", memory).everySteps(1))
                    .tier(TierConfig.of("disk", disk).everySteps(10)).build());
            ExecutorService hooks = Executors.newSingleThreadExecutor();
            try {
                cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS); // in memory only
                disk.armed = true; // the HEAD of step 1's MANIFEST in disk does not answer (S3 unreachable)
                Future<PersistNewest.Outcome> hook = hooks.submit(() -> cp.persistNewestOutcome(Duration.ofSeconds(1)));
                assertTrue(disk.reached.await(60, TimeUnit.SECONDS));
                // Meanwhile a save commits in the first tier: the hook asks the slower tier outside its commit lock.
                cp.save(2, state(2)).committed("memory").get(60, TimeUnit.SECONDS);
                assertEquals(List.of(), hook.get(60, TimeUnit.SECONDS).persisted(), "the hook returns at its grace");
                assertTrue(disk.reached.getCount() == 0 && disk.open.getCount() == 1, "the HEAD was still unanswered");
            } finally {
                disk.open.countDown();
                hooks.shutdownNow();
                cp.close();
            }
        }
    }
}
