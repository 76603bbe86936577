package dev.cairn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jdk.jfr.Recording;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cairn report} on a real recording of the engine, opened in a real headless Chromium: the page's script runs
 * without errors, every plot has points, and a screenshot is kept in {@code target/report/}.
 */
class ReportInBrowserTest {
    private static final Path OUT = Path.of("target", "report");

    @TempDir
    Path dir;

    @BeforeAll
    static void outputFolder() throws IOException {
        Files.createDirectories(OUT);
    }

    /** A recording of a run with two tiers: saves, commits, promotions, restores from both tiers and collections. */
    private Path record() throws Exception {
        Path jfr = dir.resolve("run.jfr");
        try (Recording recording = new Recording()) {
            for (String name : List.of("cairn.Save", "cairn.TierCommit", "cairn.Promotion", "cairn.Restore", "cairn.Gc",
                    "cairn.TierConfigured", "cairn.Staging")) {
                recording.enable(name);
            }
            recording.start();
            try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
                 FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
                 Checkpointer cp = Checkpointer.open(CairnConfig.builder("report").chunkBytes(64 << 10).stagingBytes(16L << 20)
                         .encoderThreads(1).gcGrace(Duration.ZERO).tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(1))
                         .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(3).compressionLevel(3)).build())) {
                Tensor frozen = tensor("frozen", 60_000, 1);
                for (long step = 1; step <= 8; step++) {
                    TrainingState state = TrainingState.builder().add(frozen).add(tensor("changing", 20_000, step)).build();
                    cp.save(step, state).done().get(60, TimeUnit.SECONDS);
                }
                assertEquals(8, cp.restore(RestoreRequest.latest()).tier().equals("memory") ? 8 : -1);
                assertEquals("disk", cp.restore(RestoreRequest.step(6)).tier(), "memory keeps only step 8");
                cp.gc(false);
            }
            recording.stop();
            recording.dump(jfr);
        }
        return jfr;
    }

    /** Half its bytes compress (zeros), half do not: a ratio above 1 to plot. */
    private static Tensor tensor(String name, int floats, long seed) {
        Tensor t = Tensor.allocate(name, DType.F32, floats);
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = t.buffers().get(0);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i % 2 == 0 ? 0f : (float) r.nextGaussian());
        }
        b.flip();
        return t;
    }

    @Test
    void theReportOfARecordedRunLoadsInChromiumWithEveryPlotDrawn() throws Exception {
        Path jfr = record();
        Path page = OUT.resolve("report.html").toAbsolutePath();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = CairnCli.execute(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                "report", jfr.toString(), "--out", page.toString(), "--mtbf", "6h");
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("tier memory:") && printed.contains("tier disk:") && printed.contains("Young/Daly recommends every"),
                printed);
        String html = Files.readString(page);
        assertFalse(html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"), "nothing to fetch");
        assertFalse(html.contains("https://"), "nothing to fetch");

        Path chromium = chromium().or(ReportInBrowserTest::installChromium).orElse(null);
        Assumptions.assumeTrue(chromium != null, "SKIPPED: no chromium on PATH and it could not be installed here (the Debian"
                + " package: apt-get install chromium, as root); the page was written to " + page + " but not checked in a browser");
        String dom = runChromium(chromium, "--dump-dom", page.toUri().toString());
        Files.writeString(OUT.resolve("report.dom.html"), dom);
        assertTrue(dom.contains("data-report=\"rendered\""), "the page's script did not finish: " + head(dom));
        // window.onerror writes each error into this element (its own source names "script error", so look here only).
        assertTrue(dom.contains("<pre id=\"report-errors\"></pre>"), "script errors: " + head(dom));
        Matcher figures = Pattern.compile("<figure class=\"plot\" id=\"([a-z-]+)\" data-points=\"(\\d+)\"").matcher(dom);
        List<String> plots = new ArrayList<>();
        while (figures.find()) {
            plots.add(figures.group(1));
            assertTrue(Integer.parseInt(figures.group(2)) > 0, "plot " + figures.group(1) + " has no data");
        }
        assertEquals(List.of("plot-stall", "plot-commit", "plot-bytes", "plot-compression", "plot-dedup", "plot-staging",
                "plot-restore"), plots);
        assertTrue(dom.contains("rendered 7 of 7 plots"), head(dom));
        assertTrue(dom.split("<svg", -1).length - 1 == 7, "one SVG per plot");

        Path shot = OUT.resolve("report.png").toAbsolutePath();
        Files.deleteIfExists(shot);
        runChromium(chromium, "--screenshot=" + shot, "--window-size=1300,2600", page.toUri().toString());
        assertTrue(Files.size(shot) > 10_000, "screenshot " + shot);
    }

    private static String head(String s) {
        return s.length() > 3000 ? s.substring(0, 3000) + "..." : s;
    }

    static Optional<Path> chromium() {
        for (String folder : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            for (String name : List.of("chromium", "chromium-browser")) {
                Path p = Path.of(folder, name);
                if (Files.isExecutable(p)) {
                    return Optional.of(p);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Installs Debian's {@code chromium} package where this test may (apt-get present, running as root, as on a CI
     * runner), and returns the browser; empty where it cannot (then the browser check is skipped and says so).
     */
    static Optional<Path> installChromium() {
        if (!Files.isExecutable(Path.of("/usr/bin/apt-get")) || !"root".equals(System.getProperty("user.name"))) {
            return Optional.empty();
        }
        try {
            for (List<String> command : List.of(List.of("apt-get", "update", "-q"),
                    List.of("apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"))) {
                Process p = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                p.getOutputStream().close();
                // 15 minutes: a ~100 MB download from Debian's mirrors; the bound only keeps a stuck apt from hanging the build.
                if (!p.waitFor(15, TimeUnit.MINUTES)) {
                    p.destroyForcibly();
                    return Optional.empty();
                }
                if (p.exitValue() != 0) {
                    return Optional.empty();
                }
            }
        } catch (java.io.IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
        return chromium();
    }

    /** Runs headless Chromium with no network and a throwaway profile; returns its stdout. */
    private String runChromium(Path chromium, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(chromium.toString(), "--headless", "--disable-gpu", "--no-sandbox",
                "--no-first-run", "--disable-extensions", "--user-data-dir=" + dir.resolve("profile"),
                "--proxy-server=127.0.0.1:9", "--virtual-time-budget=5000"));
        command.addAll(List.of(args));
        Path stdout = dir.resolve("chromium.out");
        Path stderr = dir.resolve("chromium.err");
        Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        // 3 minutes: a browser start on a loaded two-core machine; the bound only keeps a hung browser from hanging the build.
        if (!p.waitFor(3, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish: " + Files.readString(stderr));
        }
        assertEquals(0, p.exitValue(), Files.readString(stderr));
        return Files.readString(stdout);
    }
}
