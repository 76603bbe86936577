package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Micrometer is an optional dependency: a JVM whose class path lacks it (this test's class path with the Micrometer
 * jars taken out) runs the engine, and never loads a Micrometer class or the engine's binding to it.
 */
class RunsWithoutMicrometerTest {
    @TempDir
    Path dir;

    @Test
    void theEngineSavesAndRestoresWithoutMicrometerAndNeverLoadsItsBinding() throws Exception {
        String[] entries = System.getProperty("java.class.path").split(File.pathSeparator);
        List<String> kept = Arrays.stream(entries).filter(e -> !e.contains("micrometer") && !e.contains("HdrHistogram")
                && !e.contains("LatencyUtils")).toList();
        assertTrue(kept.size() < entries.length, "the test class path had Micrometer to take out: " + Arrays.toString(entries));
        Path out = dir.resolve("stdout");
        Path err = dir.resolve("stderr");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process child = new ProcessBuilder(java, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx256m",
                "-XX:MaxDirectMemorySize=512m", "-XX:TieredStopAtLevel=1", "-Xlog:class+load=info:file=" + dir.resolve("classes.log"),
                "-cp", String.join(File.pathSeparator, kept), NoMicrometerChild.class.getName())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        // 5 minutes: a JVM start and a few small saves; the bound only keeps a hung child from hanging the build.
        assertTrue(child.waitFor(5, TimeUnit.MINUTES), "child did not finish");
        assertEquals(0, child.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
        assertEquals("OK", Files.readString(out, StandardCharsets.UTF_8).strip());
        List<String> loaded = Files.readAllLines(dir.resolve("classes.log"), StandardCharsets.UTF_8);
        assertTrue(loaded.stream().anyMatch(l -> l.contains("dev.cairn.tiers.internal.observe.Telemetry ")),
                "the class-load log is read right");
        List<String> micrometer = loaded.stream().filter(l -> l.contains("io.micrometer") || l.contains("observe.micrometer"))
                .collect(Collectors.toList());
        assertFalse(!micrometer.isEmpty(), "loaded: " + micrometer);
    }
}
