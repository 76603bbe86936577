package dev.cairn.bench;

import java.io.PrintStream;

/** {@link ShardedBenchmark.Results} as a table for people and as JSON for tools (the same figures in both). */
public final class ShardedReport {
    private ShardedReport() {
    }

    /** The table: setup, every figure with its spread, then each comparison with its goal and verdict. */
    public static void printText(ShardedBenchmark.Results r, PrintStream out) {
        ReportTable.heading(out, "Cairn multi-rank benchmark: 4 ranks in 4 JVMs on loopback", r.date(), r.machine());
        r.setup().forEach(out::println);
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        ReportTable.figures(out, 52, r.figures());
        ReportTable.comparisons(out, "comparison", "limit", 60, 12, r.comparisons());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(ShardedBenchmark.Results r) {
        StringBuilder b = new StringBuilder(4096);
        b.append("{\n");
        b.append("  \"benchmark\": \"ranks\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"setup\": [");
        for (int i = 0; i < r.setup().size(); i++) {
            b.append(i > 0 ? ", " : "").append(JsonText.quote(r.setup().get(i)));
        }
        b.append("],\n");
        JsonText.figures(b, r.figures());
        JsonText.comparisons(b, r.comparisons());
        // Every restore of the replacement is checked bit-exact against the model's digest (--verify), or the run fails.
        JsonText.end(b, r.goalsMet(), true, r.loadBefore(), r.loadAfter());
        return b.toString();
    }
}
