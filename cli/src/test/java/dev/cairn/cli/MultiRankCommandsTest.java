package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The recovery commands on a checkpoint saved by two ranks, each holding half the rows of a tensor. */
class MultiRankCommandsTest {
    private static final long[] GLOBAL = {300, 40};

    @TempDir
    Path tmp;

    private static CairnConfig config(FileSystemObjectStore store, int rank, int world) {
        return CairnConfig.builder("ranks").tier(TierConfig.of("disk", store)).chunkBytes(4096).encoderThreads(1)
                .stagingBytes(16L << 20).rank(rank, world).build();
    }

    @Test
    void inspectShowsEachRanksSliceAndACopiedCheckpointRestoresWholeOnOneRank() throws Exception {
        byte[] global = new byte[(int) (GLOBAL[0] * GLOBAL[1] * 4)];
        new Random(7).nextBytes(global);
        Path disk = tmp.resolve("disk");
        saveStep5OnTwoRanks(disk, r -> {
            ShardSpec s = ShardSpec.split(GLOBAL, 0, 2, r);
            int from = (int) (s.offsets()[0] * GLOBAL[1] * 4);
            int len = (int) (s.lengths()[0] * GLOBAL[1] * 4);
            ByteBuffer b = ByteBuffer.allocateDirect(len).put(global, from, len).flip();
            return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, b)).build();
        });
        CairnCliTest.Run inspect = cairn("inspect", "5", "--store", disk.toString(), "--json");
        assertEquals(0, inspect.status(), inspect.err());
        JsonNode tensors = new ObjectMapper().readTree(inspect.out()).get("tensors");
        assertEquals(2, tensors.size());
        for (int r = 0; r < 2; r++) {
            JsonNode t = tensors.get(r);
            assertEquals(r, t.get("rank").asInt());
            assertEquals(GLOBAL[0], t.get("globalShape").get(0).asLong());
            assertEquals(ShardSpec.split(GLOBAL, 0, 2, r).offsets()[0], t.get("shardOffsets").get(0).asLong());
        }
        CairnCliTest.Run text = cairn("inspect", "5", "--store", disk.toString());
        assertTrue(text.out().contains("[150,40] of [300,40] at [150,0]"), text.out());
        assertEquals(0, cairn("verify", "5", "--store", disk.toString()).status());

        // Export merges the row slices into one tensor; importing it back gives the global bytes.
        Path exported = tmp.resolve("exported");
        CairnCliTest.Run export = cairn("export", "5", "--store", disk.toString(), "--format", "safetensors", "--out", exported.toString());
        assertEquals(0, export.status(), export.err());
        Path imported = tmp.resolve("imported");
        CairnCliTest.Run imp = cairn("import", exported.toString(), "--store", imported.toString(), "--run", "ranks", "--step", "6");
        assertEquals(0, imp.status(), imp.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(imported);
             Checkpointer one = Checkpointer.open(config(store, 0, 1))) {
            Tensor whole = one.restore(RestoreRequest.latest()).state().tensor("w");
            assertArrayEquals(GLOBAL, whole.shape());
            byte[] back = new byte[global.length];
            whole.buffers().get(0).get(back);
            assertArrayEquals(global, back);
        }

        Path copy = tmp.resolve("copy");
        CairnCliTest.Run restore = cairn("restore", "5", "--store", disk.toString(), "--to", copy.toString());
        assertEquals(0, restore.status(), restore.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(copy);
             Checkpointer one = Checkpointer.open(config(store, 0, 1))) {
            Tensor whole = one.restore(RestoreRequest.latest()).state().tensor("w");
            byte[] back = new byte[global.length];
            whole.buffers().get(0).get(back);
            assertArrayEquals(global, back);
        }
    }

    /**
     * A per-rank blob's copies are exported as {@code <name>.rank<r>}, a name a blob of the step may have too: the
     * export refuses the step before writing anything, where one blob used to replace the other in the file's metadata
     * and an import then committed the step without it (exit 0, "3 blobs written", 2 in the file).
     */
    @Test
    void anExportWhoseBlobsWouldShareANameIsRefusedBeforeAnythingIsWritten() throws Exception {
        Path disk = tmp.resolve("disk");
        saveStep5OnTwoRanks(disk, r -> {
            ByteBuffer w = ByteBuffer.allocateDirect(16).put(new byte[16]).flip();
            return TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {4}, w))
                    .add(dev.cairn.Blob.perRank("opt", ("RANK" + r).getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                    .add(dev.cairn.Blob.of("opt.rank1", "PLAIN".getBytes(java.nio.charset.StandardCharsets.UTF_8)))
                    .build();
        });
        Path out = tmp.resolve("exported");
        CairnCliTest.Run export = cairn("export", "5", "--store", disk.toString(), "--out", out.toString());
        assertEquals(CairnCli.FAILED, export.status(), export.out() + export.err());
        assertTrue(export.err().contains("INVALID_INPUT") && export.err().contains("'opt.rank1'"), export.err());
        assertFalse(java.nio.file.Files.exists(out), "nothing written");
    }

    /** Step 5 of run "ranks" saved into a disk store at {@code disk} by two ranks, rank r saving {@code stateOf(r)}. */
    private static void saveStep5OnTwoRanks(Path disk, java.util.function.IntFunction<TrainingState> stateOf)
            throws java.io.IOException {
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            List<Checkpointer> ranks = List.of(Checkpointer.open(config(store, 0, 2)), Checkpointer.open(config(store, 1, 2)));
            try {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    handles.add(ranks.get(r).save(5, stateOf.apply(r)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().join();
                }
            } finally {
                ranks.forEach(Checkpointer::close);
            }
        }
    }
}
