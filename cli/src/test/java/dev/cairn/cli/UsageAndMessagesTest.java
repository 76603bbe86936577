package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.cli.safetensors.SafetensorsExport;
import dev.cairn.cli.safetensors.SafetensorsFormat;
import dev.cairn.cli.safetensors.SafetensorsImport;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad option values are bad usage (exit 2, as the README says); other failures say what and where. */
class UsageAndMessagesTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    Path disk;

    @BeforeEach
    void oneStep() throws IOException {
        disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 20);
        }
    }

    @Test
    void optionsForEngineSettingsDefaultToTheEnginesDefaults() {
        String gc = cairn("gc", "--help").out().replaceAll("\\s+", " ");
        assertTrue(gc.contains("(default: " + CairnConfig.DEFAULT_KEEP_LAST + ", as TierConfig)"), gc);
        assertTrue(gc.contains("(default: 10m, as CairnConfig)"), gc);
        assertEquals(CairnConfig.DEFAULT_GC_GRACE, new DurationConverter().convert("10m"));
        String importHelp = cairn("import", "--help").out().replaceAll("\\s+", " ");
        assertTrue(importHelp.contains("(default: 4m)"), importHelp);
        assertEquals(CairnConfig.DEFAULT_CHUNK_BYTES, new ByteSizeConverter().convert("4m"));
    }

    @Test
    void optionValuesOutOfRangeExitWithTheUsageStatus() throws IOException {
        Path file = safetensors(Map.of(), 64);
        List<List<String>> commands = List.of(
                List.of("gc", "--keep-last", "0", "--store", disk.toString()),
                List.of("restore", "20", "--threads", "1000", "--store", disk.toString(), "--to", tmp.resolve("t").toString()),
                List.of("export", "20", "--max-shard-size", "0", "--store", disk.toString(), "--out", tmp.resolve("e").toString()),
                List.of("import", file.toString(), "--chunk-size", "1", "--store", tmp.resolve("i").toString(), "--run", "r",
                        "--step", "1"),
                List.of("import", file.toString(), "--store", tmp.resolve("i").toString()));
        for (List<String> args : commands) {
            Run r = cairn(args.toArray(String[]::new));
            assertEquals(CairnCli.USAGE, r.status(), args + ": " + r.err());
            assertEquals(1, r.errLines().size(), r.err());
            assertTrue(r.err().contains("--help"), r.err());
        }
        assertTrue(cairn(commands.get(3).toArray(String[]::new)).err().contains("--chunk-size 1"));
        assertFalse(Files.exists(tmp.resolve("i").resolve("r")), "nothing imported");
    }

    @Test
    void aCairnStepThatIsNoNumberIsNamedWithItsValue() throws IOException {
        Path file = safetensors(Map.of(SafetensorsExport.RUN_KEY, "r", SafetensorsExport.STEP_KEY, "abc"), 64);
        Run r = cairn("import", file.toString(), "--store", tmp.resolve("i").toString());
        assertEquals(CairnCli.FAILED, r.status(), r.err());
        assertTrue(r.err().contains("cairn.step") && r.err().contains("'abc'") && r.err().contains("INVALID_INPUT"), r.err());
        assertFalse(r.err().contains("For input string"), r.err());
    }

    @Test
    void aBadTensorNameInAManifestIsCalledATensorName() throws IOException {
        Path manifest = disk.resolve(LAYOUT.manifestKey(20));
        try (RootAllocator allocator = new RootAllocator()) {
            Manifest m = ManifestFormat.read(ByteBuffer.wrap(Files.readAllBytes(manifest)), "test", allocator);
            List<EntryRecord> entries = new ArrayList<>();
            for (EntryRecord e : m.entries()) {
                entries.add(!e.tensor() ? e : new EntryRecord("a/../" + e.name(), true, e.dtype(), e.shape(), e.globalShape(),
                        e.shardOffsets(), e.perRank(), e.byteSize(), e.rank(), e.chunks()));
            }
            Files.write(manifest, ManifestFormat.write(m.withEntries(entries), "manifest", allocator));
        }
        Run r = cairn("inspect", "20", "--store", disk.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.err());
        assertTrue(r.err().contains("tensor name 'a/../"), r.err());
        assertFalse(r.err().contains("blob name"), r.err());
    }

    @Test
    void aSourceTruncatedDuringTheImportIsNamedNotAnInternalError() throws IOException {
        Path file = safetensors(Map.of(), 8 << 20);
        Path target = tmp.resolve("target");
        CairnConfig config = CairnConfig.builder("r").tier(TierConfig.of("target", new FileSystemObjectStore(target)))
                .deadline(Duration.ofMinutes(1)).build();
        try (SafetensorsImport files = SafetensorsImport.open(file)) {
            var state = files.read();
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(100);
            }
            Throwable failure = assertThrows(Throwable.class, () -> {
                try (Checkpointer cp = Checkpointer.open(config)) {
                    cp.save(1, state, SaveMode.ZERO_COPY).done().join();
                }
            });
            CheckpointException named = files.explain(failure);
            assertNotNull(named, "explained: " + failure);
            assertEquals(CheckpointException.Reason.INVALID_INPUT, named.reason());
            assertTrue(named.getMessage().contains(file.toString()) && named.getMessage().contains("truncated")
                    && named.getMessage().contains("100 bytes now"), named.getMessage());
        }
        assertFalse(Files.exists(target.resolve("r/steps/1/MANIFEST")), "nothing committed");
    }

    /** One F32 tensor "w" of {@code bytes} random bytes, with {@code metadata}. */
    private Path safetensors(Map<String, String> metadata, int bytes) throws IOException {
        Path file = tmp.resolve("f" + System.nanoTime() + ".safetensors");
        ByteBuffer header = SafetensorsFormat.encodeHeader(List.of(
                new SafetensorsFormat.TensorInfo("w", DType.F32, new long[] {bytes / 4}, 0, bytes)), metadata);
        byte[] data = new byte[bytes];
        new java.util.Random(3).nextBytes(data);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            out.write(header);
            out.write(ByteBuffer.wrap(data));
        }
        return file;
    }
}
