package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.WhenBusy;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link WhenBusy}: a save that comes while an earlier one is still being persisted into its first tier. The first
 * tier's chunk writes wait at a gate the test opens, so "still being persisted" is a state the test holds, not a
 * race. SKIP returns a skipped handle at once, stores nothing and counts it; WAIT (the default) takes the step.
 */
class WhenBusyTest {
    private static final String RUN = "busy";
    /** Every save here is small; the deadline only bounds a hang on a machine loaded by other builds. */
    private static final long WAIT_SECONDS = 120;

    /** A store whose chunk writes wait until {@link #open} is counted down; {@link #reached} says one is waiting. */
    static class GatedStore extends ForwardingObjectStore {
        final CountDownLatch open = new CountDownLatch(1);
        final CountDownLatch reached = new CountDownLatch(1);

        GatedStore(ObjectStore delegate) {
            super(delegate);
        }

        private void gate(String key) throws IOException {
            if (key.contains("/chunks/")) {
                reached.countDown();
                try {
                    if (!open.await(WAIT_SECONDS, TimeUnit.SECONDS)) {
                        throw new IOException("the test never opened the gate");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted at the gate", e);
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            gate(key);
            super.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            gate(key);
            return super.putIfAbsent(key, data);
        }
    }

    @org.junit.jupiter.api.io.TempDir
    java.nio.file.Path dir;

    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 100_000, 300 + step)).build();
    }

    /** 4 MB: 62 chunks of 64 KiB, where the smallest staging for one encoder holds a few. */
    private static TrainingState large(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 1_000_000, 300 + step)).build();
    }

    @Test
    void skipReturnsASkippedHandleAtOnceWhileTheEarlierSaveIsPersistedAndTakesTheNextStepAfterIt() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (GatedStore memory = new GatedStore(new MemoryObjectStore(64L << 20));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).whenBusy(WhenBusy.SKIP).meterRegistry(registry)
                     .tier(TierConfig.of("memory", memory).keepLast(3)).build())) {
            CheckpointHandle first = cp.save(1, state(1));
            assertTrue(memory.reached.await(WAIT_SECONDS, TimeUnit.SECONDS), "step 1's chunks reach the store");

            CheckpointHandle skipped = cp.save(2, state(2));
            assertTrue(skipped.skipped().orElseThrow().contains("step 1"), skipped.skipped().toString());
            assertEquals(List.of(), skipped.tiers());
            assertTrue(skipped.captured().isDone() && !skipped.captured().isCompletedExceptionally());
            assertEquals(List.of(), skipped.done().getNow(null), "done at once, with no report");
            ExecutionException e = assertThrows(ExecutionException.class, () -> skipped.committed("memory").get());
            assertTrue(e.getCause().getMessage().contains("skipped"), e.getCause().getMessage());
            assertFalse(first.committed("memory").isDone(), "step 1 is still held at the gate");
            assertEquals(1.0, registry.get("cairn.save.skipped").tag("reason", "busy").counter().count());

            memory.open.countDown();
            first.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            CheckpointHandle third = cp.save(3, state(3));
            assertTrue(third.skipped().isEmpty(), "nothing is being persisted any more");
            third.done().get(WAIT_SECONDS, TimeUnit.SECONDS);

            assertEquals(List.of(3L, 1L), cp.list().stream().map(CheckpointInfo::step).toList(), "step 2 stored nothing");
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
            CheckpointException missing = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.step(2)));
            assertEquals(CheckpointException.Reason.NOT_FOUND, missing.reason());
        }
    }

    /**
     * An earlier save that expired at its deadline while its first tier's writes still hang is no longer in flight,
     * but its chunks still fill staging: SKIP skips, as training must not wait. Before, the step was taken and its
     * save() waited for staging up to its own deadline.
     */
    @Test
    void skipSkipsWhileAnExpiredSaveStillHoldsStaging() throws Exception {
        int chunk = 64 << 10;
        // Step 1 waits out this deadline (its writes held at the gate), and the save taken after the gate opens must
        // commit within it: 4 MB through a few chunks of staging, so 10 s (not shorter) for a busy 2-core machine.
        try (GatedStore memory = new GatedStore(new MemoryObjectStore(64L << 20));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).whenBusy(WhenBusy.SKIP).encoderThreads(1)
                     .chunkBytes(chunk).stagingBytes(CairnConfig.minimumStagingBytes(chunk, 1))
                     .deadline(java.time.Duration.ofSeconds(10)).tier(TierConfig.of("memory", memory).keepLast(3)).build())) {
            // Far more chunks than staging holds: with the writes held at the gate, step 1 fills it and expires.
            CheckpointHandle first = cp.save(1, large(1));
            ExecutionException expired = assertThrows(ExecutionException.class,
                    () -> first.done().get(WAIT_SECONDS, TimeUnit.SECONDS));
            assertTrue(expired.getCause() instanceof CheckpointException c && c.reason() == CheckpointException.Reason.TIMEOUT,
                    String.valueOf(expired.getCause()));

            CheckpointHandle second = cp.save(2, large(2));
            assertTrue(second.skipped().orElseThrow().contains("staging is full"), second.skipped().toString());

            memory.open.countDown(); // the writes return; staging drains
            CheckpointHandle third = null;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS); // bounds a hang, not a timing
            for (long step = 3; third == null; step++) {
                assertTrue(System.nanoTime() - until < 0, "staging never drained");
                CheckpointHandle h = cp.save(step, large(step));
                if (h.skipped().isEmpty()) {
                    third = h;
                } else {
                    Thread.sleep(50); // staging still draining: the next step is tried
                }
            }
            third.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
        }
    }

    /** Like {@link GatedStore}, but not in memory: the tier compresses, so held writes keep encoded slabs, not raw ones. */
    static final class GatedCompressingStore extends GatedStore {
        GatedCompressingStore(ObjectStore delegate) {
            super(delegate);
        }

        @Override
        public boolean inMemory() {
            return false;
        }
    }

    /**
     * An earlier save that expired while its first tier's writes still hang holds only PART of staging (two chunks'
     * slabs: raw ones into the memory tier, which stores them straight from staging; encoded ones into a tier that
     * compresses), so staging is not exhausted. The next COPY save needs more than is left: exactly all raw slabs
     * (memory), or the raw slabs plus two of the three encoded ones (compressing), which an idle pipeline holds with
     * the writes still hanging, without waiting. SKIP must skip it; before, it was taken and save() waited for
     * staging, on the caller's thread, until its own deadline (its captured() then failed with TIMEOUT).
     *
     * <p>Staging: one encoder (3 encoded slabs of 64-80 KiB) and 752 KiB, which leaves raw budget for exactly 8 raw
     * slabs of 64 KiB.
     */
    @ParameterizedTest(name = "earlier {0}, memory tier {1}")
    @CsvSource({"COPY, true", "ZERO_COPY, true", "COPY, false", "ZERO_COPY, false"})
    void skipSkipsWhileAnExpiredSaveStillHoldsPartOfStaging(SaveMode earlierMode, boolean inMemory) throws Exception {
        int chunk = 64 << 10;
        int laterChunks = inMemory ? 8 : 10;
        java.util.concurrent.ExecutorService trainer = java.util.concurrent.Executors.newSingleThreadExecutor();
        try (GatedStore memory = inMemory ? new GatedStore(new MemoryObjectStore(64L << 20))
                : new GatedCompressingStore(new MemoryObjectStore(64L << 20));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).whenBusy(WhenBusy.SKIP).encoderThreads(1)
                     .chunkBytes(chunk).stagingBytes(752L << 10).deadline(java.time.Duration.ofSeconds(3))
                     .tier(TierConfig.of("memory", memory).keepLast(3)).build())) {
            // Step 1: two chunks, whose writes hang at the gate until it expires.
            CheckpointHandle first = cp.save(1, chunks(2, 1), earlierMode);
            assertTrue(memory.reached.await(WAIT_SECONDS, TimeUnit.SECONDS), "step 1's chunks reach the store");
            ExecutionException expired = assertThrows(ExecutionException.class,
                    () -> first.done().get(WAIT_SECONDS, TimeUnit.SECONDS));
            assertTrue(expired.getCause() instanceof CheckpointException c && c.reason() == CheckpointException.Reason.TIMEOUT,
                    String.valueOf(expired.getCause()));
            try {
                first.captured().get(WAIT_SECONDS, TimeUnit.SECONDS); // ZERO_COPY: its capture has ended
            } catch (ExecutionException capturedFailed) {
                // expired (COPY): the failure is the deadline's
            }

            // Step 2 on the "training" thread, the gate still shut. 30 s is an upper bound for a loaded machine, not
            // a speed claim: a skip returns at once; the defect held save() until step 2's own deadline (3 s).
            java.util.concurrent.Future<CheckpointHandle> saving = trainer.submit(
                    () -> cp.save(2, chunks(laterChunks, 2), SaveMode.COPY));
            CheckpointHandle second = saving.get(30, TimeUnit.SECONDS);
            assertEquals(1, memory.open.getCount(), "the gate is still shut: step 1's writes still hang");
            assertTrue(second.skipped().isPresent(), "step 2 was taken (captured: " + second.captured()
                    + ", held by staging until its deadline when that failed), not skipped");
            assertTrue(second.skipped().orElseThrow().contains("expired"), second.skipped().toString());

            memory.open.countDown(); // the writes return; staging drains
            CheckpointHandle third = null;
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS); // bounds a hang, not a timing
            for (long step = 3; third == null; step++) {
                assertTrue(System.nanoTime() - until < 0, "staging never drained");
                CheckpointHandle h = cp.save(step, chunks(laterChunks, step));
                if (h.skipped().isEmpty()) {
                    third = h;
                } else {
                    Thread.sleep(50); // staging still draining: the next step is tried
                }
            }
            third.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            // A normal commit gives its slabs back before its first tier's commit completes: the next save is taken.
            CheckpointHandle next = cp.save(third.step() + 1, chunks(laterChunks, third.step() + 1));
            assertTrue(next.skipped().isEmpty(), next.skipped().toString());
            next.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
        } finally {
            trainer.shutdownNow();
        }
    }

    /** A state of exactly {@code n} chunks of 64 KiB. */
    private static TrainingState chunks(int n, long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, n * (16L << 10), 300 + seed)).build();
    }

    @Test
    void waitTheDefaultTakesTheStepWhileTheEarlierSaveIsPersisted() throws Exception {
        try (GatedStore memory = new GatedStore(new MemoryObjectStore(64L << 20));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("memory", memory).keepLast(3)).build())) {
            CheckpointHandle first = cp.save(1, state(1));
            assertTrue(memory.reached.await(WAIT_SECONDS, TimeUnit.SECONDS), "step 1's chunks reach the store");
            CheckpointHandle second = cp.save(2, state(2)); // staging has room: copied, not skipped
            assertTrue(second.skipped().isEmpty());
            assertEquals(List.of("memory"), second.tiers());
            memory.open.countDown();
            first.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            second.done().get(WAIT_SECONDS, TimeUnit.SECONDS);
            assertEquals(List.of(2L, 1L), cp.list().stream().map(CheckpointInfo::step).toList());
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
        }
    }

    @Test
    void thePolicyIsConfiguredByBuilderAndByFileAndABadValueIsNamed() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(1 << 20)) {
            assertEquals(WhenBusy.WAIT, CairnConfig.builder(RUN).tier(TierConfig.of("memory", store)).build().whenBusy());
        }
        CheckpointException nul = assertThrows(CheckpointException.class, () -> CairnConfig.builder(RUN).whenBusy(null));
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, nul.reason());

        Properties good = new Properties();
        String tier = "tiers = disk\ntier.disk.store = " + dir.resolve("disk").toString().replace("\\", "/") + "\n";
        good.load(new StringReader("run = busy\nwhen.busy = skip\n" + tier));
        assertEquals(WhenBusy.SKIP, CairnConfig.fromProperties(good).whenBusy());
        Properties bad = new Properties();
        bad.load(new StringReader("run = busy\nwhen.busy = sometimes\n" + tier));
        CheckpointException e = assertThrows(CheckpointException.class, () -> CairnConfig.fromProperties(bad));
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason());
        assertTrue(e.getMessage().contains("when.busy") && e.getMessage().contains("sometimes"), e.getMessage());
    }
}
