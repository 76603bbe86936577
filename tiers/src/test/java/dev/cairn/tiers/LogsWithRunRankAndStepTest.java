package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine logs through SLF4J with run, rank and step in the MDC around a save or restore, and around each line
 * about a step's commit on the tiers' threads; the caller's own MDC is left as it was. Run in a child JVM with
 * Logback as the SLF4J provider ({@link LoggingChild}).
 */
class LogsWithRunRankAndStepTest {
    @TempDir
    Path dir;

    @Test
    void saveCommitAndRestoreLinesCarryRunRankAndStep() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path out = dir.resolve("stdout");
        Path err = dir.resolve("stderr");
        Process child = new ProcessBuilder(java, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx256m",
                "-XX:MaxDirectMemorySize=512m", "-XX:TieredStopAtLevel=1",
                "-Dslf4j.provider=ch.qos.logback.classic.spi.LogbackServiceProvider",
                "-cp", System.getProperty("java.class.path"), LoggingChild.class.getName())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        // 5 minutes: a JVM start and three small saves; the bound only keeps a hung child from hanging the build.
        assertTrue(child.waitFor(5, TimeUnit.MINUTES), "child did not finish");
        assertEquals(0, child.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
        List<String> printed = Files.readAllLines(out, StandardCharsets.UTF_8);
        List<String> lines = printed.stream().filter(l -> l.startsWith("EVENT|")).map(l -> l.substring(6)).toList();
        String after = printed.stream().filter(l -> l.startsWith("MDC-after")).findFirst().orElse("no MDC-after line");
        String all = String.join("\n", lines);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("DEBUG|main|logged|0|2|save of step 2 returned")), all);
        assertTrue(lines.stream().anyMatch(l -> l.matches("DEBUG\\|[^|]+\\|logged\\|0\\|1\\|step 1 committed in tier fast .*")), all);
        assertTrue(lines.stream().anyMatch(l -> l.matches("DEBUG\\|[^|]+\\|logged\\|0\\|2\\|step 2 promoted to tier slow .*")), all);
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("INFO|main|logged|0|latest|restored step 2 from tier fast")), all);
        assertTrue(lines.stream().anyMatch(l -> l.matches("DEBUG\\|[^|]+\\|logged\\|0\\|null\\|collected tier fast: .*")),
                "a collection is about no one step: " + all);
        for (String l : lines) {
            assertTrue(l.contains("|logged|0|"), "every engine line carries run and rank: " + l);
        }
        assertEquals("MDC-after {app=kept}", after, "the caller's MDC is as it was");
    }
}
