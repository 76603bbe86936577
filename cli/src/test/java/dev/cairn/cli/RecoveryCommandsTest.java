package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.cli.safetensors.SafetensorsExport;
import dev.cairn.cli.store.StoreSession;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every recovery command against checkpoints the library wrote to disk. */
class RecoveryCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    Path disk;

    @BeforeEach
    void twoCommittedSteps() throws IOException {
        disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 10, 20);
        }
    }

    @Test
    void lsListsStepsCommittedAndPartialWithTheManifestsSizes() throws IOException {
        Files.createDirectories(disk.resolve(LAYOUT.stepPrefix(30)));
        Files.writeString(disk.resolve(LAYOUT.indexKey(30, 0)), "half a save");
        Run r = cairn("ls", "--store", disk.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode run = JSON.readTree(r.out()).get("runs").get(0);
        assertEquals(Checkpoints.RUN, run.get("run").asText());
        JsonNode steps = run.get("steps");
        assertEquals(3, steps.size(), r.out());
        for (int i = 0; i < 2; i++) {
            JsonNode s = steps.get(i);
            Manifest m = manifest(disk, s.get("step").asLong());
            assertEquals("committed", s.get("state").asText());
            assertEquals(m.rawBytes(), s.get("rawBytes").asLong());
            assertEquals(m.storedBytes(), s.get("storedBytes").asLong());
            assertEquals(m.entries().size(), s.get("entries").asInt());
            assertEquals(disk.toString(), s.get("stores").get(0).get("store").asText());
        }
        assertEquals(30, steps.get(2).get("step").asLong());
        assertEquals("partial", steps.get(2).get("state").asText());

        Run text = cairn("ls", "--store", disk.toString());
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().contains("committed") && text.out().contains("partial") && text.out().contains("STORES"), text.out());
    }

    @Test
    void inspectJsonMatchesTheManifestEntryByEntryAndChunkByChunk() throws IOException {
        Run r = cairn("inspect", "20", "--store", disk.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode doc = JSON.readTree(r.out());
        Manifest m = manifest(disk, 20);
        assertEquals(m.formatVersion(), doc.get("formatVersion").asInt());
        assertEquals(m.worldSize(), doc.get("worldSize").asInt());
        assertEquals(m.chunkBytes(), doc.get("chunkBytes").asInt());
        List<JsonNode> entries = new ArrayList<>();
        doc.get("tensors").forEach(entries::add);
        doc.get("blobs").forEach(entries::add);
        assertEquals(m.entries().size(), entries.size());
        for (EntryRecord e : m.entries()) {
            JsonNode j = entries.stream().filter(x -> x.get("name").asText().equals(e.name())).findFirst().orElseThrow();
            assertEquals(e.tensor() ? "tensor" : "blob", j.get("kind").asText());
            assertEquals(e.byteSize(), j.get("rawBytes").asLong());
            if (e.tensor()) {
                assertEquals(e.dtype().name(), j.get("dtype").asText());
                assertEquals(e.shape().length, j.get("shape").size());
                for (int d = 0; d < e.shape().length; d++) {
                    assertEquals(e.shape()[d], j.get("shape").get(d).asLong());
                }
            }
            assertEquals(e.chunks().size(), j.get("chunks").size());
            for (int c = 0; c < e.chunks().size(); c++) {
                ChunkRef ref = e.chunks().get(c);
                JsonNode jc = j.get("chunks").get(c);
                assertEquals(ref.hash(), jc.get("hash").asText());
                assertEquals(ref.offset(), jc.get("offset").asLong());
                assertEquals(ref.storedLength(), jc.get("storedLength").asLong());
                assertEquals(ref.codec(), jc.get("codec").asText());
            }
        }
        Run text = cairn("inspect", "20", "--store", disk.toString());
        assertTrue(text.out().contains("layer0.weight") && text.out().contains("BF16") && text.out().contains("[64,64]"), text.out());
    }

    @Test
    void verifyPassesAnIntactStepAndNamesACorruptAndAMissingChunk() throws IOException {
        Run ok = cairn("verify", "--all", "--store", disk.toString());
        assertEquals(0, ok.status(), ok.out() + ok.err());
        assertTrue(ok.out().strip().endsWith("intact"), ok.out());

        Manifest m = manifest(disk, 20);
        String corrupt = m.entries().get(0).chunks().get(1).hash();
        String missing = m.entries().get(0).chunks().get(2).hash();
        flipLastByte(disk.resolve(LAYOUT.chunkKey(corrupt)));
        Files.delete(disk.resolve(LAYOUT.chunkKey(missing)));

        Run bad = cairn("verify", "20", "--store", disk.toString());
        assertEquals(CairnCli.DAMAGED, bad.status(), bad.out() + bad.err());
        assertTrue(bad.out().contains("chunk " + corrupt + " of 'layer0.weight'") && bad.out().contains("corrupt"), bad.out());
        assertTrue(bad.out().contains("chunk " + missing + " of 'layer0.weight'") && bad.out().contains("missing"), bad.out());
        assertTrue(bad.out().contains("no good copy in any given store"), bad.out());

        Run json = cairn("verify", "20", "--store", disk.toString(), "--json");
        assertEquals(CairnCli.DAMAGED, json.status());
        JsonNode badChunks = JSON.readTree(json.out()).get("checks").get(0).get("badChunks");
        assertEquals(2, badChunks.size(), json.out());
    }

    @Test
    void verifyNamesTheStoreThatStillHoldsAGoodCopy() throws IOException {
        Path copy = tmp.resolve("copy");
        assertEquals(0, cairn("restore", "20", "--store", disk.toString(), "--to", copy.toString()).status());
        String hash = manifest(disk, 20).entries().get(0).chunks().get(0).hash();
        Files.delete(disk.resolve(LAYOUT.chunkKey(hash)));

        Run r = cairn("verify", "--store", disk.toString(), "--store", copy.toString());
        assertEquals(CairnCli.DAMAGED, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("chunk " + hash) && r.out().contains("missing; good copy in " + copy), r.out());
        assertTrue(r.out().contains("step 20 in " + copy + ": ok"), r.out());
    }

    @Test
    void verifyFindsACorruptManifest() throws IOException {
        Path manifest = disk.resolve(LAYOUT.manifestKey(20));
        byte[] b = Files.readAllBytes(manifest);
        b[b.length / 2] ^= 0x5a;
        Files.write(manifest, b);
        Run r = cairn("verify", "20", "--store", disk.toString());
        assertEquals(CairnCli.DAMAGED, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("manifest: CORRUPT"), r.out());
    }

    @Test
    void restoreCopiesAStepThatThenRestoresBitExactAndResumesWhereACopyStopped() throws IOException {
        Path copy = tmp.resolve("copy");
        Run r = cairn("restore", "20", "--store", disk.toString(), "--to", copy.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode report = JSON.readTree(r.out());
        long chunks = report.get("chunks").asLong();
        assertEquals(chunks, report.get("chunksCopied").asLong());
        try (FileSystemObjectStore target = new FileSystemObjectStore(copy)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(target, Checkpoints.RUN, 20)));
        }

        // An interrupted copy: chunks partly there, no MANIFEST. Running again sends only what is missing.
        Files.delete(copy.resolve(LAYOUT.manifestKey(20)));
        Manifest m = manifest(disk, 20);
        Files.delete(copy.resolve(LAYOUT.chunkKey(m.entries().get(0).chunks().get(0).hash())));
        Files.delete(copy.resolve(LAYOUT.chunkKey(m.entries().get(1).chunks().get(0).hash())));
        Run again = cairn("restore", "20", "--store", disk.toString(), "--to", copy.toString(), "--json");
        assertEquals(0, again.status(), again.err());
        JsonNode second = JSON.readTree(again.out());
        assertEquals(2, second.get("chunksCopied").asLong());
        assertEquals(chunks - 2, second.get("chunksSkipped").asLong());
        try (FileSystemObjectStore target = new FileSystemObjectStore(copy)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(target, Checkpoints.RUN, 20)));
        }

        Run third = cairn("restore", "20", "--store", disk.toString(), "--to", copy.toString());
        assertEquals(0, third.status(), third.err());
        assertTrue(third.out().contains("already committed"), third.out());
    }

    @Test
    void restoreTakesABadChunkFromTheNextStoreAndRefusesWhenNoneIsGood() throws IOException {
        Path second = tmp.resolve("second");
        assertEquals(0, cairn("restore", "20", "--store", disk.toString(), "--to", second.toString()).status());
        String hash = manifest(disk, 20).entries().get(0).chunks().get(3).hash();
        flipLastByte(disk.resolve(LAYOUT.chunkKey(hash)));

        Path target = tmp.resolve("target");
        Run repaired = cairn("restore", "20", "--store", disk.toString(), "--store", second.toString(), "--to", target.toString());
        assertEquals(0, repaired.status(), repaired.err());
        try (FileSystemObjectStore t = new FileSystemObjectStore(target)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(t, Checkpoints.RUN, 20)));
        }

        Path nowhere = tmp.resolve("nowhere");
        Run refused = cairn("restore", "20", "--store", disk.toString(), "--to", nowhere.toString());
        assertEquals(CairnCli.FAILED, refused.status());
        assertEquals(1, refused.errLines().size(), refused.err());
        assertTrue(refused.err().contains(hash) && refused.err().contains("no good copy"), refused.err());
        assertFalse(Files.exists(nowhere.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
    }

    @Test
    void exportWritesSafetensorsThatAnIndependentReaderReadsBackByteForByte() throws IOException {
        Path out = tmp.resolve("export");
        Run r = cairn("export", "20", "--store", disk.toString(), "--format", "safetensors", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        SafetensorsReader.File file = SafetensorsReader.read(out.resolve("model.safetensors"));
        Map<String, byte[]> expected = Checkpoints.state(20);
        assertEquals(List.of("layer0.weight", "layer0.bias", "optimizer/step"), new ArrayList<>(file.tensors().keySet()));
        assertEquals("F32", file.dtype("layer0.weight"));
        assertEquals("[64,64]", file.shape("layer0.weight"));
        assertEquals("BF16", file.dtype("layer0.bias"));
        assertEquals("I64", file.dtype("optimizer/step"));
        for (String name : file.tensors().keySet()) {
            assertArrayEquals(expected.get(name), file.tensors().get(name), name);
        }
        assertArrayEquals(expected.get("rng"), java.util.Base64.getDecoder().decode(file.metadata().get("cairn.blob.rng")));
        assertEquals("20", file.metadata().get("cairn.step"));
    }

    @Test
    void exportIntoASharedDirectoryNeverFollowsALinkPlantedAtItsTemporaryFiles() throws IOException {
        Path victim = tmp.resolve("victim.txt");
        Files.writeString(victim, "not the exporter's to write");
        for (String maxShard : List.of("5g", "8k")) {
            Path out = tmp.resolve("shared-" + maxShard);
            Files.createDirectories(out);
            for (String name : List.of("model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                    "model-00002-of-00002.safetensors")) {
                Files.createSymbolicLink(out.resolve("." + name + ".partial"), victim);
            }
            Run r = cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", maxShard);
            assertEquals(0, r.status(), r.err());
            assertArrayEquals("not the exporter's to write".getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    Files.readAllBytes(victim), "export with --max-shard-size " + maxShard + " wrote through a planted link");
            Path first = out.resolve(maxShard.equals("5g") ? "model.safetensors" : "model-00001-of-00002.safetensors");
            assertTrue(Files.isRegularFile(first, java.nio.file.LinkOption.NOFOLLOW_LINKS), first.toString());
            assertArrayEquals(Checkpoints.state(20).get("layer0.weight"),
                    SafetensorsReader.read(first).tensors().get("layer0.weight"));
        }
    }

    @Test
    void exportShardsAboveTheLimitWithAnIndexThatMapsEveryTensor() throws IOException {
        Path out = tmp.resolve("shards");
        Run r = cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k");
        assertEquals(0, r.status(), r.err());
        JsonNode index = JSON.readTree(out.resolve("model.safetensors.index.json").toFile());
        JsonNode map = index.get("weight_map");
        assertEquals("model-00001-of-00002.safetensors", map.get("layer0.weight").asText());
        assertEquals("model-00002-of-00002.safetensors", map.get("layer0.bias").asText());
        Map<String, byte[]> expected = Checkpoints.state(20);
        long total = 0;
        for (var it = map.fields(); it.hasNext(); ) {
            var e = it.next();
            byte[] got = SafetensorsReader.read(out.resolve(e.getValue().asText())).tensors().get(e.getKey());
            assertArrayEquals(expected.get(e.getKey()), got, e.getKey());
            total += got.length;
        }
        assertEquals(total, index.get("metadata").get("total_size").asLong());

        Run again = cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k");
        assertEquals(CairnCli.FAILED, again.status());
        assertTrue(again.err().contains("already exists"), again.err());
    }

    @Test
    void aShardedExportThatFailsLeavesNoFileAndARerunWithAGoodCopyWritesThemAll() throws IOException {
        Path good = tmp.resolve("good");
        assertEquals(0, cairn("restore", "20", "--store", disk.toString(), "--to", good.toString()).status());
        flipLastByte(disk.resolve(LAYOUT.chunkKey(chunkOf(20, "layer0.bias")))); // in model-00002-of-00002
        Path out = tmp.resolve("shards");
        Run failed = cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k");
        assertEquals(CairnCli.FAILED, failed.status(), failed.out());
        assertEquals(List.of(), list(out), "a failed export left files");

        Run again = cairn("export", "20", "--store", disk.toString(), "--store", good.toString(), "--out", out.toString(),
                "--max-shard-size", "8k");
        assertEquals(0, again.status(), again.err());
        assertEquals(List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                "model.safetensors.index.json"), list(out));
    }

    @Test
    void importRefusesASetOfShardsWithOneMissingNamingIt() throws IOException {
        Path out = tmp.resolve("shards");
        assertEquals(0, cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k").status());
        Files.delete(out.resolve("model-00002-of-00002.safetensors"));
        Files.delete(out.resolve("model.safetensors.index.json"));
        Path store = tmp.resolve("imported");
        Run r = cairn("import", out.toString(), "--store", store.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.out());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("INVALID_INPUT") && r.err().contains("missing model-00002-of-00002.safetensors"), r.err());
        assertFalse(Files.exists(store.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
    }

    @Test
    void anExportBesideAnotherAndAnImportOfADirectoryHoldingTwoAreRefused() throws IOException {
        Path out = tmp.resolve("shards");
        assertEquals(0, cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k").status());
        Run beside = cairn("export", "10", "--store", disk.toString(), "--out", out.toString());
        assertEquals(CairnCli.FAILED, beside.status(), beside.out());
        assertTrue(beside.err().contains("another export"), beside.err());
        assertEquals(List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                "model.safetensors.index.json"), list(out), "nothing written beside the first export");

        // The same, made by hand (or by an older version): the import does not let the index choose one silently.
        Path single = tmp.resolve("single");
        assertEquals(0, cairn("export", "10", "--store", disk.toString(), "--out", single.toString()).status());
        Files.copy(single.resolve("model.safetensors"), out.resolve("model.safetensors"));
        Path store = tmp.resolve("imported");
        Run r = cairn("import", out.toString(), "--store", store.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.out());
        assertTrue(r.err().contains("does not name model.safetensors"), r.err());
        assertFalse(Files.exists(store.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
        assertFalse(Files.exists(store.resolve(LAYOUT.manifestKey(10))), "nothing may be committed");
        Run byIndex = cairn("import", out.resolve("model.safetensors.index.json").toString(), "--store", store.toString());
        assertEquals(0, byIndex.status(), "the index named, its export imports: " + byIndex.err());
    }

    @Test
    void importRefusesOneShardOfASetNamedAloneNamingTheOthers() throws IOException {
        Path out = tmp.resolve("shards");
        assertEquals(0, cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k").status());
        Path store = tmp.resolve("imported");
        Run r = cairn("import", out.resolve("model-00001-of-00002.safetensors").toString(), "--store", store.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.out());
        assertTrue(r.err().contains("INVALID_INPUT") && r.err().contains("missing model-00002-of-00002.safetensors"), r.err());
        assertFalse(Files.exists(store.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
        assertEquals(0, cairn("import", out.toString(), "--store", store.toString()).status(), "the directory imports");
    }

    @Test
    void importRefusesAnIndexThatDoesNotMatchItsFilesNamingTheTensors() throws IOException {
        Path out = tmp.resolve("shards");
        assertEquals(0, cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k").status());
        Path index = out.resolve("model.safetensors.index.json");
        ObjectNode original = (ObjectNode) JSON.readTree(index.toFile());
        Map<String, String> cases = Map.of(
                "ghost", "its weight_map lists 'ghost', which no file holds",
                "layer0.bias", "'layer0.bias' in model-00002-of-00002.safetensors (listed in model-00001-of-00002.safetensors)",
                "optimizer/step", "'optimizer/step' in model-00002-of-00002.safetensors (not listed)");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            ObjectNode edited = original.deepCopy();
            ObjectNode map = (ObjectNode) edited.get("weight_map");
            if (c.getKey().equals("optimizer/step")) {
                map.remove(c.getKey());
            } else {
                map.put(c.getKey(), "model-00001-of-00002.safetensors");
            }
            JSON.writeValue(index.toFile(), edited);
            Path store = tmp.resolve("imported");
            Run r = cairn("import", out.toString(), "--store", store.toString());
            assertEquals(CairnCli.FAILED, r.status(), c.getKey() + ": " + r.out());
            assertEquals(1, r.errLines().size(), r.err());
            assertTrue(r.err().contains("INVALID_INPUT") && r.err().contains(c.getValue()), r.err());
            assertFalse(Files.exists(store.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
        }
    }

    @Test
    void exportRefusesATensorNamedMetadataBeforeWritingAnything() throws IOException {
        Path store = tmp.resolve("odd");
        try (FileSystemObjectStore s = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(Checkpoints.config(Checkpoints.RUN, s))) {
            cp.save(1, TrainingState.builder().tensor("__metadata__", DType.F32, new long[] {2},
                    ByteBuffer.allocateDirect(8)).build()).done().join();
        }
        Path out = tmp.resolve("export");
        Run r = cairn("export", "1", "--store", store.toString(), "--out", out.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.out());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("INVALID_INPUT") && r.err().contains("tensor '__metadata__'"), r.err());
        assertFalse(Files.exists(out), "export wrote before refusing");
    }

    /** The blobs go base64-encoded into the header, which safetensors readers take only up to 100,000,000 bytes. */
    @Test
    void exportRefusesBlobsThatWouldTakeItsHeaderOverTheLimitBeforeWritingAnything() throws IOException {
        Path store = tmp.resolve("big");
        try (FileSystemObjectStore s = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(dev.cairn.CairnConfig.builder(Checkpoints.RUN)
                     .tier(dev.cairn.TierConfig.of("disk", s)).build())) {
            cp.save(1, TrainingState.builder().tensor("w", DType.F32, new long[] {2}, ByteBuffer.allocateDirect(8))
                    .blob("big", new byte[76 << 20]).build()).done().join(); // 101.3 MiB as base64
        }
        Path out = tmp.resolve("export");
        Run r = cairn("export", "1", "--store", store.toString(), "--out", out.toString());
        assertEquals(CairnCli.FAILED, r.status(), r.out());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("INVALID_INPUT") && r.err().contains("over the 100000000 bytes")
                && r.err().contains("'cairn.blob.big'"), r.err());
        assertFalse(Files.exists(out), "export wrote before refusing");
    }

    /**
     * A file that appears under an export's name after its check that the names are free (here: as soon as the export
     * reads its first chunk) is left as it is, and the export fails naming it, leaving nothing of its own.
     */
    @Test
    void exportNeverReplacesAFileThatAppearsUnderItsNameWhileItWrites() throws IOException {
        for (String name : List.of("model.safetensors", "model.safetensors.index.json")) {
            long maxShard = name.equals("model.safetensors") ? 5L << 30 : 8 << 10; // one file, or two shards and the index
            Path out = Files.createDirectories(tmp.resolve("out-" + maxShard));
            Path theirs = out.resolve(name);
            AtomicBoolean planted = new AtomicBoolean();
            ObjectStore planting = new ForwardingObjectStore(new FileSystemObjectStore(disk)) {
                @Override
                public int read(String key, long offset, ByteBuffer dst) throws IOException {
                    if (key.startsWith(LAYOUT.chunksPrefix()) && planted.compareAndSet(false, true)) {
                        Files.writeString(theirs, "someone else's");
                    }
                    return delegate.read(key, offset, dst);
                }
            };
            try (StoreSession session = new StoreSession(List.of(StoreSession.source(0, disk.toString(), planting)))) {
                session.selectRun(null);
                StoreSession.Located step = session.locate(20);
                FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class, () -> SafetensorsExport.export(
                        step.manifest(), session.admin(), session.readOrder(step.source()), out,
                        maxShard, System.err));
                assertEquals(theirs.toString(), e.getFile());
            }
            assertTrue(planted.get());
            assertEquals("someone else's", Files.readString(theirs), "export replaced a file it did not write");
            assertEquals(List.of(name), list(out), "the export left files of its own");
        }
    }

    @Test
    void importOfAnExportCommitsAStepThatRestoresBitExact() throws IOException {
        Path out = tmp.resolve("export");
        assertEquals(0, cairn("export", "20", "--store", disk.toString(), "--out", out.toString(), "--max-shard-size", "8k").status());
        Path imported = tmp.resolve("imported");
        Run r = cairn("import", out.toString(), "--store", imported.toString(), "--run", "imported-run", "--step", "7");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("step 7 committed"), r.out());
        try (FileSystemObjectStore store = new FileSystemObjectStore(imported)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(store, "imported-run", 7)));
        }
        // The run and step from the files' metadata, into the original store beside its steps.
        Run defaults = cairn("import", out.resolve("model.safetensors.index.json").toString(), "--store", tmp.resolve("other").toString());
        assertEquals(0, defaults.status(), defaults.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(tmp.resolve("other"))) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(store, Checkpoints.RUN, 20)));
        }
    }

    @Test
    void importRefusesAFileWhoseOffsetsDoNotMatchItsShape() throws IOException {
        Path bad = tmp.resolve("bad.safetensors");
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}";
        ByteBuffer b = ByteBuffer.allocate(8 + header.length() + 8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length()).put(header.getBytes()).put(new byte[8]);
        Files.write(bad, b.array());
        Run r = cairn("import", bad.toString(), "--store", tmp.resolve("x").toString(), "--run", "x", "--step", "1");
        assertEquals(CairnCli.FAILED, r.status());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("data_offsets"), r.err());
    }

    @Test
    void gcDryRunShowsWhatRetentionWouldDeleteAndDeletesNothingThenGcDeletesIt() throws IOException {
        Run dry = cairn("gc", "--store", disk.toString(), "--keep-last", "1", "--dry-run", "--json");
        assertEquals(0, dry.status(), dry.err());
        JsonNode report = JSON.readTree(dry.out()).get(0).get("report");
        assertEquals(10, report.get("stepsRetired").get(0).asLong());
        assertTrue(report.get("dryRun").asBoolean());
        assertTrue(Files.exists(disk.resolve(LAYOUT.manifestKey(10))));

        Run real = cairn("gc", "--store", disk.toString(), "--keep-last", "1");
        assertEquals(0, real.status(), real.err());
        assertTrue(real.out().contains("deleted retired steps [10]"), real.out());
        assertFalse(Files.exists(disk.resolve(LAYOUT.manifestKey(10))));
        // Step 10's own first chunk of layer0.weight differs from step 20's: it went with it.
        assertEquals(0, cairn("verify", "20", "--store", disk.toString()).status());
    }

    @Test
    void diffCountsTheChangedChunksOfEachEntry() throws IOException {
        Run r = cairn("diff", "10", "20", "--store", disk.toString(), "--json");
        assertEquals(0, r.status(), r.err());
        JsonNode d = JSON.readTree(r.out());
        assertEquals(1, d.get("changed").asInt());
        assertEquals(3, d.get("same").asInt());
        JsonNode weight = d.get("entries").get(0);
        assertEquals("layer0.weight", weight.get("name").asText());
        assertEquals("changed", weight.get("change").asText());
        assertEquals(1, weight.get("chunksChanged").asInt());
        assertEquals(4, weight.get("chunksB").asInt());
        assertEquals(Checkpoints.CHUNK, weight.get("bytesChanged").asLong());

        Run text = cairn("diff", "10", "20", "--store", disk.toString());
        assertTrue(text.out().contains("layer0.weight") && text.out().contains("1/4") && !text.out().contains("layer0.bias"), text.out());
    }

    /** Before, "--all" of a run with no committed step checked nothing, printed "intact" and exited 0. */
    @Test
    void verifyAllOfARunWithNoCommittedStepFailsNamingIt() {
        Run r = cairn("verify", "--all", "--store", disk.toString(), "--run", "no-such-run");
        assertEquals(CairnCli.FAILED, r.status(), r.out() + r.err());
        assertTrue(r.err().contains("run 'no-such-run' has no committed step"), r.err());
        assertFalse(r.out().contains("intact"), r.out());
    }

    @Test
    void aStoreWithSeveralRunsNeedsRunAndTheErrorListsThem() throws IOException {
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, "run-b", 1);
        }
        Run r = cairn("inspect", "20", "--store", disk.toString());
        assertEquals(CairnCli.FAILED, r.status());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("--run") && r.err().contains("run-a, run-b"), r.err());
        assertEquals(0, cairn("inspect", "20", "--store", disk.toString(), "--run", "run-a").status());
    }

    @Test
    void errorsAreOneLineAndVerboseAddsTheCause() {
        Run missingStore = cairn("ls", "--store", tmp.resolve("no-such").toString());
        assertEquals(CairnCli.FAILED, missingStore.status());
        assertEquals(1, missingStore.errLines().size(), missingStore.err());
        assertTrue(missingStore.err().startsWith("cairn ls: ") && missingStore.err().contains("no-such"), missingStore.err());
        assertFalse(Files.exists(tmp.resolve("no-such")), "a read must not create the store");

        Run missingStep = cairn("inspect", "99", "--store", disk.toString());
        assertEquals(CairnCli.FAILED, missingStep.status());
        assertTrue(missingStep.err().contains("step 99") && missingStep.err().contains("[10, 20]"), missingStep.err());

        Run verbose = cairn("inspect", "99", "--store", disk.toString(), "--verbose");
        assertTrue(verbose.err().contains("\tat "), verbose.err());

        Run scheme = cairn("ls", "--store", "ftp://host/x");
        assertEquals(CairnCli.FAILED, scheme.status());
        assertTrue(scheme.err().contains("unknown store scheme 'ftp'"), scheme.err());
    }

    @Test
    void everyRecoveryCommandHasHelpWithAnExample() {
        for (String command : List.of("ls", "inspect", "verify", "restore", "export", "import", "gc", "diff")) {
            Run r = cairn(command, "--help");
            assertEquals(0, r.status(), command);
            assertTrue(r.out().contains("Usage: cairn " + command), r.out());
            assertTrue(r.out().contains("Examples:") && r.out().contains("java -jar cli/target/cairn.jar " + command), r.out());
        }
    }

    /** The hash of the first chunk of {@code entry} in {@code step}. */
    private String chunkOf(long step, String entry) throws IOException {
        return manifest(disk, step).entries().stream().filter(e -> e.name().equals(entry)).findFirst().orElseThrow()
                .chunks().get(0).hash();
    }

    /** The names in {@code dir}, hidden ones included, sorted. */
    private static List<String> list(Path dir) throws IOException {
        try (var names = Files.list(dir)) {
            return names.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static Manifest manifest(Path store, long step) throws IOException {
        byte[] bytes = Files.readAllBytes(store.resolve(LAYOUT.manifestKey(step)));
        try (RootAllocator allocator = new RootAllocator()) {
            return ManifestFormat.read(ByteBuffer.wrap(bytes), "test", allocator);
        }
    }

    static void flipLastByte(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[b.length - 1] ^= 0x01;
        Files.write(file, b);
    }
}
