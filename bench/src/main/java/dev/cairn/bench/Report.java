package dev.cairn.bench;

import java.io.PrintStream;
import java.util.Locale;

/** {@link BenchResults} as a table for people and as JSON for tools (the same figures in both). */
public final class Report {
    private static final int FIGURE_WIDTH = 58;

    private Report() {
    }

    /** The table: setup, every figure with its spread, then each product figure beside its limit. */
    public static void printText(BenchResults r, PrintStream out) {
        BenchResults.Setup s = r.setup();
        ReportTable.heading(out, "Cairn end-to-end benchmark", r.date(), r.machine());
        ReportTable.state(out, s.stateBytes(), s.tensorBytes());
        out.println("engine   chunk " + ByteSize.format(s.chunkBytes()) + ", " + s.encoderThreads() + " encoder threads, staging "
                + ByteSize.format(s.stagingBytes()) + ", zstd level " + s.compressionLevel() + ", memory tier limit "
                + ByteSize.format(s.memoryTierLimitBytes()) + ", disk tier on " + r.machine().fileSystem());
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        out.println("method   " + s.repetitions() + " repetitions, medians [min .. max]; engine and limit interleaved on the same"
                + " bytes; disk reads come from the page cache on both sides (dropping it needs root)");
        ReportTable.figures(out, FIGURE_WIDTH, r.figures());
        ReportTable.extra(out, FIGURE_WIDTH, "first save's stall (allocates staging; not in the medians)",
                ReportTable.time(r.coldStallNanos()));
        ReportTable.extra(out, FIGURE_WIDTH, "compression ratio on disk (raw / stored bytes)",
                String.format(Locale.ROOT, "%.3f", r.compressionRatio()));
        ReportTable.comparisons(out, "engine vs the machine's limit", "limit", 40, 12, r.comparisons());
        out.println("restore bit-exact: " + r.restoreBitExact());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(BenchResults r) {
        BenchResults.Setup s = r.setup();
        StringBuilder b = new StringBuilder(4096);
        b.append("{\n");
        b.append("  \"date\": ").append(q(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"setup\": {\"stateBytes\": ").append(s.stateBytes()).append(", \"tensorBytes\": ")
                .append(s.tensorBytes()).append(", \"dtype\": \"f32\", \"chunkBytes\": ").append(s.chunkBytes())
                .append(", \"encoderThreads\": ").append(s.encoderThreads()).append(", \"stagingBytes\": ")
                .append(s.stagingBytes()).append(", \"compressionLevel\": ").append(s.compressionLevel())
                .append(", \"repetitions\": ").append(s.repetitions()).append(", \"memoryTierLimitBytes\": ")
                .append(s.memoryTierLimitBytes()).append(", \"pageCache\": \"warm on both sides\"},\n");
        JsonText.figures(b, r.figures());
        b.append("  \"coldStallNanos\": ").append(r.coldStallNanos()).append(",\n");
        b.append("  \"compressionRatio\": ").append(JsonText.number(r.compressionRatio())).append(",\n");
        JsonText.comparisons(b, r.comparisons());
        JsonText.end(b, r.goalsMet(), r.restoreBitExact(), r.loadBefore(), r.loadAfter());
        return b.toString();
    }

    /** {@code s} as a JSON string. */
    static String q(String s) {
        return JsonText.quote(s);
    }
}
