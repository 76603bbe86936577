package dev.cairn.cli.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The HTML page of {@code cairn report}: one file, nothing fetched when opened (the plots are SVG drawn by a script
 * in the page from data in the page). When its script has drawn every plot it marks the document
 * ({@code <html data-report="rendered">}, each plot's {@code data-points}); a script error marks it
 * {@code data-report="error"} and is written into {@code #report-errors}, so a headless browser can check it.
 */
public final class ReportPage {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One line (or bar set) of a plot: points as [x, y]. */
    record Series(String name, List<double[]> points) {
    }

    /** A plot; {@code kind} "line" or "bar" (bars: {@code labels} name the x positions 0..n-1). */
    record Plot(String id, String title, String x, String y, String kind, List<Series> series, List<String> labels) {
    }

    private ReportPage() {
    }

    /** The page for {@code recording}, recommending intervals for a failure every {@code mtbf} on average. */
    public static String render(RunRecording recording, Duration mtbf, String source) {
        List<TierSummary> tiers = TierSummary.of(recording, mtbf);
        List<Plot> plots = plots(recording);
        StringBuilder h = new StringBuilder(64 << 10);
        h.append("<!DOCTYPE html>\n<html lang=\"en\" data-report=\"loading\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline';")
                .append(" script-src 'unsafe-inline'; img-src data:\">\n")
                .append("<title>Cairn report: ").append(esc(source)).append("</title>\n<style>\n").append(CSS).append("</style>\n")
                .append("<script>\nwindow.onerror = function (message, source, line) {\n")
                .append("  document.documentElement.setAttribute('data-report', 'error');\n")
                .append("  var p = document.getElementById('report-errors');\n")
                .append("  if (p) { p.textContent += 'script error: ' + message + ' (line ' + line + ')\\n'; }\n};\n</script>\n")
                .append("</head>\n<body>\n<h1>Cairn checkpoint report</h1>\n<p class=\"meta\">Recording <code>")
                .append(esc(source)).append("</code>: ").append(recording.saves().size()).append(" saves, ")
                .append(recording.commits().size()).append(" commits and promotions, ").append(recording.restores().size())
                .append(" restores, ").append(recording.gcs().size()).append(" collections. MTBF assumed: ")
                .append(esc(text(mtbf))).append(".</p>\n<pre id=\"report-errors\"></pre>\n");
        intervals(h, tiers, mtbf);
        h.append("<h2>Plots</h2>\n<div class=\"plots\">\n");
        for (Plot p : plots) {
            h.append("<figure class=\"plot\" id=\"").append(p.id()).append("\" data-points=\"0\"><figcaption>")
                    .append(esc(p.title())).append("</figcaption></figure>\n");
        }
        h.append("</div>\n<h2>Per tier</h2>\n");
        for (TierSummary t : tiers) {
            table(h, t);
        }
        h.append("<p id=\"report-status\">drawing...</p>\n<script id=\"report-data\" type=\"application/json\">")
                .append(json(plots).replace("</", "<\\/")).append("</script>\n<script>\n").append(SCRIPT).append("</script>\n")
                .append("</body>\n</html>\n");
        return h.toString();
    }

    private static void intervals(StringBuilder h, List<TierSummary> tiers, Duration mtbf) {
        h.append("<h2>Checkpoint interval per tier</h2>\n<p class=\"meta\">Young/Daly: interval &asymp; &radic;(2 &times; C")
                .append(" &times; MTBF), where C is the tier's mean time to commit (from the save call to the commit in the")
                .append(" tier) and MTBF is ").append(esc(text(mtbf))).append("; never below C. Steps at the measured pace")
                .append(" (median time between saves per step).</p>\n<table class=\"intervals\"><thead><tr><th>tier</th>")
                .append("<th>cost C (mean time to commit)</th><th>configured</th><th>recommended</th><th>recommended steps</th>")
                .append("</tr></thead><tbody>\n");
        for (TierSummary t : tiers) {
            h.append("<tr><td>").append(esc(t.tier())).append("</td><td>").append(secs(t.meanTimeToCommit())).append("</td><td>")
                    .append(t.everySteps() == 0 ? "not recorded" : "every " + t.everySteps() + (t.everySteps() == 1 ? " step" : " steps")
                            + (t.secondsPerStep() > 0 ? " (" + secs(t.configuredSeconds()) + ")" : ""))
                    .append("</td><td>").append(t.recommendedSeconds() > 0 ? secs(t.recommendedSeconds()) : "no commit recorded")
                    .append("</td><td>").append(t.recommendedSteps() > 0 ? "every " + t.recommendedSteps() + " steps" : "-")
                    .append("</td></tr>\n");
        }
        h.append("</tbody></table>\n");
    }

    private static void table(StringBuilder h, TierSummary t) {
        Map<String, String> rows = new LinkedHashMap<>();
        rows.put("checkpoints committed", Long.toString(t.commits()));
        rows.put("failed", Long.toString(t.failures()));
        rows.put("time to commit, mean", secs(t.meanTimeToCommit()));
        rows.put("time to commit, p99", secs(t.p99TimeToCommit()));
        rows.put("stall of the saves into this tier, mean", secs(t.meanStall()));
        rows.put("promotion time, mean", secs(t.meanPromotion()));
        rows.put("promotion lag, most", t.maxLagSteps() + " steps");
        rows.put("bytes written per checkpoint, mean", bytes(t.meanBytesWritten()));
        rows.put("compression ratio (raw / stored)", ratio(t.compressionRatio()));
        rows.put("dedup ratio (stored / written)", ratio(t.dedupRatio()));
        rows.put("restores from this tier", Integer.toString(t.restores()));
        rows.put("restore time, mean", secs(t.meanRestore()));
        rows.put("bytes restores read from this tier", bytes(t.restoreBytes()));
        rows.put("collections", Integer.toString(t.gcRuns()));
        rows.put("bytes freed by collections", bytes(t.bytesFreed()));
        rows.put("configured interval", t.everySteps() == 0 ? "not recorded" : "every " + t.everySteps() + " steps");
        rows.put("measured pace", t.secondsPerStep() > 0 ? secs(t.secondsPerStep()) + " per step" : "-");
        h.append("<table class=\"tier\" data-tier=\"").append(esc(t.tier())).append("\"><caption>tier ").append(esc(t.tier()))
                .append("</caption><tbody>\n");
        rows.forEach((k, v) -> h.append("<tr><th>").append(esc(k)).append("</th><td>").append(esc(v)).append("</td></tr>\n"));
        h.append("</tbody></table>\n");
    }

    static List<Plot> plots(RunRecording r) {
        Instant start = r.start();
        List<Plot> plots = new ArrayList<>();
        List<double[]> stall = new ArrayList<>();
        for (RunRecording.Save s : r.saves()) {
            stall.add(new double[] {s.step(), TierSummary.seconds(s.stall()) * 1e3});
        }
        plots.add(new Plot("plot-stall", "Stall per step (time save() blocked the caller)", "step", "ms", "line",
                List.of(new Series("stall", stall)), List.of()));
        List<Series> ttc = new ArrayList<>();
        List<Series> written = new ArrayList<>();
        List<Series> compression = new ArrayList<>();
        List<Series> dedup = new ArrayList<>();
        for (String tier : r.tierNames()) {
            List<double[]> t = new ArrayList<>();
            List<double[]> w = new ArrayList<>();
            List<double[]> c = new ArrayList<>();
            List<double[]> d = new ArrayList<>();
            for (RunRecording.Commit x : r.commits()) {
                if (!x.tier().equals(tier) || x.failed()) {
                    continue;
                }
                t.add(new double[] {x.step(), TierSummary.seconds(x.timeToCommit()) * 1e3});
                w.add(new double[] {x.step(), x.bytesWritten() / 1048576.0});
                if (x.storedBytes() > 0) {
                    c.add(new double[] {x.step(), (double) x.rawBytes() / x.storedBytes()});
                }
                if (x.bytesWritten() > 0) {
                    d.add(new double[] {x.step(), (double) x.storedBytes() / x.bytesWritten()});
                }
            }
            ttc.add(new Series(tier, t));
            written.add(new Series(tier, w));
            compression.add(new Series(tier, c));
            dedup.add(new Series(tier, d));
        }
        plots.add(new Plot("plot-commit", "Time to commit per tier (from the save call)", "step", "ms", "line", ttc, List.of()));
        plots.add(new Plot("plot-bytes", "Bytes written per checkpoint per tier", "step", "MiB", "line", written, List.of()));
        plots.add(new Plot("plot-compression", "Compression ratio per tier (raw / stored)", "step", "ratio", "line", compression,
                List.of()));
        plots.add(new Plot("plot-dedup", "Dedup ratio per tier (stored bytes referenced / bytes written)", "step", "ratio",
                "line", dedup, List.of()));
        List<double[]> used = new ArrayList<>();
        List<double[]> limit = new ArrayList<>();
        for (RunRecording.Staging s : r.staging()) {
            double at = TierSummary.seconds(Duration.between(start, s.at()));
            used.add(new double[] {at, s.used() / 1048576.0});
            limit.add(new double[] {at, s.limit() / 1048576.0});
        }
        plots.add(new Plot("plot-staging", "Staging occupancy", "seconds since the first event", "MiB", "line",
                List.of(new Series("used", used), new Series("limit", limit)), List.of()));
        List<String> labels = new ArrayList<>();
        List<Series> restores = new ArrayList<>();
        Map<String, List<double[]>> byTier = new LinkedHashMap<>();
        for (RunRecording.Restore x : r.restores()) {
            if (!x.failure().isEmpty()) {
                continue;
            }
            byTier.computeIfAbsent(x.tier(), k -> new ArrayList<>()).add(new double[] {labels.size(), TierSummary.seconds(x.time()) * 1e3});
            labels.add(x.tier() + " step " + x.step());
        }
        byTier.forEach((tier, points) -> restores.add(new Series(tier, points)));
        plots.add(new Plot("plot-restore", "Restore time by tier", "restore", "ms", "bar", restores, labels));
        return plots;
    }

    private static String json(List<Plot> plots) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (Plot p : plots) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", p.id());
            m.put("x", p.x());
            m.put("y", p.y());
            m.put("kind", p.kind());
            m.put("labels", p.labels());
            List<Map<String, Object>> series = new ArrayList<>();
            for (Series s : p.series()) {
                series.add(Map.of("name", s.name(), "points", s.points()));
            }
            m.put("series", series);
            out.add(m);
        }
        try {
            return JSON.writeValueAsString(out);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("plot data is plain numbers and strings", e);
        }
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (char c : s.toCharArray()) {
            switch (c) {
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '&' -> b.append("&amp;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c < 0x20 && c != '\n' && c != '\t' ? '?' : c);
            }
        }
        return b.toString();
    }

    private static String secs(double s) {
        if (s == 0) {
            return "0";
        }
        if (s < 1) {
            return String.format(Locale.ROOT, "%.1f ms", s * 1e3);
        }
        if (s < 120) {
            return String.format(Locale.ROOT, "%.2f s", s);
        }
        if (s < 7200) {
            return String.format(Locale.ROOT, "%.1f min", s / 60);
        }
        return String.format(Locale.ROOT, "%.1f h", s / 3600);
    }

    private static String bytes(double b) {
        if (b < 1024) {
            return String.format(Locale.ROOT, "%.0f B", b);
        }
        if (b < 1 << 20) {
            return String.format(Locale.ROOT, "%.1f KiB", b / 1024);
        }
        if (b < 1L << 30) {
            return String.format(Locale.ROOT, "%.1f MiB", b / (1 << 20));
        }
        return String.format(Locale.ROOT, "%.2f GiB", b / (1L << 30));
    }

    private static String ratio(double r) {
        return r == 0 ? "-" : String.format(Locale.ROOT, "%.2f", r);
    }

    private static String text(Duration d) {
        long s = d.toSeconds();
        if (s % 86400 == 0 && s > 0) {
            return s / 86400 + " d";
        }
        if (s % 3600 == 0 && s > 0) {
            return s / 3600 + " h";
        }
        if (s % 60 == 0 && s > 0) {
            return s / 60 + " min";
        }
        return s + " s";
    }

    private static final String CSS = """
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; }
            .meta { color: #555; } code { font-size: 13px; }
            #report-errors { color: #b00; } #report-errors:empty { display: none; }
            table { border-collapse: collapse; margin: 8px 0 16px; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
            table.tier th { font-weight: normal; color: #444; } caption { text-align: left; font-weight: bold; padding: 4px 0; }
            .plots { display: flex; flex-wrap: wrap; gap: 16px; }
            figure.plot { margin: 0; width: 560px; } figcaption { font-weight: bold; margin-bottom: 4px; }
            svg text { font: 11px system-ui, sans-serif; fill: #333; }
            .empty { color: #777; font-style: italic; }
            """;

    /** Draws each plot as SVG; plain ES5 DOM calls, nothing loaded from anywhere. */
    private static final String SCRIPT = """
            (function () {
              var NS = 'http://www.w3.org/2000/svg';
              var COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
              var W = 560, H = 300, L = 64, R = 12, T = 12, B = 44;
              function el(name, attrs, parent) {
                var e = document.createElementNS(NS, name);
                for (var k in attrs) { e.setAttribute(k, attrs[k]); }
                if (parent) { parent.appendChild(e); }
                return e;
              }
              function label(text, x, y, anchor, parent, rotate) {
                var t = el('text', {x: x, y: y, 'text-anchor': anchor || 'middle'}, parent);
                if (rotate) { t.setAttribute('transform', 'rotate(-90 ' + x + ' ' + y + ')'); }
                t.textContent = text;
                return t;
              }
              function fmt(v) {
                var a = Math.abs(v);
                if (a !== 0 && (a >= 1e5 || a < 1e-2)) { return v.toExponential(1); }
                return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
              }
              function draw(plot) {
                var fig = document.getElementById(plot.id);
                var n = 0, xmin = Infinity, xmax = -Infinity, ymax = 0;
                plot.series.forEach(function (s) {
                  s.points.forEach(function (p) {
                    n++; xmin = Math.min(xmin, p[0]); xmax = Math.max(xmax, p[0]); ymax = Math.max(ymax, p[1]);
                  });
                });
                if (n === 0) {
                  var empty = document.createElement('p');
                  empty.className = 'empty';
                  empty.textContent = 'no data in this recording';
                  fig.appendChild(empty);
                  fig.setAttribute('data-points', '0');
                  return 0;
                }
                if (plot.kind === 'bar') { xmin = -0.5; xmax = plot.labels.length - 0.5; }
                if (xmax === xmin) { xmin -= 1; xmax += 1; }
                ymax = ymax > 0 ? ymax * 1.08 : 1;
                var svg = el('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img'}, fig);
                function sx(x) { return L + (x - xmin) / (xmax - xmin) * (W - L - R); }
                function sy(y) { return H - B - y / ymax * (H - T - B); }
                el('line', {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#333'}, svg);
                el('line', {x1: L, y1: T, x2: L, y2: H - B, stroke: '#333'}, svg);
                for (var i = 0; i <= 4; i++) {
                  var yv = ymax * i / 4, yy = sy(yv);
                  el('line', {x1: L, y1: yy, x2: W - R, y2: yy, stroke: '#eee'}, svg);
                  label(fmt(yv), L - 4, yy + 4, 'end', svg);
                  if (plot.kind !== 'bar') {
                    var xv = xmin + (xmax - xmin) * i / 4;
                    label(fmt(xv), sx(xv), H - B + 14, 'middle', svg);
                  }
                }
                label(plot.x, (L + W - R) / 2, H - 6, 'middle', svg);
                label(plot.y, 14, (T + H - B) / 2, 'middle', svg, true);
                var bw = plot.kind === 'bar' ? Math.max(4, (W - L - R) / Math.max(1, plot.labels.length) * 0.6) : 0;
                plot.series.forEach(function (s, k) {
                  var color = COLORS[k % COLORS.length];
                  if (plot.kind === 'bar') {
                    s.points.forEach(function (p) {
                      el('rect', {x: sx(p[0]) - bw / 2, y: sy(p[1]), width: bw, height: Math.max(1, H - B - sy(p[1])), fill: color}, svg);
                      label(plot.labels[p[0]], sx(p[0]), H - B + 14, 'middle', svg);
                    });
                  } else {
                    var d = s.points.map(function (p, j) { return (j ? 'L' : 'M') + sx(p[0]).toFixed(1) + ' ' + sy(p[1]).toFixed(1); }).join(' ');
                    el('path', {d: d, fill: 'none', stroke: color, 'stroke-width': 1.5}, svg);
                    s.points.forEach(function (p) { el('circle', {cx: sx(p[0]), cy: sy(p[1]), r: 2, fill: color}, svg); });
                  }
                  var lx = L + 8 + k * 110;
                  el('rect', {x: lx, y: T, width: 10, height: 10, fill: color}, svg);
                  label(s.name, lx + 14, T + 9, 'start', svg);
                });
                fig.setAttribute('data-points', String(n));
                return n;
              }
              var plots = JSON.parse(document.getElementById('report-data').textContent);
              var drawn = 0;
              plots.forEach(function (p) { if (draw(p) > 0) { drawn++; } });
              document.getElementById('report-status').textContent = 'rendered ' + drawn + ' of ' + plots.length + ' plots';
              if (document.documentElement.getAttribute('data-report') !== 'error') {
                document.documentElement.setAttribute('data-report', 'rendered');
              }
            })();
            """;
}
