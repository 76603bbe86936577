package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A save, its commit and promotion, a restore and a collection each leave a Flight Recorder event with their numbers. */
class FlightRecorderEventsTest {
    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 100_000, seed)).add(randomTensor("b", DType.F32, 3_000, seed + 1))
                .build();
    }

    @Test
    void saveCommitPromotionRestoreAndGcAreRecordedWithTheirSizesAndDurations() throws Exception {
        Path jfr = dir.resolve("run.jfr");
        long stateBytes = state(0).byteSize();
        try (Recording recording = new Recording()) {
            for (String name : List.of("cairn.Save", "cairn.TierCommit", "cairn.Promotion", "cairn.Restore", "cairn.Gc",
                    "cairn.TierConfigured")) {
                recording.enable(name);
            }
            recording.enable("cairn.Staging").withPeriod(Duration.ofMillis(10));
            recording.start();
            try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
                 FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
                 Checkpointer cp = Checkpointer.open(smallConfig("jfr").tier(TierConfig.of("memory", mem).keepLast(1))
                         .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(1)).build())) {
                for (long step = 1; step <= 4; step++) {
                    cp.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
                }
                assertEquals(4, cp.restore(RestoreRequest.latest()).step());
                cp.gc(false);
                // The staging sample is periodic: wait (by the recording's own events, not a clock) until one is in.
                awaitEvent(recording, "cairn.Staging", dir.resolve("poll.jfr"));
            }
            recording.stop();
            recording.dump(jfr);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(jfr);

        List<RecordedEvent> saves = named(events, "cairn.Save");
        assertEquals(List.of(1L, 2L, 3L, 4L), saves.stream().map(e -> e.getLong("step")).sorted().toList());
        for (RecordedEvent e : saves) {
            assertEquals("jfr", e.getString("run"));
            assertEquals(stateBytes, e.getLong("rawBytes"));
            assertTrue(e.getLong("stall") > 0, e.toString());
            assertEquals(e.getLong("step") % 2 == 0 ? "memory,disk" : "memory", e.getString("tiers"));
            assertEquals("COPY", e.getString("mode"));
            assertTrue(e.getLong("chunks") >= 7, e.toString()); // 412,000 bytes in 64 KiB chunks
            assertEquals(16L << 20, e.getLong("stagingLimit"));
        }

        List<RecordedEvent> commits = named(events, "cairn.TierCommit");
        assertEquals(List.of(1L, 2L, 3L, 4L), commits.stream().map(e -> e.getLong("step")).sorted().toList());
        for (RecordedEvent e : commits) {
            assertEquals("memory", e.getString("tier"));
            assertEquals("", e.getString("failure"));
            assertEquals(stateBytes, e.getLong("rawBytes"));
            assertTrue(e.getLong("storedBytes") > 0 && e.getLong("bytesWritten") > 0, e.toString());
            assertTrue(e.getLong("timeToCommit") > 0, e.toString());
            assertEquals(e.getLong("chunks"), e.getLong("chunksWritten"), "every step's state is new: " + e);
        }

        List<RecordedEvent> promotions = named(events, "cairn.Promotion");
        assertEquals(List.of(2L, 4L), promotions.stream().map(e -> e.getLong("step")).sorted().toList());
        for (RecordedEvent e : promotions) {
            assertEquals("memory", e.getString("source"));
            assertEquals("disk", e.getString("tier"));
            assertEquals("", e.getString("failure"));
            assertTrue(e.getLong("timeToCommit") >= e.getLong("promotionTime") && e.getLong("promotionTime") > 0, e.toString());
            assertEquals(0, e.getLong("lagSteps"), "each save waited for its promotion: " + e);
            assertTrue(e.getLong("bytesWritten") > 0, e.toString());
        }

        List<RecordedEvent> restores = named(events, "cairn.Restore");
        assertEquals(1, restores.size());
        RecordedEvent restore = restores.get(0);
        assertEquals(4, restore.getLong("step"));
        assertEquals("memory", restore.getString("tier"));
        assertTrue(restore.getLong("bytesRead") > 0 && restore.getString("bytesReadByTier").startsWith("memory="), restore.toString());
        assertTrue(restore.getLong("restoreTime") > 0);

        List<RecordedEvent> gcs = named(events, "cairn.Gc");
        assertEquals(List.of("disk", "memory"), gcs.stream().map(e -> e.getString("tier")).distinct().sorted().toList());
        // keepLast(1) with a new state every step: memory retired steps 1 to 3 and freed their chunks.
        assertEquals(3, gcs.stream().filter(e -> e.getString("tier").equals("memory")).mapToInt(e -> e.getInt("stepsRetired")).sum());
        assertTrue(gcs.stream().filter(e -> e.getString("tier").equals("memory")).mapToLong(e -> e.getLong("bytesFreed")).sum() > 0);

        assertEquals(List.of("disk=2", "memory=1"), named(events, "cairn.TierConfigured").stream()
                .map(e -> e.getString("tier") + "=" + e.getLong("everySteps")).distinct().sorted().toList());
        RecordedEvent staging = named(events, "cairn.Staging").get(0);
        assertEquals(16L << 20, staging.getLong("limit"));
        assertTrue(staging.getLong("used") >= 0 && staging.getLong("used") <= staging.getLong("limit"));
    }

    private static List<RecordedEvent> named(List<RecordedEvent> events, String name) {
        return events.stream().filter(e -> e.getEventType().getName().equals(name)).collect(Collectors.toList());
    }

    private static void awaitEvent(Recording recording, String name, Path scratch) throws Exception {
        // 60 s: a periodic event fires every 10 ms; the bound only keeps a broken hook from hanging the build.
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < until) {
            recording.dump(scratch);
            if (!named(RecordingFile.readAllEvents(scratch), name).isEmpty()) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + name + " event within 60 s");
    }
}
