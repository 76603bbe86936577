package dev.cairn.bench;

import java.io.PrintStream;
import java.util.Locale;

/** {@link S3BenchResults} as a table for people and as JSON for tools (the same figures in both). */
public final class S3Report {
    private static final int FIGURE_WIDTH = 62;

    private S3Report() {
    }

    /** The table: setup, every figure with its spread, then each engine figure beside the SDK's. */
    public static void printText(S3BenchResults r, PrintStream out) {
        S3BenchResults.Setup s = r.setup();
        ReportTable.heading(out, "Cairn S3 benchmark", r.date(), r.machine());
        out.println("server   " + r.server() + "; in this JVM, on the same cores, over loopback");
        ReportTable.state(out, s.stateBytes(), s.tensorBytes());
        out.println("engine   chunk " + ByteSize.format(s.chunkBytes()) + " (one PUT each), " + s.encoderThreads()
                + " encoder threads, " + s.ioThreadsPerTier() + " writer threads per tier, staging "
                + ByteSize.format(s.stagingBytes()) + ", zstd level " + s.compressionLevel() + ", CRC32C");
        out.println("sdk      AWS SDK v2 S3TransferManager on the Java multipart S3AsyncClient (Netty, no CRT), part "
                + ByteSize.format(s.partBytes()) + ", CRC32C; ranged GETs of " + ByteSize.format(s.partBytes()) + ", "
                + s.rangesInFlight() + " in flight");
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        out.println("method   " + s.repetitions() + " repetitions, medians [min .. max]; engine and SDK interleaved"
                + " (order rotated) on the same bytes; server files come from the page cache");
        ReportTable.figures(out, FIGURE_WIDTH, r.figures());
        ReportTable.extra(out, FIGURE_WIDTH, "compression ratio in the S3 tier (raw / stored bytes)",
                String.format(Locale.ROOT, "%.3f", r.compressionRatio()));
        // Every S3 comparison is a throughput, so both columns are rates.
        ReportTable.comparisons(out, "engine vs the AWS SDK", "sdk", 48, 11, r.comparisons());
        out.println("restore and downloads bit-exact: " + r.restoreBitExact());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(S3BenchResults r) {
        S3BenchResults.Setup s = r.setup();
        StringBuilder b = new StringBuilder(4096);
        b.append("{\n");
        b.append("  \"benchmark\": \"s3\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"server\": ").append(JsonText.quote(r.server())).append(",\n");
        b.append("  \"setup\": {\"stateBytes\": ").append(s.stateBytes()).append(", \"tensorBytes\": ")
                .append(s.tensorBytes()).append(", \"dtype\": \"f32\", \"chunkBytes\": ").append(s.chunkBytes())
                .append(", \"encoderThreads\": ").append(s.encoderThreads()).append(", \"ioThreadsPerTier\": ")
                .append(s.ioThreadsPerTier()).append(", \"stagingBytes\": ").append(s.stagingBytes())
                .append(", \"compressionLevel\": ").append(s.compressionLevel()).append(", \"repetitions\": ")
                .append(s.repetitions()).append(", \"partBytes\": ").append(s.partBytes())
                .append(", \"uploadConcurrency\": ").append(s.uploadConcurrency()).append(", \"rangesInFlight\": ")
                .append(s.rangesInFlight()).append("},\n");
        JsonText.figures(b, r.figures());
        b.append("  \"compressionRatio\": ").append(JsonText.number(r.compressionRatio())).append(",\n");
        JsonText.comparisons(b, r.comparisons());
        JsonText.end(b, r.goalsMet(), r.restoreBitExact(), r.loadBefore(), r.loadAfter());
        return b.toString();
    }
}
