package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.Tmpfs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A failed save never fails training (goodput, issue 18 item 5): a memory tier takes every step and a disk tier on a
 * small tmpfs (mounted by the test; root on Linux, skipped elsewhere) every step too, until the disk fills up. The
 * disk's checkpoints then fail with a reason naming the path, {@code save()} itself never throws, the memory tier
 * commits every step and keeps the newest state, and every step the disk did commit restores bit for bit from it.
 */
class FailedSaveTest {
    private static final String RUN = "full";
    /** Every save here is small; the deadline only bounds a hang on a machine loaded by other builds. */
    private static final long WAIT_SECONDS = 120;
    private static final int STEPS = 14;

    @TempDir
    Path dir;
    private Tmpfs tmpfs;

    @AfterEach
    void unmount() throws Exception {
        if (tmpfs != null) {
            tmpfs.close();
        }
    }

    /** 480 KB of random floats that change every step (incompressible, never deduplicated) and 200 KB that do not. */
    private static TrainingState state(long step) {
        return TrainingState.builder()
                .add(randomTensor("w", DType.F32, 120_000, 1000 + step))
                .add(randomTensor("frozen", DType.F32, 50_000, 7))
                .build();
    }

    @Test
    void aDiskThatFillsUpFailsItsCheckpointsWhileMemoryCommitsEveryStepAndTheRunGoesOn() throws Exception {
        Optional<Tmpfs> mounted = Tmpfs.mount(dir.resolve("tmpfs"), 3L << 20);
        assumeTrue(mounted.isPresent(), "cannot mount a tmpfs here (needs root on Linux): the full disk is not run");
        tmpfs = mounted.get();
        Path store = tmpfs.path().resolve("store");
        List<Long> diskCommitted = new ArrayList<>();
        List<Long> diskFailed = new ArrayList<>();
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN)
                     .tier(TierConfig.of("memory", memory).everySteps(1).keepLast(2))
                     .tier(TierConfig.of("disk", disk).everySteps(1).keepLast(100)).build())) {
            for (long step = 1; step <= STEPS; step++) {
                CheckpointHandle h = cp.save(step, state(step)); // never throws for a tier that fails
                h.committed("memory").get(WAIT_SECONDS, TimeUnit.SECONDS);
                try {
                    h.committed("disk").get(WAIT_SECONDS, TimeUnit.SECONDS);
                    diskCommitted.add(step);
                } catch (ExecutionException e) {
                    CheckpointException why = (CheckpointException) e.getCause();
                    assertEquals(CheckpointException.Reason.STORAGE, why.reason(), why.getMessage());
                    assertTrue(why.getMessage().contains(tmpfs.path().toString()), "names the path: " + why.getMessage());
                    assertTrue(why.getMessage().contains("No space left on device"), "says why: " + why.getMessage());
                    assertTrue(isFailed(h.done()), "the checkpoint's done() fails with its tier");
                    diskFailed.add(step);
                }
            }
            assertFalse(diskCommitted.isEmpty(), "the first steps fit on the disk");
            assertFalse(diskFailed.isEmpty(), "3 MiB cannot hold " + STEPS + " steps of 480 KB of new bytes each");

            // The memory tier kept the newest state: the run goes on from the last step, not the last one on disk.
            RestoreResult latest = cp.restore(RestoreRequest.latest());
            assertEquals(STEPS, latest.step());
            assertEquals("memory", latest.tier());
            assertSameState(state(STEPS), latest.state());
        }
        // The disk holds exactly the steps it committed, each whole.
        try (FileSystemObjectStore disk = new FileSystemObjectStore(store);
             Checkpointer diskOnly = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(100)).build())) {
            List<Long> listed = new ArrayList<>(diskOnly.list().stream().map(CheckpointInfo::step).toList());
            listed.sort(null);
            assertEquals(diskCommitted, listed, "committed on disk: " + diskCommitted + ", failed: " + diskFailed);
            for (long step : diskCommitted) {
                assertSameState(state(step), diskOnly.restore(RestoreRequest.step(step)).state());
            }
        }
    }

    private static boolean isFailed(java.util.concurrent.CompletableFuture<?> f) throws InterruptedException {
        try {
            f.get(WAIT_SECONDS, TimeUnit.SECONDS);
            return false;
        } catch (ExecutionException e) {
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        }
    }
}
