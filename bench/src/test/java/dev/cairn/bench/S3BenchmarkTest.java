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

/** Runs the real S3 benchmark on a small state: every figure taken, reported, bit-exact; not how fast. */
class S3BenchmarkTest {

    @TempDir
    Path dir;

    @Test
    void measuresTheEngineBesideTheTransferManagerAndCleansUp() throws IOException {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        // 20 MiB: more than two 8 MiB parts, so the TransferManager's upload is multipart and the ranges are several.
        S3BenchResults r = S3Benchmark.run(new BenchOptions(20L << 20, 2, dir),
                new PrintStream(progress, true, StandardCharsets.UTF_8));

        assertEquals(20L << 20, r.setup().stateBytes());
        assertEquals(8, r.figures().size());
        for (Figure f : r.figures()) {
            assertEquals(2, f.nanos().length, f.key());
            assertTrue(f.minNanos() > 0 && f.medianNanos() <= f.maxNanos(), f.key());
        }
        for (Comparison c : r.comparisons()) {
            assertTrue(c.ratio() > 0 && Double.isFinite(c.ratio()), c.key());
        }
        assertTrue(r.compressionRatio() > 1.0 && r.compressionRatio() < 1.5, "ratio " + r.compressionRatio());
        assertTrue(r.restoreBitExact());
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("[2/2] restore from S3"));
        try (Stream<Path> left = Files.list(dir)) {
            assertFalse(left.findAny().isPresent(), "the benchmark left files behind");
        }

        ByteArrayOutputStream table = new ByteArrayOutputStream();
        S3Report.printText(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        String json = S3Report.json(r);
        assertTrue(text.contains("upload to S3 tier vs TransferManager upload") && text.contains(">= 1.00x"), text);
        assertTrue(text.contains("CPU of the restore vs of the download"), text);
        assertTrue(text.contains("S3Proxy"), text);
        for (Figure f : r.figures()) {
            assertTrue(json.contains("\"" + f.key() + "\": {"), f.key());
            assertTrue(json.contains("\"medianNanos\": " + f.medianNanos()), f.key());
        }
        for (Comparison c : r.comparisons()) {
            assertTrue(json.contains("\"" + c.key() + "\": {"), c.key());
        }
    }
}
