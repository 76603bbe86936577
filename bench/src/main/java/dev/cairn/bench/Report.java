package dev.cairn.bench;

import java.io.PrintStream;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** {@link BenchResults} as a table for people and as JSON for tools (the same figures in both). */
public final class Report {
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private Report() {
    }

    /** The table: setup, every figure with its spread, then each product figure beside its limit. */
    public static void printText(BenchResults r, PrintStream out) {
        BenchResults.Setup s = r.setup();
        out.println();
        out.println("Cairn end-to-end benchmark, " + DATE.format(r.date()));
        out.println("machine  " + r.machine().describe());
        out.println("state    " + ByteSize.format(s.stateBytes()) + " of fp32 ~ N(0, 0.02) in " + s.tensorBytes().size()
                + " tensors (" + s.tensorBytes().stream().map(ByteSize::format).collect(Collectors.joining(", "))
                + "), direct buffers");
        out.println("engine   chunk " + ByteSize.format(s.chunkBytes()) + ", " + s.encoderThreads() + " encoder threads, staging "
                + ByteSize.format(s.stagingBytes()) + ", zstd level " + s.compressionLevel() + ", memory tier limit "
                + ByteSize.format(s.memoryTierLimitBytes()) + ", disk tier on " + r.machine().fileSystem());
        out.printf(Locale.ROOT, "load     1-minute load average %.2f at the start, %.2f at the end, on %d cores%n",
                r.loadBefore(), r.loadAfter(), r.machine().cores());
        out.println("method   " + s.repetitions() + " repetitions, medians [min .. max]; engine and limit interleaved on the same"
                + " bytes; disk reads come from the page cache on both sides (dropping it needs root)");
        out.println();
        out.printf(Locale.ROOT, "%-58s %9s  %-22s %10s%n", "figure", "median", "[min .. max]", "rate");
        for (Figure f : r.figures()) {
            out.printf(Locale.ROOT, "%-58s %9s  %-22s %10s%n", f.label(), time(f.medianNanos()),
                    "[" + time(f.minNanos()) + " .. " + time(f.maxNanos()) + "]", rate(f.bytesPerSecond()));
        }
        out.printf(Locale.ROOT, "%-58s %9s%n", "first save's stall (allocates staging; not in the medians)", time(r.coldStallNanos()));
        out.printf(Locale.ROOT, "%-58s %9.3f%n", "compression ratio on disk (raw / stored bytes)", r.compressionRatio());
        out.println();
        out.printf(Locale.ROOT, "%-40s %12s %12s %8s %9s  %s%n", "engine vs the machine's limit", "engine", "limit", "ratio",
                "goal", "verdict");
        for (Comparison c : r.comparisons()) {
            boolean time = c.measure() == Comparison.Measure.TIME;
            String p = time ? time(c.product().medianNanos()) : rate(c.product().bytesPerSecond());
            String l = time ? time(c.limit().medianNanos()) : rate(c.limit().bytesPerSecond());
            out.printf(Locale.ROOT, "%-40s %12s %12s %7.3fx %9s  %s%n", c.label(), p, l, c.ratio(), c.goalText(),
                    !c.hasGoal() ? "-" : c.met() ? "met" : "MISSED");
        }
        out.println("restore bit-exact: " + r.restoreBitExact());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(BenchResults r) {
        BenchResults.Setup s = r.setup();
        MachineInfo m = r.machine();
        StringBuilder b = new StringBuilder(4096);
        b.append("{\n");
        b.append("  \"date\": ").append(q(r.date().toString())).append(",\n");
        b.append("  \"machine\": {\"cpu\": ").append(q(m.cpuModel())).append(", \"cores\": ").append(m.cores())
                .append(", \"memoryBytes\": ").append(m.memoryBytes()).append(", \"os\": ").append(q(m.os()))
                .append(", \"jvm\": ").append(q(m.jvm())).append(", \"maxHeapBytes\": ").append(m.maxHeapBytes())
                .append(", \"maxDirectBytes\": ").append(m.maxDirectBytes()).append(", \"fileSystem\": ")
                .append(q(m.fileSystem())).append("},\n");
        b.append("  \"setup\": {\"stateBytes\": ").append(s.stateBytes()).append(", \"tensorBytes\": ")
                .append(s.tensorBytes()).append(", \"dtype\": \"f32\", \"chunkBytes\": ").append(s.chunkBytes())
                .append(", \"encoderThreads\": ").append(s.encoderThreads()).append(", \"stagingBytes\": ")
                .append(s.stagingBytes()).append(", \"compressionLevel\": ").append(s.compressionLevel())
                .append(", \"repetitions\": ").append(s.repetitions()).append(", \"memoryTierLimitBytes\": ")
                .append(s.memoryTierLimitBytes()).append(", \"pageCache\": \"warm on both sides\"},\n");
        b.append("  \"figures\": {\n");
        List<Figure> figures = r.figures();
        for (int i = 0; i < figures.size(); i++) {
            Figure f = figures.get(i);
            b.append("    ").append(q(f.key())).append(": {\"label\": ").append(q(f.label())).append(", \"bytes\": ")
                    .append(f.bytes()).append(", \"medianNanos\": ").append(f.medianNanos()).append(", \"minNanos\": ")
                    .append(f.minNanos()).append(", \"maxNanos\": ").append(f.maxNanos()).append(", \"bytesPerSecond\": ")
                    .append(number(f.bytesPerSecond())).append(", \"samplesNanos\": ").append(array(f.nanos()))
                    .append("}").append(i + 1 < figures.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
        b.append("  \"coldStallNanos\": ").append(r.coldStallNanos()).append(",\n");
        b.append("  \"compressionRatio\": ").append(number(r.compressionRatio())).append(",\n");
        b.append("  \"comparisons\": {\n");
        List<Comparison> comparisons = r.comparisons();
        for (int i = 0; i < comparisons.size(); i++) {
            Comparison c = comparisons.get(i);
            b.append("    ").append(q(c.key())).append(": {\"label\": ").append(q(c.label())).append(", \"engine\": ")
                    .append(q(c.product().key())).append(", \"limit\": ").append(q(c.limit().key()))
                    .append(", \"measure\": ").append(q(c.measure().name().toLowerCase(Locale.ROOT)))
                    .append(", \"ratio\": ").append(number(c.ratio())).append(", \"goal\": ")
                    .append(c.hasGoal() ? q(c.goalText()) : "null").append(", \"met\": ")
                    .append(c.hasGoal() ? String.valueOf(c.met()) : "null").append("}")
                    .append(i + 1 < comparisons.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
        b.append("  \"goalsMet\": ").append(r.goalsMet()).append(",\n");
        b.append("  \"restoreBitExact\": ").append(r.restoreBitExact()).append(",\n");
        b.append("  \"loadAverage\": {\"start\": ").append(number(r.loadBefore())).append(", \"end\": ")
                .append(number(r.loadAfter())).append("}\n");
        b.append("}");
        return b.toString();
    }

    /** A duration for people: {@code 0.042 ms}, {@code 85.3 ms}, {@code 3.21 s}. */
    static String time(long nanos) {
        double ms = nanos / 1e6;
        if (ms < 1) {
            return String.format(Locale.ROOT, "%.3f ms", ms);
        }
        if (ms < 1000) {
            return String.format(Locale.ROOT, "%.1f ms", ms);
        }
        return String.format(Locale.ROOT, "%.2f s", ms / 1e3);
    }

    private static String rate(double bytesPerSecond) {
        return Double.isNaN(bytesPerSecond) ? "-" : ByteSize.rate(bytesPerSecond);
    }

    private static String number(double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            return "null";
        }
        return String.format(Locale.ROOT, "%.4f", d);
    }

    private static String array(long[] values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            b.append(i > 0 ? ", " : "").append(values[i]);
        }
        return b.append("]").toString();
    }

    static String q(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }
}
