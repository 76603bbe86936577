package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.bench.CodecBenchmark.Change;
import dev.cairn.bench.CodecBenchmark.Row;
import dev.cairn.examples.mlp.MlpSpec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs the real codec benchmark on small data (and a few steps of the small MLP): every figure taken and reported. */
class CodecBenchmarkTest {

    @TempDir
    Path dir;

    @Test
    void measuresEveryMethodOnEveryDataSetAndTheBytesWrittenPerChange() throws IOException {
        CodecBenchmark.Results r = CodecBenchmark.run(new CodecBenchmark.Options(8L << 20, 2, dir, MlpSpec.standard(), 3),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));

        assertEquals(6 * 4, r.rows().size(), "6 methods on fp32, bf16, DJL weights, DJL moments");
        for (Row x : r.rows()) {
            assertEquals(2, x.encode().nanos().length, x.encode().key());
            assertEquals(x.method().equals(CodecBenchmark.CAIRN), x.encodeTwoThreads() != null, x.method());
            assertTrue(x.ratio() > 0.9 && x.ratio() < 100, x.dataset() + "/" + x.method() + " ratio " + x.ratio());
        }
        // The plane split is what lifts fp32 and bf16 above plain zstd.
        assertTrue(r.row("fp32", CodecBenchmark.CAIRN).ratio() > r.row("fp32", CodecBenchmark.ZSTD1).ratio());
        assertTrue(r.row("bf16", CodecBenchmark.CAIRN).ratio() > r.row("bf16", CodecBenchmark.ZSTD1).ratio());
        assertTrue(r.row("fp32", CodecBenchmark.CAIRN).ratio() > r.row("fp32", CodecBenchmark.PLANES_V1).ratio());
        assertEquals(4, r.comparisons().size(), "one and two threads, fp32 and bf16, against write+fsync");
        assertEquals(2, r.goals().size());

        assertEquals(16, r.changes().size(), "four fractions, two patterns, differential off and on");
        for (Change c : r.changes()) {
            if (c.differential() && c.fraction() == 0.01 && c.pattern().contains("scattered")) {
                assertTrue(c.bytesWritten() < c.fullSaveBytes() / 5, "differential 1% scattered wrote " + c.bytesWritten());
            }
            if (c.fraction() == 0) {
                assertEquals(0, c.chunksWritten(), c.pattern());
                assertTrue(c.bytesWritten() < c.fullSaveBytes() / 100, c.pattern() + " " + c.bytesWritten());
            }
            if (c.fraction() == 1) {
                assertEquals(c.chunks(), c.chunksWritten(), c.pattern());
            }
        }
        try (Stream<Path> left = Files.list(dir)) {
            assertFalse(left.findAny().isPresent(), "the benchmark left files behind");
        }

        ByteArrayOutputStream table = new ByteArrayOutputStream();
        CodecReport.printText(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains(">= 1.45x") && text.contains(">= 1.20x") && text.contains("write+fsync"), text);
        assertTrue(text.contains("arrowZstd") && text.contains("djl.adam") && text.contains("contiguous"), text);
        String json = CodecReport.json(r);
        assertTrue(json.contains("\"fp32.cairn.encode\": {") && json.contains("\"bf16Ratio\"")
                && json.contains("\"fp32.cairn.encode2\": {"), json);
        assertEquals(count(json, '{'), count(json, '}'));
        assertEquals(count(json, '['), count(json, ']'));
    }

    private static long count(String s, char c) {
        return s.chars().filter(x -> x == c).count();
    }
}
