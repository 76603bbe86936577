package dev.cairn.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ResumeScenarioTest {

    @Test
    void resumesBitExactAfterSigkillMidRunAndAfterLosingTheNodesMemoryAndDisk(@TempDir Path dir) {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        boolean exact;
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            exact = ResumeScenario.run(dir.resolve("demo"), out);
        }
        String report = captured.toString(StandardCharsets.UTF_8);
        System.out.print(report);
        List<String> lines = report.lines().toList();

        assertEquals("resume bit-exact: true", lines.get(lines.size() - 1), report);
        assertTrue(exact);
        assertTrue(report.lines().anyMatch(l -> l.matches("  restored step [1-4]0 from tier disk .*")),
                "restore must come from a disk checkpoint taken before the kill in step 47:\n" + report);
        assertTrue(report.lines().anyMatch(l -> l.matches("  restored step [24]0 from tier s3 .*")),
                "after node loss, restore must come from an s3 checkpoint taken before the kill in step 47:\n" + report);
        assertTrue(report.lines().anyMatch(l -> l.startsWith("  node lost: memory died with the process; disk tier wiped")),
                report);
        assertTrue(report.lines().anyMatch(l -> l.matches("  checkpoint +\\d+ .* disk [\\d,]+ B, s3 [\\d,]+ B")),
                "checkpoints report the bytes each tier took, s3 included:\n" + report);
        assertEquals(2, report.lines().filter(l -> l.matches(".*killed pid \\d+ with SIGKILL.*exit 137.*")).count(),
                "both killed children must die by SIGKILL:\n" + report);
        assertEquals(3, report.lines().filter(l -> l.matches("compare \\(.*\\): final-param-hash resumed .* \\(equal\\)")).count(),
                report);
        // Preemption: SIGTERM in step 47, the shutdown hook persisted step 46 (memory only until then) to disk.
        assertEquals(1, report.lines().filter(l -> l.matches(".*sent pid \\d+ SIGTERM inside step 47: exit 143.*")).count(),
                report);
        assertTrue(report.lines().anyMatch(l -> l.matches("  restored step 46 from tier disk .*")), report);
        assertFalse(report.contains("problem:"), report);
        // The resumed run was recorded for `cairn report`: its saves, commits, promotions and its restore.
        java.util.Map<String, Long> events = recordedEvents(ResumeScenario.recordingIn(dir.resolve("demo")));
        for (String name : List.of("cairn.Save", "cairn.TierCommit", "cairn.Promotion", "cairn.Restore", "cairn.TierConfigured")) {
            assertTrue(events.getOrDefault(name, 0L) > 0, name + " in " + events);
        }
    }

    private static java.util.Map<String, Long> recordedEvents(Path jfr) {
        try {
            return jdk.jfr.consumer.RecordingFile.readAllEvents(jfr).stream().collect(java.util.stream.Collectors.groupingBy(
                    e -> e.getEventType().getName(), java.util.stream.Collectors.counting()));
        } catch (java.io.IOException e) {
            throw new AssertionError("no recording at " + jfr, e);
        }
    }

    @Test
    void refusesToEmptyAFolderItDidNotMake(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("precious.txt"), "keep me");
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        boolean exact;
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            exact = ResumeScenario.run(dir, out);
        }
        List<String> lines = captured.toString(StandardCharsets.UTF_8).lines().toList();

        assertFalse(exact);
        assertEquals("resume bit-exact: false", lines.get(lines.size() - 1));
        assertTrue(Files.exists(dir.resolve("precious.txt")));
    }
}
