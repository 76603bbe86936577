package dev.cairn.examples.mlp;

import dev.cairn.SaveMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TrainMain} in this JVM: each call opens its own checkpointer and memory tier, as a new process would. */
class TrainMainTest {

    @Test
    void zeroCopySavesTrainExactlyLikeCopySaves(@TempDir Path dir) throws Exception {
        List<String> copy = train(TrainArgs.of(dir.resolve("copy"), 12, 5, false));
        List<String> zeroCopy = train(TrainArgs.of(dir.resolve("zero-copy"), 12, 5, false).withSaveMode(SaveMode.ZERO_COPY));

        assertEquals(lines(copy, "step "), lines(zeroCopy, "step "));
        assertEquals(lines(copy, "final-param-hash"), lines(zeroCopy, "final-param-hash"));
        for (List<String> run : List.of(copy, zeroCopy)) {
            List<String> checkpoints = lines(run, "checkpoint ");
            assertEquals(12, checkpoints.size(), String.join("\n", run));
            assertTrue(checkpoints.stream().noneMatch(l -> l.contains(" failed ")), String.join("\n", run));
            assertEquals(2, checkpoints.stream().filter(l -> l.contains("disk=")).count(), String.join("\n", run));
        }
    }

    @Test
    void resumedRunRestoresFromDiskAndEndsWithTheSameParameters(@TempDir Path dir) throws Exception {
        List<String> whole = train(TrainArgs.of(dir.resolve("whole"), 15, 5, false));
        train(TrainArgs.of(dir.resolve("split"), 12, 5, false));
        List<String> resumed = train(TrainArgs.of(dir.resolve("split"), 15, 5, true));

        assertTrue(resumed.get(0).startsWith("restored step 10 tier disk "), String.join("\n", resumed));
        assertEquals(lines(whole, "step 11 "), lines(resumed, "step 11 "));
        assertEquals(lines(whole, "step 15 "), lines(resumed, "step 15 "));
        assertEquals(lines(whole, "final-param-hash"), lines(resumed, "final-param-hash"));
        assertFalse(lines(resumed, "final-param-hash").isEmpty());
    }

    private static List<String> train(TrainArgs args) throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            assertEquals(0, TrainMain.run(args, out));
        }
        return captured.toString(StandardCharsets.UTF_8).lines().toList();
    }

    private static List<String> lines(List<String> run, String prefix) {
        return run.stream().filter(l -> l.startsWith(prefix)).toList();
    }
}
