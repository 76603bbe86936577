package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * A save whose source is a memory map of a file truncated meanwhile never commits: reading the map faults, and the
 * fault fails the save, on whichever thread and wherever the JVM throws it. In compiled code the JVM throws that
 * InternalError at the thread's next taken safepoint poll or native call, which can come after the copy that faulted
 * has returned; the capture thread once swallowed such an error and the save committed what the copy had left. Many
 * saves in one JVM, so that the copy path is compiled for the later ones, in both modes.
 *
 * <p>Disabled: it reproduces an open defect (bench/RESULTS.md, "A save from a truncated memory map"). Every save
 * fails and nothing commits, but the error can also be thrown later inside the staging pool's code: of seven runs of
 * this test two ended with 4-5 staging slabs leaked at close and five hung, one of them (examined) with the pool's lock
 * held by the idle capture thread, so every later save waited for ever. A native call right after each copy (which throws a pending fault on
 * its return) did not stop it. Run it with {@code -Dtest=TruncatedMappedSourceTest -Dcairn.truncated=true}.
 */
@EnabledIfSystemProperty(named = "cairn.truncated", matches = "true")
class TruncatedMappedSourceTest {
    private static final int CHUNK = 4 << 10;
    private static final int FILE_BYTES = 64 * CHUNK;
    private static final int SAVES = Integer.getInteger("saves", 300);

    @TempDir
    Path dir;

    @Test
    // The 300 saves take about a second; the defect can hang one on an uninterruptible lock, which only a timeout on
    // a thread of its own turns into a failure.
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aSaveOfATruncatedMapFailsEveryTimeAndCommitsNothing() throws Exception {
        byte[] bytes = new byte[FILE_BYTES];
        new java.util.Random(7).nextBytes(bytes);
        int saves = 0;
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("truncated").chunkBytes(CHUNK)
                     .stagingBytes(CairnConfig.minimumStagingBytes(CHUNK, 2) * 4).encoderThreads(2)
                     .deadline(Duration.ofMinutes(1)).tier(TierConfig.of("memory", mem)).build())) {
            for (int i = 0; i < SAVES; i++) {
                Path file = dir.resolve("f" + i);
                Files.write(file, bytes);
                ByteBuffer mapped;
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                    mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, FILE_BYTES);
                    ch.truncate(100);
                }
                TrainingState state = TrainingState.builder()
                        .tensor("w", DType.F32, new long[] {FILE_BYTES / 4}, mapped).build();
                SaveMode mode = i % 2 == 0 ? SaveMode.ZERO_COPY : SaveMode.COPY;
                boolean failed;
                try {
                    CheckpointHandle h = cp.save(i + 1, state, mode);
                    h.done().join();
                    failed = false;
                } catch (CompletionException | InternalError | dev.cairn.CheckpointException expected) {
                    failed = true;
                }
                assertTrue(failed, "save " + (i + 1) + " (" + mode + ") of a truncated map committed");
                saves++;
                Files.delete(file);
            }
            assertEquals(SAVES, saves);
            assertTrue(cp.list().isEmpty(), "nothing committed: " + cp.list());
        }
    }
}
