package dev.cairn.djl;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The acceptance test: {@code EasyTrain.fit} with {@link CairnTrainingListener} in a child JVM, killed with
 * SIGKILL mid-training after a checkpoint has committed, then resumed in a fresh JVM through the listener, computes
 * the same losses and ends with the same parameters as a run that was never interrupted, bit for bit.
 *
 * <p>4 epochs of 5 batches (20 steps); saves every 4 steps and at each epoch end, so steps 4, 5, 8, 10, 12, 15, 16
 * and 20 are saved. The killed run waits at step 14 and is killed there once step 12 has committed: the newest
 * committed checkpoint is step 12, which is inside epoch 2 (batch 2 of 5), so the resume exercises the optimizer's
 * moments, the counters and the data loader's shuffling RNG and position. Eight losses after the resume are
 * compared, and every parameter at the end.
 */
class KillAndResumeTest {
    /** Each child loads PyTorch (unpacking it on the very first start) on a shared 2-core machine: minutes, not ms. */
    private static final Duration CHILD_LIMIT = Duration.ofMinutes(5);
    private static final int TOTAL_STEPS = ListenerTrainingChild.EPOCHS * ListenerTrainingChild.BATCHES_PER_EPOCH;
    private static final long KILL_AT = 14;
    private static final long NEWEST_COMMITTED_AT_KILL = 12;

    @TempDir
    Path dir;

    @Test
    void runKilledAfterACommitResumesThroughTheListenerToTheUninterruptedRunsLossesAndParameters() throws Exception {
        ChildJvm uninterrupted = ChildJvm.start(ListenerTrainingChild.class, dir.resolve("uninterrupted.log"),
                dir.resolve("store-uninterrupted").toString(), "-1");
        assertEquals(0, uninterrupted.await(CHILD_LIMIT), () -> "uninterrupted run failed: " + uninterrupted.lines());
        Map<Long, String> expectedLosses = losses(uninterrupted.lines());
        Map<String, String> expectedParameters = parameters(uninterrupted.lines());
        assertEquals(TOTAL_STEPS, expectedLosses.size(), () -> "losses of every step: " + uninterrupted.lines());
        assertTrue(uninterrupted.lines().contains("resumed 0 0 0"), () -> "a fresh store starts at 0: " + uninterrupted.lines());
        assertEquals(6, expectedParameters.size(), "three layers' weights and biases");

        Path store = dir.resolve("store-killed");
        ChildJvm killed = ChildJvm.start(ListenerTrainingChild.class, dir.resolve("killed.log"), store.toString(),
                Long.toString(KILL_AT));
        assertTrue(killed.awaitLine("committed " + NEWEST_COMMITTED_AT_KILL, CHILD_LIMIT), () -> "no commit: " + killed.lines());
        assertTrue(killed.awaitLine("stalled " + KILL_AT, CHILD_LIMIT), () -> "never reached the kill point: " + killed.lines());
        assertEquals(137, killed.kill(), "SIGKILL");
        Map<Long, String> beforeKill = losses(killed.lines());
        assertEquals(KILL_AT + 1, beforeKill.size(), () -> "losses up to the kill: " + killed.lines());
        beforeKill.forEach((step, loss) -> assertEquals(expectedLosses.get(step), loss, "loss of step " + step + " before the kill"));
        assertTrue(killed.lines().stream().noneMatch(l -> l.startsWith("save-failed")), () -> "a save failed: " + killed.lines());

        ChildJvm resumed = ChildJvm.start(ListenerTrainingChild.class, dir.resolve("resumed.log"), store.toString(), "-1");
        assertEquals(0, resumed.await(CHILD_LIMIT), () -> "resumed run failed: " + resumed.lines());
        // Step 12 is batch 2 of epoch 2 (5 batches an epoch).
        assertTrue(resumed.lines().contains("resumed 12 2 2"), () -> "resumed elsewhere: " + resumed.lines());
        Map<Long, String> afterResume = losses(resumed.lines());
        assertEquals(List.of(12L, 13L, 14L, 15L, 16L, 17L, 18L, 19L), List.copyOf(afterResume.keySet()));
        afterResume.forEach((step, loss) -> assertEquals(expectedLosses.get(step), loss, "loss of step " + step + " after the resume"));
        assertEquals(expectedParameters, parameters(resumed.lines()), "final parameters, bit for bit (SHA-256 of their bytes)");
        assertTrue(resumed.lines().contains("committed 20"), () -> "the resumed run checkpoints on: " + resumed.lines());
    }

    private static Map<Long, String> losses(List<String> lines) {
        Map<Long, String> out = new LinkedHashMap<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f[0].equals("loss") && out.put(Long.parseLong(f[1]), f[2]) != null) {
                throw new AssertionError("step " + f[1] + " trained twice in one process");
            }
        }
        return out;
    }

    private static Map<String, String> parameters(List<String> lines) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f[0].equals("param")) {
                out.put(f[1], f[2]);
            }
        }
        return out;
    }
}
