package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer killed mid-put leaves its temporary file, as large as the chunk it was to become; nothing removed those
 * (the disk tier filled up crash after crash). A sweep of the garbage collector now does, once they are old enough
 * that no write in progress can own them.
 */
class AbandonedWritesTest {
    @TempDir
    Path dir;

    @Test
    void aSweepRemovesTemporaryFilesOfKilledWritersButNotThoseOfLiveOnes() throws Exception {
        FileSystemObjectStore disk = new FileSystemObjectStore(dir);
        try (Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk)).build())) {
            cp.save(1, TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, 1)).build()).done()
                    .get(30, TimeUnit.SECONDS);
            Path chunks = dir.resolve("run1/chunks/00");
            Files.createDirectories(chunks);
            Path killed = chunks.resolve(".tmp-0123456789abcdef");
            Path live = chunks.resolve(".tmp-fedcba9876543210");
            Files.write(killed, new byte[4096]);
            Files.write(live, new byte[4096]);
            Files.setLastModifiedTime(killed, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
            Files.setLastModifiedTime(live, FileTime.from(Instant.now().minus(Duration.ofMinutes(30))));
            Path otherRun = dir.resolve("run2/chunks/00/.tmp-00112233445566778");
            Files.createDirectories(otherRun.getParent());
            Files.write(otherRun, new byte[4096]);
            Files.setLastModifiedTime(otherRun, FileTime.from(Instant.now().minus(Duration.ofHours(2))));

            cp.gc(true);
            assertTrue(Files.exists(killed), "a dry run deletes nothing");
            cp.gc(false);
            assertFalse(Files.exists(killed), "a temporary file last written two hours ago");
            // The run's grace is zero here: younger than an hour, a temporary file may still be being written.
            assertTrue(Files.exists(live), "a temporary file last written 30 minutes ago");
            assertTrue(Files.exists(otherRun), "another run's files are its own collector's");
        }
    }
}
