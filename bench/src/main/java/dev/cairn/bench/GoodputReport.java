package dev.cairn.bench;

import java.io.PrintStream;
import java.util.Locale;

/** {@link GoodputBenchmark.Results} as a table for people and as JSON for tools (the same figures in both). */
public final class GoodputReport {
    private GoodputReport() {
    }

    /** Setup, one row per model and setting, then each comparison with its goal and verdict. */
    public static void printText(GoodputBenchmark.Results r, PrintStream out) {
        ReportTable.heading(out, "Cairn goodput benchmark: training with checkpoints on vs off", r.date(), r.machine());
        r.setup().forEach(out::println);
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        String head = "%-28s %10s %9s %9s %10s %10s %10s %10s %14s %14s%n";
        out.println();
        out.printf(Locale.ROOT, head, "setting", "med. step", "overhead", "mean ovh", "stall p50", "stall p99",
                "stall max", "drain", "pipeline CPU", "cairn threads");
        for (GoodputBenchmark.Row row : r.rows()) {
            double base = baseMedian(r, row.model());
            out.printf(Locale.ROOT, "%-28s %10s %8.1f%% %8.1f%% %10s %10s %10s %10s %9s/step %9s/step%n",
                    row.model().label() + " (" + row.setting().letter() + ")", ReportTable.time(row.steps().medianNanos()),
                    100 * (row.steps().medianNanos() / base - 1), 100 * row.meanOverhead(),
                    ReportTable.time(row.stallP50Nanos()), ReportTable.time(row.stallP99Nanos()),
                    ReportTable.time(row.stallMaxNanos()), ReportTable.time(row.medianDrainNanos()),
                    ReportTable.time((long) row.pipelineCpuPerStepNanos()),
                    ReportTable.time((long) row.pipelineThreadsCpuPerStepNanos()));
            if (row.failedSaves() > 0 || row.skippedSaves() > 0) {
                out.printf(Locale.ROOT, "  of %d saves: %d skipped (whenBusy SKIP), %d failed%n", row.saves(),
                        row.skippedSaves(), row.failedSaves());
            }
        }
        out.println("overhead: median step time against (a); mean ovh: all steps plus finishing the last saves, against"
                + " (a); pipeline CPU: CPU outside the training thread per step, less (a)'s (JIT and JVM GC included); cairn threads: CPU of"
                + " the engine's own threads per step (the load-independent figure)");
        ReportTable.figures(out, 44, r.figures());
        ReportTable.comparisons(out, "comparison", "limit", 62, 10, r.comparisons());
        out.flush();
    }

    private static double baseMedian(GoodputBenchmark.Results r, GoodputBenchmark.Model model) {
        return Figure.find(r.figures(), "step." + model.name().toLowerCase(Locale.ROOT) + ".a").medianNanos();
    }

    /** The same figures as one JSON object (times in nanoseconds). */
    public static String json(GoodputBenchmark.Results r) {
        StringBuilder b = new StringBuilder(1 << 16);
        b.append("{\n");
        b.append("  \"benchmark\": \"goodput\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"setup\": [");
        for (int i = 0; i < r.setup().size(); i++) {
            b.append(i > 0 ? ", " : "").append(JsonText.quote(r.setup().get(i)));
        }
        b.append("],\n");
        b.append("  \"rows\": [\n");
        for (int i = 0; i < r.rows().size(); i++) {
            GoodputBenchmark.Row row = r.rows().get(i);
            double base = baseMedian(r, row.model());
            b.append("    {\"model\": ").append(JsonText.quote(row.model().name().toLowerCase(Locale.ROOT)))
                    .append(", \"setting\": ").append(JsonText.quote(row.setting().letter()))
                    .append(", \"label\": ").append(JsonText.quote(row.setting().label()))
                    .append(", \"parameters\": ").append(row.parameters())
                    .append(", \"stateBytes\": ").append(row.stateBytes())
                    .append(", \"medianStepNanos\": ").append(row.steps().medianNanos())
                    .append(", \"baselineMedianStepNanos\": ").append((long) base)
                    .append(", \"overheadPercent\": ").append(JsonText.number(100 * (row.steps().medianNanos() / base - 1)))
                    .append(", \"meanOverheadPercent\": ").append(JsonText.number(100 * row.meanOverhead()))
                    .append(", \"stallP50Nanos\": ").append(row.stallP50Nanos())
                    .append(", \"stallP99Nanos\": ").append(row.stallP99Nanos())
                    .append(", \"stallMaxNanos\": ").append(row.stallMaxNanos())
                    .append(", \"medianDrainNanos\": ").append(row.medianDrainNanos())
                    .append(", \"pipelineCpuPerStepNanos\": ").append(JsonText.number(row.pipelineCpuPerStepNanos()))
                    .append(", \"pipelineThreadsCpuPerStepNanos\": ").append(JsonText.number(row.pipelineThreadsCpuPerStepNanos()))
                    .append(", \"saves\": ").append(row.saves())
                    .append(", \"failedSaves\": ").append(row.failedSaves())
                    .append(", \"skippedSaves\": ").append(row.skippedSaves())
                    .append("}").append(i + 1 < r.rows().size() ? ",\n" : "\n");
        }
        b.append("  ],\n");
        JsonText.figures(b, r.figures());
        JsonText.comparisons(b, r.comparisons());
        b.append("  \"goalsMet\": ").append(r.goalsMet()).append(",\n");
        b.append("  \"loadAverage\": {\"start\": ").append(JsonText.number(r.loadBefore())).append(", \"end\": ")
                .append(JsonText.number(r.loadAfter())).append("}\n");
        b.append("}");
        return b.toString();
    }
}
