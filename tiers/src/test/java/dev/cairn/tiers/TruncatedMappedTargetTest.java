package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.MappedFaults;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A restore into a memory map whose file was truncated fails with the caller's bad input named, and the process lives
 * on: the engine never lets native code (zstd's decoder) write into a map of a file, where the fault is a SIGBUS that
 * ends the JVM (before the fix this test's first round did, exit 134); it decodes such a chunk into its own memory and
 * copies it, and the copy's fault is answered right there (MappedFaults). A map of a whole file restores bit-exact by
 * the same path. Many rounds in one JVM, so that the copy path is compiled for the later ones; the close fails if a
 * reader's buffer leaked.
 */
class TruncatedMappedTargetTest {
    private static final int CHUNK = 4 << 10;
    private static final int FLOATS = 16 * CHUNK / 4;
    private static final int ROUNDS = Integer.getInteger("rounds", 200);

    @TempDir
    Path dir;

    @Test
    void aRestoreIntoATruncatedMapFailsNamingTheEntryAndOneIntoAWholeMapIsExact() throws Exception {
        // "smooth" compresses (zstd and float planes), "noise" does not (stored raw): both decoders' paths.
        ByteBuffer smooth = ByteBuffer.allocateDirect(FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < FLOATS; i++) {
            smooth.putFloat(i * 4, (float) Math.sin(i / 500.0));
        }
        byte[] noise = new byte[FLOATS * 4];
        new Random(11).nextBytes(noise);
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("truncated-target").chunkBytes(CHUNK)
                     .encoderThreads(2).deadline(Duration.ofMinutes(1)).tier(TierConfig.of("memory", mem)).build())) {
            cp.save(1, TrainingState.builder()
                    .tensor("smooth", DType.F32, new long[] {FLOATS}, smooth)
                    .tensor("noise", DType.F32, new long[] {FLOATS}, ByteBuffer.wrap(noise))
                    .build(), SaveMode.COPY).done().join();

            for (int i = 0; i < ROUNDS; i++) {
                Path file = dir.resolve("t" + i);
                MappedByteBuffer a;
                MappedByteBuffer b;
                try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                        StandardOpenOption.WRITE)) {
                    ch.truncate(2L * FLOATS * 4);
                    a = ch.map(FileChannel.MapMode.READ_WRITE, 0, FLOATS * 4L);
                    b = ch.map(FileChannel.MapMode.READ_WRITE, FLOATS * 4L, FLOATS * 4L);
                    boolean whole = i % 10 == 9; // every tenth round: a map of a file left whole
                    if (!whole) {
                        ch.truncate(100);
                    }
                    assertTrue(MappedFaults.isFileMap(a) && MappedFaults.isFileMap(b.slice()));
                    TrainingState into = TrainingState.builder()
                            .tensor("smooth", DType.F32, new long[] {FLOATS}, i % 2 == 0 ? a : b)
                            .tensor("noise", DType.F32, new long[] {FLOATS}, i % 2 == 0 ? b : a)
                            .build();
                    if (whole) {
                        cp.restore(RestoreRequest.step(1).into(into));
                        ByteBuffer gotSmooth = i % 2 == 0 ? a : b;
                        ByteBuffer gotNoise = i % 2 == 0 ? b : a;
                        assertEquals(smooth.duplicate().clear(), gotSmooth.duplicate().clear(), "round " + i);
                        assertEquals(ByteBuffer.wrap(noise), gotNoise.duplicate().clear(), "round " + i);
                        continue;
                    }
                    CheckpointException e = assertThrows(CheckpointException.class,
                            () -> cp.restore(RestoreRequest.step(1).into(into)), "round " + i);
                    assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason(), e.getMessage());
                    assertTrue(e.getMessage().contains("truncated")
                            && (e.getMessage().contains("'smooth'") || e.getMessage().contains("'noise'")), e.getMessage());
                }
            }
            // The checkpointer still restores, and is whole: nothing of the failed restores holds a reader.
            TrainingState back = cp.restore(RestoreRequest.step(1)).state();
            Tensor s = back.tensor("smooth");
            assertEquals(smooth.duplicate().clear(), s.buffers().get(0).duplicate().order(ByteOrder.LITTLE_ENDIAN));
            assertFalse(MappedFaults.isFileMap(ByteBuffer.allocateDirect(8)), "a buffer of allocateDirect is no map");
        }
    }
}
