package dev.cairn.bench;

import dev.cairn.bench.CodecBenchmark.Change;
import dev.cairn.bench.CodecBenchmark.Goal;
import dev.cairn.bench.CodecBenchmark.Results;
import dev.cairn.bench.CodecBenchmark.Row;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** Prints {@link CodecBenchmark.Results} as a table for people or as JSON. */
public final class CodecReport {
    private CodecReport() {
    }

    public static void printText(Results r, PrintStream out) {
        ReportTable.heading(out, "Cairn codec benchmark", r.date(), r.machine());
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        for (String d : r.datasets()) {
            out.println("data     " + d);
        }
        out.printf(Locale.ROOT, "method   %d MiB chunks, one thread, medians of %d repetitions, every decode checked"
                        + " bit-exact; cairn = ChunkCodec.encodeChoosing at level 1; arrowZstd = Arrow IPC stream, one"
                        + " record batch per chunk, one Float4 (fp32) / SmallInt (bf16 bits) column, ZSTD level %d%n",
                CodecBenchmark.CHUNK_BYTES >> 20, r.options().repetitions(), CodecBenchmark.ARROW_ZSTD_LEVEL);
        out.println("         " + CodecBenchmark.CAIRN_STRONG + " = the same choice at zstd level " + CodecBenchmark.STRONG_LEVEL
                + "; planesV1 = the previous float codec (one zstd frame of the byte planes) forced on every chunk;"
                + " encode x2 = cairn on two threads, two codecs, even and odd chunks");
        String row = "%-12s %-10s %8s %11s %11s %11s  %s%n";
        out.println();
        out.printf(Locale.ROOT, row, "data", "method", "ratio", "encode", "encode x2", "decode", "chunks stored as");
        for (Row x : r.rows()) {
            out.printf(Locale.ROOT, row, x.dataset(), x.method(), String.format(Locale.ROOT, "%.3fx", x.ratio()),
                    ReportTable.rate(x.encode().bytesPerSecond()),
                    x.encodeTwoThreads() == null ? "-" : ReportTable.rate(x.encodeTwoThreads().bytesPerSecond()),
                    ReportTable.rate(x.decode().bytesPerSecond()), codecs(x.codecs()));
        }
        Figure write = r.figure(CodecBenchmark.WRITE_FSYNC);
        out.printf(Locale.ROOT, row, "fp32", "disk", "-", ReportTable.rate(write.bytesPerSecond()), "-", "-",
                "sequential write + fsync of the same bytes, one file (the limit the encoder is compared with)");

        out.println();
        out.printf(Locale.ROOT, "%-36s %8s %9s  %s%n", "goal", "value", "goal", "verdict");
        for (Goal g : r.goals()) {
            out.printf(Locale.ROOT, "%-36s %7.3fx %9s  %s%n", g.label(), g.value(),
                    String.format(Locale.ROOT, ">= %.2fx", g.goal()), g.met() ? "met" : "MISSED");
        }
        ReportTable.comparisons(out, "encode vs disk", "write+fsync", 44, 11, r.comparisons());

        out.println();
        out.println("bytes written by a save after a change (real Checkpointer, memory tier), fp32 state of "
                + ByteSize.format(r.options().datasetBytes()) + "; differential off, then on; save and restore wall time");
        String c = "%-7s %-11s %8s %16s %14s %14s %18s %10s %10s%n";
        out.printf(Locale.ROOT, c, "delta", "changes", "changed", "chunks written", "bytes written", "of a full save",
                "vs changed share", "save", "restore");
        for (Change x : r.changes()) {
            out.printf(Locale.ROOT, c, x.differential() ? "on/" + x.fullEvery() : "off", x.pattern(),
                    String.format(Locale.ROOT, "%.0f%%", 100 * x.fraction()),
                    x.chunksWritten() + " of " + x.chunks(), ByteSize.format(x.bytesWritten()),
                    String.format(Locale.ROOT, "%.2f%%", 100.0 * x.bytesWritten() / x.fullSaveBytes()),
                    Double.isNaN(x.overProportional()) ? "-" : String.format(Locale.ROOT, "%.2fx", x.overProportional()),
                    String.format(Locale.ROOT, "%.0f ms", x.saveNanos() / 1e6), String.format(Locale.ROOT, "%.0f ms", x.restoreNanos() / 1e6));
        }
    }

    private static String codecs(Map<String, Integer> codecs) {
        return codecs.isEmpty() ? "" : codecs.entrySet().stream().map(e -> e.getKey() + " x" + e.getValue())
                .collect(Collectors.joining(", "));
    }

    public static String json(Results r) {
        StringBuilder b = new StringBuilder("{\n");
        b.append("  \"benchmark\": \"codecs\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"datasetBytes\": ").append(r.options().datasetBytes()).append(",\n");
        b.append("  \"chunkBytes\": ").append(CodecBenchmark.CHUNK_BYTES).append(",\n");
        b.append("  \"repetitions\": ").append(r.options().repetitions()).append(",\n");
        b.append("  \"datasets\": [").append(r.datasets().stream().map(JsonText::quote).collect(Collectors.joining(", ")))
                .append("],\n");
        b.append("  \"rows\": [\n");
        List<Row> rows = r.rows();
        for (int i = 0; i < rows.size(); i++) {
            Row x = rows.get(i);
            b.append("    {\"data\": ").append(JsonText.quote(x.dataset())).append(", \"method\": ")
                    .append(JsonText.quote(x.method())).append(", \"rawBytes\": ").append(x.rawBytes())
                    .append(", \"storedBytes\": ").append(x.storedBytes()).append(", \"ratio\": ")
                    .append(JsonText.number(x.ratio())).append(", \"encode\": ").append(JsonText.quote(x.encode().key()))
                    .append(", \"decode\": ").append(JsonText.quote(x.decode().key()))
                    .append(x.encodeTwoThreads() == null ? "" : ", \"encodeTwoThreads\": " + JsonText.quote(x.encodeTwoThreads().key()))
                    .append(", \"codecs\": {")
                    .append(x.codecs().entrySet().stream().map(e -> JsonText.quote(e.getKey()) + ": " + e.getValue())
                            .collect(Collectors.joining(", ")))
                    .append("}}").append(i + 1 < rows.size() ? ",\n" : "\n");
        }
        b.append("  ],\n");
        JsonText.figures(b, r.figures());
        JsonText.comparisons(b, r.comparisons());
        b.append("  \"goals\": {\n");
        for (int i = 0; i < r.goals().size(); i++) {
            Goal g = r.goals().get(i);
            b.append("    ").append(JsonText.quote(g.key())).append(": {\"label\": ").append(JsonText.quote(g.label()))
                    .append(", \"value\": ").append(JsonText.number(g.value())).append(", \"atLeast\": ")
                    .append(JsonText.number(g.goal())).append(", \"met\": ").append(g.met()).append("}")
                    .append(i + 1 < r.goals().size() ? ",\n" : "\n");
        }
        b.append("  },\n");
        b.append("  \"changes\": [\n");
        for (int i = 0; i < r.changes().size(); i++) {
            Change x = r.changes().get(i);
            b.append("    {\"pattern\": ").append(JsonText.quote(x.pattern())).append(", \"fraction\": ")
                    .append(JsonText.number(x.fraction())).append(", \"valuesChanged\": ").append(x.valuesChanged())
                    .append(", \"chunks\": ").append(x.chunks()).append(", \"chunksWritten\": ").append(x.chunksWritten())
                    .append(", \"bytesWritten\": ").append(x.bytesWritten()).append(", \"fullSaveBytes\": ")
                    .append(x.fullSaveBytes()).append(", \"differentialFullEvery\": ").append(x.fullEvery())
                    .append(", \"saveNanos\": ").append(x.saveNanos()).append(", \"restoreNanos\": ").append(x.restoreNanos())
                    .append("}").append(i + 1 < r.changes().size() ? ",\n" : "\n");
        }
        b.append("  ],\n");
        b.append("  \"goalsMet\": ").append(r.goalsMet()).append(",\n");
        b.append("  \"loadAverage\": {\"start\": ").append(JsonText.number(r.loadBefore())).append(", \"end\": ")
                .append(JsonText.number(r.loadAfter())).append("}\n}");
        return b.toString();
    }
}
