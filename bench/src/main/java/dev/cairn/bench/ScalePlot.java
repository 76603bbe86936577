package dev.cairn.bench;

import dev.cairn.bench.simulate.ScaleSimulation.Checkpoint;
import dev.cairn.bench.simulate.ScaleSimulation.Results;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;
import javax.xml.parsers.DocumentBuilderFactory;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * {@code cairn bench --simulate --svg FILE}: a plot of the scale simulation's requests per checkpoint and commit
 * latency against the number of ranks (log scale), each beside its goal from issue 15 (chunks written + 4 x ranks;
 * visible to every rank within 2 s of the last index). One run simulates one N, so the file gathers the runs: each
 * point is kept in the SVG's own {@code <metadata>} ({@value #POINT} elements), read back by the next run, which adds
 * its point (replacing one of the same N) and draws the whole plot again.
 */
public final class ScalePlot {
    static final String POINT = "point";
    private static final int PANEL_WIDTH = 360;
    private static final int PANEL_HEIGHT = 240;
    private static final int LEFT = 70;
    private static final int TOP = 40;
    private static final int GAP = 110;
    private static final int BOTTOM = 60;

    private ScalePlot() {
    }

    /**
     * One simulated N, from its last checkpoint.
     *
     * @param ranks          N
     * @param requests       requests of the checkpoint (save, commit and GC), SlowDowns included
     * @param goal           chunks it wrote + 4 x N
     * @param visibleSeconds simulated seconds from the last index to the commit seen by every rank; NaN if a rank failed
     */
    public record Point(int ranks, long requests, long goal, double visibleSeconds) {
        public Point {
            if (ranks < 1 || requests < 0 || goal < 0) {
                throw new IllegalArgumentException("a point needs ranks >= 1 and counts >= 0: " + ranks + ", " + requests
                        + ", " + goal);
            }
        }

        public static Point of(Results r) {
            Checkpoint c = r.checkpoints().get(r.checkpoints().size() - 1);
            int n = r.options().ranks();
            return new Point(n, c.totalRequests(), c.chunksWritten() + 4L * n,
                    c.visibleNanos() < 0 ? Double.NaN : c.visibleNanos() / 1e9);
        }
    }

    /** Adds {@code point} to the plot in {@code file} (made if missing; a point of the same N is replaced). */
    public static void add(Path file, Point point) throws IOException {
        Map<Integer, Point> byRanks = new TreeMap<>();
        if (Files.exists(file)) {
            for (Point p : read(file)) {
                byRanks.put(p.ranks(), p);
            }
        }
        byRanks.put(point.ranks(), point);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, svg(List.copyOf(byRanks.values())), StandardCharsets.UTF_8);
    }

    /** The points a plot written by {@link #add} holds, in the order written (by N). */
    public static List<Point> read(Path file) throws IOException {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setExpandEntityReferences(false);
            NodeList nodes = f.newDocumentBuilder().parse(file.toFile()).getElementsByTagName(POINT);
            List<Point> points = new ArrayList<>();
            for (int i = 0; i < nodes.getLength(); i++) {
                Element e = (Element) nodes.item(i);
                points.add(new Point(Integer.parseInt(e.getAttribute("ranks")), Long.parseLong(e.getAttribute("requests")),
                        Long.parseLong(e.getAttribute("goal")), Double.parseDouble(e.getAttribute("visible-seconds"))));
            }
            return points;
        } catch (javax.xml.parsers.ParserConfigurationException | org.xml.sax.SAXException | IllegalArgumentException e) {
            throw new IOException(file + " is not a plot written by cairn bench --simulate --svg: " + e.getMessage(), e);
        }
    }

    /** The SVG of {@code points} (sorted by N): two panels, log-scale N across. */
    public static String svg(List<Point> points) {
        List<Point> sorted = new ArrayList<>(points);
        sorted.sort((a, b) -> Integer.compare(a.ranks(), b.ranks()));
        int width = LEFT + PANEL_WIDTH + GAP + PANEL_WIDTH + 30;
        int height = TOP + PANEL_HEIGHT + BOTTOM;
        StringBuilder b = new StringBuilder();
        b.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                + " viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">%n", width, height, width, height));
        b.append("<title>cairn bench --simulate: requests per checkpoint and commit latency against ranks</title>\n");
        b.append("<metadata>\n");
        for (Point p : sorted) {
            b.append(String.format(Locale.ROOT, "  <%s ranks=\"%d\" requests=\"%d\" goal=\"%d\" visible-seconds=\"%s\"/>%n",
                    POINT, p.ranks(), p.requests(), p.goal(), Double.toString(p.visibleSeconds())));
        }
        b.append("</metadata>\n");
        b.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        if (sorted.isEmpty()) {
            b.append("<text x=\"20\" y=\"30\">no simulation yet</text>\n</svg>\n");
            return b.toString();
        }
        Axis x = Axis.log(sorted.stream().mapToDouble(Point::ranks).min().orElse(1),
                sorted.stream().mapToDouble(Point::ranks).max().orElse(10));
        double lowRequests = Math.min(sorted.stream().mapToDouble(Point::requests).min().orElse(1),
                sorted.stream().mapToDouble(Point::goal).min().orElse(1));
        double highRequests = Math.max(sorted.stream().mapToDouble(Point::requests).max().orElse(10),
                sorted.stream().mapToDouble(Point::goal).max().orElse(10));
        panel(b, LEFT, "requests per checkpoint (log)", x, Axis.log(Math.max(1, lowRequests), highRequests), sorted,
                Point::requests, Point::goal, "goal: chunks written + 4 x ranks");
        double highSeconds = Math.max(2.5, sorted.stream().mapToDouble(Point::visibleSeconds)
                .filter(v -> !Double.isNaN(v)).max().orElse(0) * 1.1);
        panel(b, LEFT + PANEL_WIDTH + GAP, "commit visible to every rank (simulated s)", x, Axis.linear(0, highSeconds),
                sorted, Point::visibleSeconds, p -> 2.0, "goal: 2 s");
        b.append("</svg>\n");
        return b.toString();
    }

    private static void panel(StringBuilder b, int left, String title, Axis x, Axis y, List<Point> points,
                              ToDoubleFunction<Point> value, ToDoubleFunction<Point> goal, String goalLabel) {
        int bottom = TOP + PANEL_HEIGHT;
        b.append(String.format(Locale.ROOT, "<g class=\"panel\"><text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>%n",
                left, TOP - 14, title));
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\""
                + " stroke=\"#888\"/>%n", left, TOP, PANEL_WIDTH, PANEL_HEIGHT));
        for (double t : x.ticks()) {
            double px = left + x.at(t) * PANEL_WIDTH;
            b.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", px, TOP, px, bottom, px, bottom + 15,
                    label(t)));
        }
        for (double t : y.ticks()) {
            double py = bottom - y.at(t) * PANEL_HEIGHT;
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", left, py, left + PANEL_WIDTH, py,
                    left - 5, py + 4, label(t)));
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">ranks N (log)</text>%n",
                left + PANEL_WIDTH / 2, bottom + 32));
        b.append("<polyline class=\"measured\" fill=\"none\" stroke=\"#236\" stroke-width=\"2\" points=\"");
        for (Point p : points) {
            double v = value.applyAsDouble(p);
            if (!Double.isNaN(v)) {
                b.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + x.at(p.ranks()) * PANEL_WIDTH,
                        bottom - y.at(v) * PANEL_HEIGHT));
            }
        }
        b.append("\"/>\n");
        // The goal over the measured line, dashed: where they meet, both show.
        b.append("<polyline class=\"goal\" fill=\"none\" stroke=\"#c33\" stroke-dasharray=\"5,4\" points=\"");
        for (Point p : points) {
            b.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + x.at(p.ranks()) * PANEL_WIDTH,
                    bottom - y.at(goal.applyAsDouble(p)) * PANEL_HEIGHT));
        }
        b.append("\"/>\n");
        for (Point p : points) {
            double v = value.applyAsDouble(p);
            double px = left + x.at(p.ranks()) * PANEL_WIDTH;
            if (Double.isNaN(v)) {
                b.append(String.format(Locale.ROOT, "<text class=\"point\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\""
                        + " fill=\"#c33\">not every rank committed</text>%n", px, TOP + 14));
            } else {
                double py = bottom - y.at(v) * PANEL_HEIGHT;
                b.append(String.format(Locale.ROOT, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#236\">"
                        + "<title>N = %d: %s</title></circle>%n", px, py, p.ranks(), label(v)));
            }
        }
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#c33\">- - %s</text>%n", left + 6,
                bottom + 48, goalLabel));
        b.append("</g>\n");
    }

    private static String label(double v) {
        if (v >= 1e6) {
            return String.format(Locale.ROOT, "%.3gM", v / 1e6);
        }
        if (v >= 1e4) {
            return String.format(Locale.ROOT, "%.3gk", v / 1e3);
        }
        if (v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%,d", (long) v);
        }
        return String.format(Locale.ROOT, "%.2f", v);
    }

    /** Where a value falls across a panel, from 0 to 1. */
    private record Axis(double low, double high, boolean log) {
        static Axis log(double min, double max) {
            double low = Math.pow(10, Math.floor(Math.log10(min)));
            double high = Math.pow(10, Math.ceil(Math.log10(Math.max(max, min * 10))));
            return new Axis(low, high, true);
        }

        static Axis linear(double low, double high) {
            return new Axis(low, high, false);
        }

        double at(double v) {
            double f = log ? (Math.log10(v) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))
                    : (v - low) / (high - low);
            return Math.max(0, Math.min(1, f));
        }

        List<Double> ticks() {
            List<Double> t = new ArrayList<>();
            if (log) {
                for (double v = low; v <= high * 1.0001; v *= 10) {
                    t.add(v);
                }
            } else {
                double step = high <= 3 ? 0.5 : high <= 12 ? 2 : Math.pow(10, Math.floor(Math.log10(high)));
                for (double v = low; v <= high + 1e-9; v += step) {
                    t.add(v);
                }
            }
            return t;
        }
    }
}
