package dev.cairn.bench;

import java.util.List;
import java.util.Locale;

/** The JSON pieces both benchmarks' reports write: strings, numbers, the machine, the figures and the comparisons. */
final class JsonText {
    private JsonText() {
    }

    /** {@code s} as a JSON string, quoted and escaped. */
    static String quote(String s) {
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

    /** Four decimals, or {@code null} for NaN and infinities. */
    static String number(double d) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            return "null";
        }
        return String.format(Locale.ROOT, "%.4f", d);
    }

    static String array(long[] values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            b.append(i > 0 ? ", " : "").append(values[i]);
        }
        return b.append("]").toString();
    }

    /** The {@code "machine"} member, with its trailing comma and newline. */
    static void machine(StringBuilder b, MachineInfo m) {
        b.append("  \"machine\": {\"cpu\": ").append(quote(m.cpuModel())).append(", \"cores\": ").append(m.cores())
                .append(", \"memoryBytes\": ").append(m.memoryBytes()).append(", \"os\": ").append(quote(m.os()))
                .append(", \"jvm\": ").append(quote(m.jvm())).append(", \"maxHeapBytes\": ").append(m.maxHeapBytes())
                .append(", \"maxDirectBytes\": ").append(m.maxDirectBytes()).append(", \"fileSystem\": ")
                .append(quote(m.fileSystem())).append("},\n");
    }

    /** The {@code "figures"} member, keyed by figure key, with its trailing comma and newline. */
    static void figures(StringBuilder b, List<Figure> figures) {
        b.append("  \"figures\": {\n");
        for (int i = 0; i < figures.size(); i++) {
            Figure f = figures.get(i);
            b.append("    ").append(quote(f.key())).append(": {\"label\": ").append(quote(f.label()))
                    .append(", \"bytes\": ").append(f.bytes()).append(", \"medianNanos\": ").append(f.medianNanos())
                    .append(", \"minNanos\": ").append(f.minNanos()).append(", \"maxNanos\": ").append(f.maxNanos())
                    .append(", \"bytesPerSecond\": ").append(number(f.bytesPerSecond())).append(", \"samplesNanos\": ")
                    .append(array(f.nanos())).append("}").append(i + 1 < figures.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
    }

    /** The {@code "comparisons"} member, keyed by comparison key, with its trailing comma and newline. */
    static void comparisons(StringBuilder b, List<Comparison> comparisons) {
        b.append("  \"comparisons\": {\n");
        for (int i = 0; i < comparisons.size(); i++) {
            Comparison c = comparisons.get(i);
            b.append("    ").append(quote(c.key())).append(": {\"label\": ").append(quote(c.label()))
                    .append(", \"engine\": ").append(quote(c.product().key())).append(", \"limit\": ")
                    .append(quote(c.limit().key())).append(", \"measure\": ")
                    .append(quote(c.measure().name().toLowerCase(Locale.ROOT))).append(", \"ratio\": ")
                    .append(number(c.ratio())).append(", \"goal\": ").append(c.hasGoal() ? quote(c.goalText()) : "null")
                    .append(", \"met\": ").append(c.hasGoal() ? String.valueOf(c.met()) : "null").append("}")
                    .append(i + 1 < comparisons.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
    }

    /** The closing members (goals met, bit-exactness, load average) and the closing brace. */
    static void end(StringBuilder b, boolean goalsMet, boolean restoreBitExact, double loadBefore, double loadAfter) {
        b.append("  \"goalsMet\": ").append(goalsMet).append(",\n");
        b.append("  \"restoreBitExact\": ").append(restoreBitExact).append(",\n");
        b.append("  \"loadAverage\": {\"start\": ").append(number(loadBefore)).append(", \"end\": ")
                .append(number(loadAfter)).append("}\n");
        b.append("}");
    }
}
