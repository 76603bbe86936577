package dev.cairn.bench;

import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/** The lines both benchmarks' tables share: heading, state and load lines, the figure table and the ratio table. */
final class ReportTable {
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'").withZone(ZoneOffset.UTC);

    private ReportTable() {
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

    /** A rate for people, or {@code -} where none applies (NaN). */
    static String rate(double bytesPerSecond) {
        return Double.isNaN(bytesPerSecond) ? "-" : ByteSize.rate(bytesPerSecond);
    }

    /** A blank line, {@code "<title>, <date>"} and the machine line. */
    static void heading(PrintStream out, String title, Instant date, MachineInfo machine) {
        out.println();
        out.println(title + ", " + DATE.format(date));
        out.println("machine  " + machine.describe());
    }

    /** The state line: its size, distribution and tensors. */
    static void state(PrintStream out, long stateBytes, List<Long> tensorBytes) {
        out.println("state    " + ByteSize.format(stateBytes) + " of fp32 ~ N(0, 0.02) in " + tensorBytes.size()
                + " tensors (" + tensorBytes.stream().map(ByteSize::format).collect(Collectors.joining(", "))
                + "), direct buffers");
    }

    /** The load line: the 1-minute load average at the start and the end of the run. */
    static void load(PrintStream out, double loadBefore, double loadAfter, int cores) {
        out.printf(Locale.ROOT, "load     1-minute load average %.2f at the start, %.2f at the end, on %d cores%n",
                loadBefore, loadAfter, cores);
    }

    /** A blank line, then each figure's median, [min .. max] and rate, labels padded to {@code labelWidth}. */
    static void figures(PrintStream out, int labelWidth, List<Figure> figures) {
        String row = "%-" + labelWidth + "s %9s  %-22s %10s%n";
        out.println();
        out.printf(Locale.ROOT, row, "figure", "median", "[min .. max]", "rate");
        for (Figure f : figures) {
            out.printf(Locale.ROOT, row, f.label(), time(f.medianNanos()),
                    "[" + time(f.minNanos()) + " .. " + time(f.maxNanos()) + "]", rate(f.bytesPerSecond()));
        }
    }

    /** One more line under the figures: a label padded to {@code labelWidth} and a value in the median column. */
    static void extra(PrintStream out, int labelWidth, String label, String value) {
        out.printf(Locale.ROOT, "%-" + labelWidth + "s %9s%n", label, value);
    }

    /**
     * A blank line, then each comparison: engine and limit medians (times for {@link Comparison.Measure#TIME}, rates
     * otherwise), the ratio, the goal and whether it was met.
     */
    static void comparisons(PrintStream out, String title, String limitHeading, int labelWidth, int valueWidth,
                            List<Comparison> comparisons) {
        String head = "%-" + labelWidth + "s %" + valueWidth + "s %" + valueWidth + "s %8s %9s  %s%n";
        String row = "%-" + labelWidth + "s %" + valueWidth + "s %" + valueWidth + "s %7.3fx %9s  %s%n";
        out.println();
        out.printf(Locale.ROOT, head, title, "engine", limitHeading, "ratio", "goal", "verdict");
        for (Comparison c : comparisons) {
            boolean time = c.measure() == Comparison.Measure.TIME;
            String p = time ? time(c.product().medianNanos()) : rate(c.product().bytesPerSecond());
            String l = time ? time(c.limit().medianNanos()) : rate(c.limit().bytesPerSecond());
            out.printf(Locale.ROOT, row, c.label(), p, l, c.ratio(), c.goalText(),
                    !c.hasGoal() ? "-" : c.met() ? "met" : "MISSED");
        }
    }
}
