package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.bench.GoodputBenchmark.Model;
import dev.cairn.bench.GoodputBenchmark.Row;
import dev.cairn.bench.GoodputBenchmark.Setting;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the real goodput benchmark on the small MLP for a few steps (three child JVMs training with DJL, one of them
 * saving into the embedded S3 server): every setting measured, every save accounted for, both reports written.
 * Nothing about speed is asserted.
 */
class GoodputBenchmarkTest {

    @TempDir
    Path dir;

    @Test
    void everySettingIsMeasuredAndEverySaveIsCommittedWhereItsTiersSay() throws Exception {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        GoodputBenchmark.Results r = GoodputBenchmark.run(new GoodputBenchmark.Options(20, 0, 1, dir, 60),
                new PrintStream(progress, true, StandardCharsets.UTF_8));

        assertEquals(6, r.rows().size(), "(b), (c), their SKIP variants (e), (f) and overlapped ones (g), (h) on the default MLP");
        Row memory = r.rows().get(0);
        Row tiered = r.rows().get(1);
        assertEquals(Setting.MEMORY, memory.setting());
        assertEquals(Setting.TIERED, tiered.setting());
        for (Row row : r.rows()) {
            assertEquals(Model.DEFAULT, row.model());
            assertEquals(20, row.steps().nanos().length, "one time per measured step");
            assertEquals(20, row.saves(), "every measured step calls save() into memory");
            assertEquals(0, row.failedSaves());
            assertTrue(row.stallP50Nanos() > 0 && row.stallP50Nanos() <= row.stallP99Nanos()
                    && row.stallP99Nanos() <= row.stallMaxNanos(), row.toString());
            assertTrue(Double.isFinite(row.meanOverhead()) && Double.isFinite(row.pipelineCpuPerStepNanos()));
            assertTrue(row.pipelineThreadsCpuPerStepNanos() > 0, "the engine's threads worked on every save: " + row);
        }
        // Warm-up steps until the JIT is quiet, 60 at most (and here at least), then 20 measured: memory takes them all,
        // disk every 10th and S3 every 20th.
        for (Row row : r.rows()) {
            int warm = row.warmupStepsPerRun().get(0);
            assertTrue(warm == 60, "at least min(200, 60) and at most 60 warm-up steps: " + warm);
        }
        int total = memory.warmupStepsPerRun().get(0) + 20;
        assertEquals(List.of(Map.of("memory", total)), memory.commitsPerRun());
        total = tiered.warmupStepsPerRun().get(0) + 20;
        assertEquals(List.of(Map.of("memory", total, "disk", total / 10, "s3", total / 20)), tiered.commitsPerRun());
        assertEquals(0, memory.skippedSaves() + tiered.skippedSaves(), "WAIT takes every step");
        // Overlapped (ZERO_COPY, the update waits for the capture): every save committed where its tiers say.
        Row overlapMemory = r.rows().get(4);
        Row overlapTiered = r.rows().get(5);
        assertEquals(Setting.MEMORY_OVERLAP, overlapMemory.setting());
        assertEquals(Setting.TIERED_OVERLAP, overlapTiered.setting());
        total = overlapMemory.warmupStepsPerRun().get(0) + 20;
        assertEquals(List.of(Map.of("memory", total)), overlapMemory.commitsPerRun());
        total = overlapTiered.warmupStepsPerRun().get(0) + 20;
        assertEquals(List.of(Map.of("memory", total, "disk", total / 10, "s3", total / 20)), overlapTiered.commitsPerRun());
        for (Row skip : r.rows().subList(2, 4)) {
            Map<String, Integer> commits = skip.commitsPerRun().get(0);
            // A skipped save stores nothing: commits and measured skips never add up to more than the 40 steps.
            assertTrue(commits.getOrDefault("memory", 0) >= 1
                    && commits.getOrDefault("memory", 0) + skip.skippedSaves() <= 80, skip.toString());
            assertTrue(commits.getOrDefault("disk", 0) <= 8 && commits.getOrDefault("s3", 0) <= 4, skip.toString());
        }
        assertEquals(24, r.comparisons().size(),
                "overhead, stall p99, engine CPU against the floor and first save for (b), (c), (e), (f), (g), (h)");
        assertTrue(r.comparisons().stream().allMatch(c -> Double.isFinite(c.ratio())));
        Figure floor = Figure.find(r.figures(), "floor.default");
        assertTrue(floor.medianNanos() > 0, "one copy and one hash of the state, measured in every run");

        ByteArrayOutputStream text = new ByteArrayOutputStream();
        GoodputReport.printText(r, new PrintStream(text, true, StandardCharsets.UTF_8));
        String table = text.toString(StandardCharsets.UTF_8);
        assertTrue(table.contains("(c) every step into memory, every 10 into disk, every 20 into S3"), table);
        assertTrue(table.contains("load"), table);
        assertTrue(table.contains("until the JIT is quiet") && table.contains("took 60-60 steps"), table);
        String json = GoodputReport.json(r);
        assertTrue(json.startsWith("{") && json.endsWith("}"), json);
        assertTrue(json.contains("\"overhead.default.b\"") && json.contains("\"stallP99OverCopy.default.c\""), json);
        assertTrue(json.contains("\"pipelineThreadsCpuPerStepNanos\""), json);
        assertTrue(json.contains("\"engineCpuOverFloor.default.b\""), json);
        try (Stream<Path> left = Files.list(dir)) {
            assertEquals(0, left.count(), "the working directory is deleted afterwards");
        }
    }

    @Test
    void optionsOutsideTheirRangesAreRefusedWithTheirNames() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GoodputBenchmark.Options(5, 0, 1, null))
                .getMessage().contains("steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GoodputBenchmark.Options(20, 3, 1, null))
                .getMessage().contains("large-model steps"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GoodputBenchmark.Options(20, 0, 0, null))
                .getMessage().contains("rounds"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new GoodputBenchmark.Options(20, 0, 1, null, 0))
                .getMessage().contains("warm-up"));
    }

    @Test
    void percentilesAreNearestRank() {
        long[] sorted = new long[100];
        for (int i = 0; i < 100; i++) {
            sorted[i] = i + 1;
        }
        assertEquals(99, GoodputBenchmark.percentile(sorted, 0.99));
        assertEquals(50, GoodputBenchmark.percentile(sorted, 0.5));
        assertEquals(7, GoodputBenchmark.percentile(new long[] {7}, 0.99));
    }
}
