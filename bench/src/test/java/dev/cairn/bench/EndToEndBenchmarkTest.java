package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the real benchmark on a small state: it checks that every figure is taken and reported, not how fast. */
class EndToEndBenchmarkTest {

    @TempDir
    Path dir;

    @Test
    void measuresEveryFigureBesideItsLimitAndCleansUpAfterItself() throws IOException {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        BenchResults r = EndToEndBenchmark.run(new BenchOptions(12L << 20, 2, dir),
                new PrintStream(progress, true, StandardCharsets.UTF_8));

        assertEquals(12L << 20, r.setup().stateBytes());
        assertEquals(20, r.figures().size());
        for (Figure f : r.figures()) {
            assertEquals(2, f.nanos().length, f.key());
            assertTrue(f.minNanos() > 0 && f.minNanos() <= f.medianNanos() && f.medianNanos() <= f.maxNanos(), f.key());
        }
        for (Comparison c : r.comparisons()) {
            assertTrue(c.ratio() > 0 && Double.isFinite(c.ratio()), c.key());
        }
        assertTrue(r.compressionRatio() > 1.0 && r.compressionRatio() < 1.5, "ratio " + r.compressionRatio());
        assertTrue(r.restoreBitExact());
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("[3/3] restore"));
        try (Stream<Path> left = Files.list(dir)) {
            assertFalse(left.findAny().isPresent(), "the benchmark left files behind");
        }
    }

    @Test
    void printsTheSameFiguresAsATableAndAsJson() throws IOException {
        BenchResults r = EndToEndBenchmark.run(new BenchOptions(4L << 20, 1, dir), new PrintStream(
                PrintStream.nullOutputStream()));
        ByteArrayOutputStream table = new ByteArrayOutputStream();
        Report.printText(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        String json = Report.json(r);

        assertTrue(text.contains("save stall (COPY) vs plain copy"), text);
        assertTrue(text.contains("<= 1.20x") && text.contains(">= 0.80x"), text);
        assertTrue(text.contains(r.machine().cpuModel()), text);
        for (Figure f : r.figures()) {
            assertTrue(json.contains("\"" + f.key() + "\": {"), f.key());
            assertTrue(json.contains("\"medianNanos\": " + f.medianNanos()), f.key());
        }
        assertTrue(json.contains("\"stallOverCopy\"") && json.contains("\"persistOverWrite\""), json);
        assertTrue(json.contains("\"restoreOverReadFormatAllThreads\"") && json.contains("\"verifyShareOfRestore\""), json);
        assertEquals(count(json, '{'), count(json, '}'));
        assertEquals(count(json, '['), count(json, ']'));
    }

    @Test
    void jsonEscapesQuotesBackslashesAndControlCharacters() {
        assertEquals("\"a\\\"b\\\\c\\n\\u0001\"", Report.q("a\"b\\c\n\u0001"));
    }

    private static long count(String s, char c) {
        return s.chars().filter(x -> x == c).count();
    }
}
