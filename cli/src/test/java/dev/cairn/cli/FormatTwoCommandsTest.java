package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recovery commands on a store of format-2 steps (MurmurHash3 keys: the tiers module's committed fixture,
 * {@code tiers/src/test/resources/store-v2}) with a format-3 step (XXH3) saved on top of the same state.
 */
class FormatTwoCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String RUN = "v2run";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final Path FIXTURE = Path.of(System.getProperty("basedir", "."), "..", "tiers", "src", "test", "resources",
            "store-v2");

    @TempDir
    Path tmp;

    Path disk;

    private static CairnConfig config(FileSystemObjectStore store) {
        return CairnConfig.builder(RUN).tier(TierConfig.of("disk", store).keepLast(100)).chunkBytes(8 << 10).encoderThreads(1)
                .stagingBytes(16L << 20).deadline(Duration.ofSeconds(30)).build();
    }

    /** The fixture's three format-2 steps, and step 4: step 3's state saved again by this release (format 3). */
    @BeforeEach
    void formatTwoStepsAndAFormatThreeStepOnTop() throws Exception {
        disk = tmp.resolve("disk");
        for (String key : Files.readAllLines(FIXTURE.resolve("FILES"))) {
            if (!key.isBlank()) {
                Files.createDirectories(disk.resolve(key).getParent());
                Files.copy(FIXTURE.resolve(key), disk.resolve(key));
            }
        }
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk); Checkpointer cp = Checkpointer.open(config(store))) {
            cp.save(4, cp.restore(RestoreRequest.step(3)).state()).done().join();
        }
    }

    private Manifest manifest(Path dir, long step) throws IOException {
        try (FileSystemObjectStore store = new FileSystemObjectStore(dir); RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(LAYOUT.manifestKey(step)), "step " + step, alloc);
        }
    }

    private static TrainingState restore(Path dir, long step) {
        try (FileSystemObjectStore store = new FileSystemObjectStore(dir); Checkpointer cp = Checkpointer.open(config(store))) {
            return cp.restore(RestoreRequest.step(step)).state();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void assertSameBytes(TrainingState a, TrainingState b) {
        assertEquals(a.entries().size(), b.entries().size());
        for (int i = 0; i < a.entries().size(); i++) {
            Entry x = a.entries().get(i);
            Entry y = b.entries().get(i);
            assertEquals(x.name(), y.name());
            assertEquals(bytes(x), bytes(y), x.name());
        }
    }

    private static ByteBuffer bytes(Entry e) {
        ByteBuffer out = ByteBuffer.allocate((int) e.byteSize());
        e.buffers().forEach(b -> out.put(b.duplicate()));
        return out.flip();
    }

    @Test
    void inspectNamesEachStepsFormatAndHash() throws IOException {
        JsonNode v2 = JSON.readTree(cairn("inspect", "3", "--store", disk.toString(), "--json").out());
        assertEquals(2, v2.get("formatVersion").asInt());
        assertEquals("murmur3-128", v2.get("contentHash").asText());
        JsonNode v3 = JSON.readTree(cairn("inspect", "4", "--store", disk.toString(), "--json").out());
        assertEquals(ManifestFormat.FORMAT_VERSION, v3.get("formatVersion").asInt()); // a step saved after the upgrade
        assertEquals("xxh3-128", v3.get("contentHash").asText());
        Run text = cairn("inspect", "3", "--store", disk.toString());
        assertTrue(text.out().contains("format version 2 (murmur3-128 content hashes)"), text.out());
    }

    @Test
    void verifyChecksEachStepByItsOwnHashAndStillCatchesAFormatTwoChunkOfOtherBytes() throws Exception {
        Run ok = cairn("verify", "--all", "--store", disk.toString());
        assertEquals(0, ok.status(), ok.out() + ok.err());
        assertTrue(ok.out().strip().endsWith("intact"), ok.out());

        ChunkRef emb = manifest(disk, 3).entries().get(1).chunks().get(0);
        Path file = disk.resolve(LAYOUT.chunkKey(emb.hash()));
        byte[] stored = Files.readAllBytes(file);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ByteBuffer in = ByteBuffer.allocateDirect(stored.length).put(stored).flip();
            ByteBuffer raw = ByteBuffer.allocateDirect((int) emb.rawLength());
            codec.decode(in, 0, stored.length, raw, 0, raw.capacity());
            raw.put(7, (byte) (raw.get(7) ^ 1));
            ByteBuffer out = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(raw.capacity()));
            int n = codec.encode(raw, 0, raw.capacity(), out);
            byte[] wrong = new byte[n];
            out.get(0, wrong);
            Files.write(file, wrong);
        }
        Run bad = cairn("verify", "3", "--store", disk.toString());
        assertNotEquals(0, bad.status(), bad.out());
        assertTrue(bad.out().contains(emb.hash()) && bad.out().contains("murmur3-128"), bad.out());
        assertEquals(0, cairn("verify", "4", "--store", disk.toString()).status(), "step 4 has its own (XXH3) chunks");
    }

    @Test
    void diffOfAFormatTwoAndAFormatThreeStepOfTheSameStateFindsNothingChanged() throws IOException {
        Run r = cairn("diff", "3", "4", "--store", disk.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("0 changed") && r.out().contains("hashed by xxh3-128"), r.out());
        Run changed = cairn("diff", "1", "4", "--store", disk.toString(), "--json");
        JsonNode d = JSON.readTree(changed.out());
        assertEquals(3, d.get("changed").asInt(), changed.out()); // w, emb and rng changed since step 1; "empty" did not
    }

    @Test
    void restoreToAnotherStoreExportAndImportCarryAFormatTwoStepBitExact() throws IOException {
        Path copy = tmp.resolve("copy");
        Run restore = cairn("restore", "3", "--store", disk.toString(), "--to", copy.toString());
        assertEquals(0, restore.status(), restore.out() + restore.err());
        assertEquals(2, manifest(copy, 3).formatVersion(), "copied as it was committed");
        assertEquals(ByteBuffer.wrap(Files.readAllBytes(disk.resolve(LAYOUT.manifestKey(3)))),
                ByteBuffer.wrap(Files.readAllBytes(copy.resolve(LAYOUT.manifestKey(3)))),
                "every chunk sent as stored there, differences with their chains: the MANIFEST byte for byte");
        assertSameBytes(restore(disk, 3), restore(copy, 3));

        Path exported = tmp.resolve("st");
        Run export = cairn("export", "3", "--store", disk.toString(), "--format", "safetensors", "--out", exported.toString());
        assertEquals(0, export.status(), export.out() + export.err());
        Path imported = tmp.resolve("imported");
        Run imp = cairn("import", exported.toString(), "--store", imported.toString(), "--run", RUN, "--step", "9");
        assertEquals(0, imp.status(), imp.out() + imp.err());
        assertEquals(ManifestFormat.FORMAT_VERSION, manifest(imported, 9).formatVersion());
        TrainingState back = restore(imported, 9);
        TrainingState original = restore(disk, 3);
        for (Entry e : original.entries()) {
            Entry same = back.entries().stream().filter(x -> x.name().equals(e.name())).findFirst().orElseThrow();
            assertEquals(bytes(e), bytes(same), e.name());
        }
    }
}
