package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A promotion proves every chunk right before it writes it to the slower tier, the verbatim copies too: that tier's
 * copy is the one a restore repairs the faster tier from, so a chunk damaged in the faster tier must not reach it.
 * Here a byte of a chunk stored in memory is flipped after step 1 (which the disk tier, taking every 10th step, does
 * not get); step 10 saves the same state, so memory reuses the damaged chunk, and its promotion to disk must fail as
 * CORRUPT, with no step 10 and no copy of the chunk on disk. Before, the verbatim paths (a compressed memory tier into
 * a disk at a level no stronger, any chunk stored raw, an uncompressed tier into another) copied the damaged bytes and
 * committed step 10 on disk; the re-encoding path (uncompressed memory into a compressed disk) verified already, and
 * failed as STORAGE.
 */
class PromotionVerifiesChunksTest {
    private static final String RUN = "verify";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    static Stream<Arguments> paths() {
        UnaryOperator<TierConfig> asIs = t -> t;
        return Stream.of(
                // Random bytes do not compress: stored raw in a compressed tier, copied as stored.
                Arguments.of("compressed memory, a raw chunk, verbatim", random(),
                        (UnaryOperator<TierConfig>) t -> t.compressionLevel(3), asIs),
                // Compressed at level 3 in memory, copied as stored into a disk at the config's level 1.
                Arguments.of("compressed memory, a zstd chunk, verbatim", smooth(),
                        (UnaryOperator<TierConfig>) t -> t.compressionLevel(3), asIs),
                Arguments.of("uncompressed memory into an uncompressed disk, verbatim", random(), asIs,
                        (UnaryOperator<TierConfig>) TierConfig::uncompressed),
                Arguments.of("uncompressed memory into a compressed disk, re-encoded", smooth(), asIs, asIs));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("paths")
    void aChunkDamagedInTheFasterTierFailsItsPromotionAsCorruptAndNeverReachesTheSlowerTier(String path,
            TrainingState state, UnaryOperator<TierConfig> memoryTier, UnaryOperator<TierConfig> diskTier) throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1)
                     .tier(memoryTier.apply(TierConfig.of("memory", mem)).keepLast(2))
                     .tier(diskTier.apply(TierConfig.of("disk", disk)).everySteps(10)).build())) {
            cp.save(1, state).done().get(30, TimeUnit.SECONDS);
            assertTrue(disk.list(LAYOUT.manifestKey(1)).isEmpty(), "step 1 is in memory only");
            String bad = chunksOf(mem, 1).get(0);
            String key = LAYOUT.chunkKey(bad);
            ByteBuffer stored = mem.readAll(key);
            byte[] flipped = new byte[stored.remaining()];
            stored.get(flipped);
            // Past the headers, in the frame's data: a bit the format cannot ignore.
            flipped[StoredChunkHeader.MAX_LENGTH + (flipped.length - StoredChunkHeader.MAX_LENGTH) / 2] ^= 0x10;
            mem.put(key, ByteBuffer.wrap(flipped));

            CheckpointHandle step10 = cp.save(10, state);
            step10.committed("memory").get(30, TimeUnit.SECONDS); // the same content: memory names its damaged copy
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> step10.committed("disk").get(30, TimeUnit.SECONDS), path);
            CheckpointException c = assertInstanceOf(CheckpointException.class, e.getCause(), path);
            assertEquals(CheckpointException.Reason.CORRUPT, c.reason(), path + ": " + c.getMessage());
            assertTrue(c.getMessage().contains(key), path + ": names the chunk: " + c.getMessage());
            assertTrue(disk.list(LAYOUT.manifestKey(10)).isEmpty(), path + ": no step 10 on disk");
            assertTrue(disk.list(key).isEmpty(), path + ": the damaged chunk was not written to disk");
        }
    }

    private static TrainingState random() {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 16 << 10, 7)).build();
    }

    /** Floats that compress: stored far shorter than raw at any level. */
    private static TrainingState smooth() {
        int floats = 16 << 10;
        ByteBuffer b = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < floats; i++) {
            b.putFloat(i * 4, (float) (i % 7));
        }
        return TrainingState.builder().tensor("w", DType.F32, new long[] {floats}, b).build();
    }

    private static List<String> chunksOf(MemoryObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            Manifest m = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(step)), "m", alloc);
            return List.copyOf(m.chunkHashes());
        }
    }
}
