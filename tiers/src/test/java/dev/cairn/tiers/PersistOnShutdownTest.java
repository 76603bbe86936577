package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Save on preemption (issue 18 item 4): a child JVM saves every step into memory and every 10th into disk with
 * {@code persistOnShutdown}, and is sent SIGTERM after step 13. The newest step, held only in memory, is then on
 * disk, whole, and restores bit for bit in a fresh checkpointer; with a disk too slow for the grace period nothing
 * of it is committed there, and the disk still holds step 10.
 */
class PersistOnShutdownTest {
    @TempDir
    Path dir;

    @Test
    void sigtermPersistsTheNewestMemoryStepToDiskWithinTheGrace() throws Exception {
        List<String> output = runAndTerminate(60_000, 0);
        assertTrue(output.stream().noneMatch(l -> l.contains("Exception")), String.join("\n", output));
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(smallConfig("preempted").tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            assertEquals(List.of(13L, 10L), cp.list().stream().map(CheckpointInfo::step).toList(),
                    "step 13 (not a disk step) persisted on shutdown, beside step 10");
            assertSameState(PersistOnShutdownChild.state(13), cp.restore(RestoreRequest.latest()).state());
            assertSameState(PersistOnShutdownChild.state(10), cp.restore(RestoreRequest.step(10)).state());
        }
    }

    @Test
    void aShutdownThatRunsOutOfTimeLeavesNothingPartialCommitted() throws Exception {
        // Every disk write waits 1.5 s and step 13 needs 7 of them on one I/O thread each: far over a 300 ms grace.
        runAndTerminate(300, 1_500);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(smallConfig("preempted").tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            assertEquals(List.of(10L), cp.list().stream().map(CheckpointInfo::step).toList(), "step 13 never committed on disk");
            assertSameState(PersistOnShutdownChild.state(10), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /** Starts the child, waits for {@code saved 13}, sends SIGTERM and waits for it to exit; returns its output. */
    private List<String> runAndTerminate(long graceMillis, long diskDelayMillis) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process child = new ProcessBuilder(java, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx256m",
                "-XX:MaxDirectMemorySize=512m", "-cp", System.getProperty("java.class.path"),
                PersistOnShutdownChild.class.getName(), dir.resolve("disk").toString(), Long.toString(graceMillis),
                Long.toString(diskDelayMillis)).redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                lines.add(line);
                if (line.equals("saved " + PersistOnShutdownChild.LAST)) {
                    // SIGTERM, through the handle: Process.destroy() would also close the output read here
                    child.toHandle().destroy();
                }
            }
        }
        // 5 minutes: a JVM start, 13 small saves and the grace; the bound only keeps a hung child from hanging the build.
        assertTrue(child.waitFor(5, TimeUnit.MINUTES), "the child did not exit: " + lines);
        assertTrue(lines.contains("saved " + PersistOnShutdownChild.LAST), "the child got to step 13: " + lines);
        assertEquals(143, child.exitValue(), "ended by SIGTERM (128 + 15): " + lines);
        return lines;
    }
}
