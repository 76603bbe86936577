package dev.cairn.bench;

import java.io.PrintStream;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** {@link S3BenchResults} as a table for people and as JSON for tools (the same figures in both). */
public final class S3Report {
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private S3Report() {
    }

    /** The table: setup, every figure with its spread, then each engine figure beside the SDK's. */
    public static void printText(S3BenchResults r, PrintStream out) {
        S3BenchResults.Setup s = r.setup();
        out.println();
        out.println("Cairn S3 benchmark, " + DATE.format(r.date()));
        out.println("machine  " + r.machine().describe());
        out.println("server   " + r.server() + "; in this JVM, on the same cores, over loopback");
        out.println("state    " + ByteSize.format(s.stateBytes()) + " of fp32 ~ N(0, 0.02) in " + s.tensorBytes().size()
                + " tensors (" + s.tensorBytes().stream().map(ByteSize::format).collect(Collectors.joining(", "))
                + "), direct buffers");
        out.println("engine   chunk " + ByteSize.format(s.chunkBytes()) + " (one PUT each), " + s.encoderThreads()
                + " encoder threads, " + s.ioThreadsPerTier() + " writer threads per tier, staging "
                + ByteSize.format(s.stagingBytes()) + ", zstd level " + s.compressionLevel() + ", CRC32C");
        out.println("sdk      AWS SDK v2 S3TransferManager on the Java multipart S3AsyncClient (Netty, no CRT), part "
                + ByteSize.format(s.partBytes()) + ", CRC32C; ranged GETs of " + ByteSize.format(s.partBytes()) + ", "
                + s.rangesInFlight() + " in flight");
        out.printf(Locale.ROOT, "load     1-minute load average %.2f at the start, %.2f at the end, on %d cores%n",
                r.loadBefore(), r.loadAfter(), r.machine().cores());
        out.println("method   " + s.repetitions() + " repetitions, medians [min .. max]; engine and SDK interleaved"
                + " (order rotated) on the same bytes; server files come from the page cache");
        out.println();
        out.printf(Locale.ROOT, "%-62s %9s  %-22s %10s%n", "figure", "median", "[min .. max]", "rate");
        for (Figure f : r.figures()) {
            out.printf(Locale.ROOT, "%-62s %9s  %-22s %10s%n", f.label(), Report.time(f.medianNanos()),
                    "[" + Report.time(f.minNanos()) + " .. " + Report.time(f.maxNanos()) + "]", rate(f.bytesPerSecond()));
        }
        out.printf(Locale.ROOT, "%-62s %9.3f%n", "compression ratio in the S3 tier (raw / stored bytes)", r.compressionRatio());
        out.println();
        out.printf(Locale.ROOT, "%-48s %11s %11s %8s %9s  %s%n", "engine vs the AWS SDK", "engine", "sdk", "ratio",
                "goal", "verdict");
        for (Comparison c : r.comparisons()) {
            out.printf(Locale.ROOT, "%-48s %11s %11s %7.3fx %9s  %s%n", c.label(), rate(c.product().bytesPerSecond()),
                    rate(c.limit().bytesPerSecond()), c.ratio(), c.goalText(), !c.hasGoal() ? "-" : c.met() ? "met" : "MISSED");
        }
        out.println("restore and downloads bit-exact: " + r.restoreBitExact());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(S3BenchResults r) {
        S3BenchResults.Setup s = r.setup();
        MachineInfo m = r.machine();
        StringBuilder b = new StringBuilder(4096);
        b.append("{\n");
        b.append("  \"benchmark\": \"s3\",\n");
        b.append("  \"date\": ").append(Report.q(r.date().toString())).append(",\n");
        b.append("  \"machine\": {\"cpu\": ").append(Report.q(m.cpuModel())).append(", \"cores\": ").append(m.cores())
                .append(", \"memoryBytes\": ").append(m.memoryBytes()).append(", \"os\": ").append(Report.q(m.os()))
                .append(", \"jvm\": ").append(Report.q(m.jvm())).append(", \"maxHeapBytes\": ").append(m.maxHeapBytes())
                .append(", \"maxDirectBytes\": ").append(m.maxDirectBytes()).append(", \"fileSystem\": ")
                .append(Report.q(m.fileSystem())).append("},\n");
        b.append("  \"server\": ").append(Report.q(r.server())).append(",\n");
        b.append("  \"setup\": {\"stateBytes\": ").append(s.stateBytes()).append(", \"tensorBytes\": ")
                .append(s.tensorBytes()).append(", \"dtype\": \"f32\", \"chunkBytes\": ").append(s.chunkBytes())
                .append(", \"encoderThreads\": ").append(s.encoderThreads()).append(", \"ioThreadsPerTier\": ")
                .append(s.ioThreadsPerTier()).append(", \"stagingBytes\": ").append(s.stagingBytes())
                .append(", \"compressionLevel\": ").append(s.compressionLevel()).append(", \"repetitions\": ")
                .append(s.repetitions()).append(", \"partBytes\": ").append(s.partBytes())
                .append(", \"uploadConcurrency\": ").append(s.uploadConcurrency()).append(", \"rangesInFlight\": ")
                .append(s.rangesInFlight()).append("},\n");
        b.append("  \"figures\": {\n");
        List<Figure> figures = r.figures();
        for (int i = 0; i < figures.size(); i++) {
            Figure f = figures.get(i);
            b.append("    ").append(Report.q(f.key())).append(": {\"label\": ").append(Report.q(f.label()))
                    .append(", \"bytes\": ").append(f.bytes()).append(", \"medianNanos\": ").append(f.medianNanos())
                    .append(", \"minNanos\": ").append(f.minNanos()).append(", \"maxNanos\": ").append(f.maxNanos())
                    .append(", \"bytesPerSecond\": ").append(number(f.bytesPerSecond())).append(", \"samplesNanos\": ")
                    .append(array(f.nanos())).append("}").append(i + 1 < figures.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
        b.append("  \"compressionRatio\": ").append(number(r.compressionRatio())).append(",\n");
        b.append("  \"comparisons\": {\n");
        List<Comparison> comparisons = r.comparisons();
        for (int i = 0; i < comparisons.size(); i++) {
            Comparison c = comparisons.get(i);
            b.append("    ").append(Report.q(c.key())).append(": {\"label\": ").append(Report.q(c.label()))
                    .append(", \"engine\": ").append(Report.q(c.product().key())).append(", \"limit\": ")
                    .append(Report.q(c.limit().key())).append(", \"measure\": \"throughput\", \"ratio\": ")
                    .append(number(c.ratio())).append(", \"goal\": ").append(c.hasGoal() ? Report.q(c.goalText()) : "null")
                    .append(", \"met\": ").append(c.hasGoal() ? String.valueOf(c.met()) : "null").append("}")
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
}
