package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Runs the real peer-transport benchmark on a small object: both figures taken, reported, exact; not how fast. */
class PeerTransportBenchmarkTest {

    @Test
    void measuresAPeerReadBesideRawTcpAndReportsBothGoals() throws Exception {
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        PeerTransportBenchmark.Results r = PeerTransportBenchmark.run(3 << 20, 2, Duration.ZERO,
                new PrintStream(progress, true, StandardCharsets.UTF_8));

        assertEquals(3 << 20, r.objectBytes());
        assertEquals(2, r.figures().size());
        for (Figure f : r.figures()) {
            assertEquals(2, f.nanos().length, f.key());
            assertEquals(3 << 20, f.bytes(), f.key());
            assertTrue(f.minNanos() > 0 && f.medianNanos() <= f.maxNanos(), f.key());
        }
        Comparison ratio = r.comparison(PeerTransportBenchmark.READ_OVER_TCP);
        assertTrue(ratio.ratio() > 0 && Double.isFinite(ratio.ratio()));
        assertTrue(r.bitExact());
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("repetition 2:"));

        ByteArrayOutputStream table = new ByteArrayOutputStream();
        PeerTransportBenchmark.printText(r, new PrintStream(table, true, StandardCharsets.UTF_8));
        String text = table.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("peer read vs raw loopback TCP") && text.contains(">= 0.30x"), text);
        assertTrue(text.contains("peer read rate (goal 1)") && text.contains(">= 1.00 GB/s"), text);
        String json = PeerTransportBenchmark.json(r);
        assertTrue(json.contains("\"" + PeerTransportBenchmark.PEER_READ + "\": {"), json);
        assertTrue(json.contains("\"" + PeerTransportBenchmark.READ_OVER_TCP + "\": {"), json);
        assertTrue(json.contains("\"peerReadRateGoal\""), json);
    }
}
