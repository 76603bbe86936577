package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.ObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.testkit.FaultyHttpProxy;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recovery commands on {@code s3://} stores: checkpoints written by the library into an embedded S3 server
 * (S3Proxy in this JVM), the endpoint given with {@code --s3-endpoint}, the credentials found by the AWS SDK's
 * default chain in the {@code aws.accessKeyId} / {@code aws.secretAccessKey} system properties. One server for the
 * class; each test writes under a prefix of its own.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3CommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);
    private static final List<String> PROPERTIES = List.of("aws.accessKeyId", "aws.secretAccessKey", "aws.region");
    private static final AtomicInteger PREFIXES = new AtomicInteger();

    private final Map<String, String> saved = new HashMap<>();
    private EmbeddedS3 s3;

    @TempDir
    Path tmp;

    String prefix;
    String uri;

    @BeforeAll
    void startServerAndSetCredentials() throws IOException {
        s3 = EmbeddedS3.start();
        for (String p : PROPERTIES) {
            saved.put(p, System.getProperty(p));
        }
        System.setProperty("aws.accessKeyId", s3.accessKey());
        System.setProperty("aws.secretAccessKey", s3.secretKey());
        // Else the SDK's region chain may ask the instance metadata service, which takes seconds to fail here.
        System.setProperty("aws.region", EmbeddedS3.REGION);
    }

    @AfterAll
    void stopServerAndRestoreProperties() throws IOException {
        for (String p : PROPERTIES) {
            if (saved.get(p) == null) {
                System.clearProperty(p);
            } else {
                System.setProperty(p, saved.get(p));
            }
        }
        s3.close();
    }

    @BeforeEach
    void twoCommittedStepsInS3() throws IOException {
        prefix = "ckpt-" + PREFIXES.incrementAndGet();
        uri = "s3://" + s3.bucket() + "/" + prefix;
        try (S3ObjectStore store = store(prefix)) {
            Checkpoints.save(store, Checkpoints.RUN, 10, 20);
        }
    }

    @Test
    void lsAndInspectJsonMatchTheManifestsInS3() throws IOException {
        Run ls = cli("ls", "--store", uri, "--json");
        assertEquals(0, ls.status(), ls.err());
        JsonNode run = JSON.readTree(ls.out()).get("runs").get(0);
        assertEquals(Checkpoints.RUN, run.get("run").asText());
        JsonNode steps = run.get("steps");
        assertEquals(2, steps.size(), ls.out());
        for (JsonNode s : steps) {
            Manifest m = manifest(prefix, s.get("step").asLong());
            assertEquals("committed", s.get("state").asText());
            assertEquals(m.rawBytes(), s.get("rawBytes").asLong());
            assertEquals(m.storedBytes(), s.get("storedBytes").asLong());
            assertEquals(uri, s.get("stores").get(0).get("store").asText());
        }

        Run inspect = cli("inspect", "20", "--store", uri, "--json");
        assertEquals(0, inspect.status(), inspect.err());
        JsonNode doc = JSON.readTree(inspect.out());
        Manifest m = manifest(prefix, 20);
        List<JsonNode> entries = new ArrayList<>();
        doc.get("tensors").forEach(entries::add);
        doc.get("blobs").forEach(entries::add);
        assertEquals(m.entries().size(), entries.size());
        for (EntryRecord e : m.entries()) {
            JsonNode j = entries.stream().filter(x -> x.get("name").asText().equals(e.name())).findFirst().orElseThrow();
            assertEquals(e.byteSize(), j.get("rawBytes").asLong(), e.name());
            assertEquals(e.chunks().size(), j.get("chunks").size(), e.name());
            for (int c = 0; c < e.chunks().size(); c++) {
                ChunkRef ref = e.chunks().get(c);
                assertEquals(ref.hash(), j.get("chunks").get(c).get("hash").asText());
                assertEquals(ref.storedLength(), j.get("chunks").get(c).get("storedLength").asLong());
            }
        }
    }

    @Test
    void verifyPassesAnIntactStepAndExitsThreeWhenAChunkIsDeletedFromS3() throws IOException {
        Run ok = cli("verify", "--all", "--store", uri);
        assertEquals(0, ok.status(), ok.out() + ok.err());
        assertTrue(ok.out().strip().endsWith("intact"), ok.out());

        String missing = manifest(prefix, 20).entries().get(0).chunks().get(2).hash();
        try (S3ObjectStore store = store(prefix)) {
            store.delete(LAYOUT.chunkKey(missing));
        }
        Run bad = cli("verify", "20", "--store", uri);
        assertEquals(CairnCli.DAMAGED, bad.status(), bad.out() + bad.err());
        assertEquals(3, bad.status());
        assertTrue(bad.out().contains("chunk " + missing + " of 'layer0.weight'") && bad.out().contains("missing"), bad.out());
    }

    @Test
    void restoreCopiesFromS3ToDiskAndFromDiskBackToS3BitExact() throws IOException {
        Path disk = tmp.resolve("disk");
        Run down = cli("restore", "20", "--store", uri, "--to", disk.toString(), "--json");
        assertEquals(0, down.status(), down.err());
        JsonNode report = JSON.readTree(down.out());
        assertEquals(report.get("chunks").asLong(), report.get("chunksCopied").asLong());
        try (FileSystemObjectStore target = new FileSystemObjectStore(disk)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(target, Checkpoints.RUN, 20)));
        }

        String back = "s3://" + s3.bucket() + "/" + prefix + "-copy";
        Run up = cli("restore", "20", "--store", disk.toString(), "--to", back);
        assertEquals(0, up.status(), up.err());
        try (S3ObjectStore target = store(prefix + "-copy")) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(target, Checkpoints.RUN, 20)));
        }
        assertEquals(0, cli("verify", "20", "--store", back).status());

        // The endpoint must be for some s3:// store of the command: with none it is a one-line usage error.
        Run stray = cli("restore", "20", "--store", disk.toString(), "--to", tmp.resolve("other").toString());
        assertEquals(CairnCli.FAILED, stray.status());
        assertEquals(1, stray.errLines().size(), stray.err());
        assertTrue(stray.err().contains("--s3-endpoint applies to s3:// stores only"), stray.err());
    }

    @Test
    void exportFromS3WritesSafetensorsThatReadBackByteForByte() throws IOException {
        Path out = tmp.resolve("export");
        Run r = cli("export", "20", "--store", uri, "--format", "safetensors", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        SafetensorsReader.File file = SafetensorsReader.read(out.resolve("model.safetensors"));
        Map<String, byte[]> expected = Checkpoints.state(20);
        assertEquals(List.of("layer0.weight", "layer0.bias", "optimizer/step"), new ArrayList<>(file.tensors().keySet()));
        for (String name : file.tensors().keySet()) {
            assertArrayEquals(expected.get(name), file.tensors().get(name), name);
        }
        assertFalse(r.out().contains(s3.secretKey()) || r.err().contains(s3.secretKey()), "the secret must never be printed");
    }

    /**
     * A chunk the store fails to read (a 500 on every attempt) is listed as unreadable, and with nothing found damaged
     * verify exits 1 (the check did not finish), not 3: the read says nothing of what the store holds. A chunk whose
     * bytes at rest no longer match what S3 recorded with them is damaged (exit 3).
     */
    @Test
    void verifyExitsOneWhenAChunkCannotBeReadAndThreeWhenItsBytesAreBad() throws IOException {
        String unread = manifest(prefix, 20).entries().get(0).chunks().get(1).hash();
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
            proxy.inject(head -> head.startsWith("GET ") && head.contains(LAYOUT.chunkKey(unread)),
                    FaultyHttpProxy.Fault.INTERNAL_ERROR, Integer.MAX_VALUE);
            NotFullyChecked r = verifyNotFullyChecked(proxy);
            assertTrue(r.text().contains("chunk " + unread) && r.text().contains("unreadable"), r.text());
            assertEquals("unreadable", r.json().get("checks").get(0).get("badChunks").get(0).get("status").asText(),
                    r.json().toString());
        }
        // The same chunk put back with other bytes under its key, its record of them left as it was: every read
        // finds bytes that do not match the object's own length and CRC32C.
        try (S3ObjectStore store = store(prefix)) {
            ByteBuffer stored = store.readAll(LAYOUT.chunkKey(unread));
            ByteBuffer flipped = ByteBuffer.allocate(stored.remaining()).put(stored).flip();
            flipped.put(flipped.limit() / 2, (byte) (flipped.get(flipped.limit() / 2) ^ 0x20));
            s3.replaceBytesKeepingMetadata(prefix + "/" + LAYOUT.chunkKey(unread), flipped);
        }
        Run bad = cli("verify", "20", "--store", uri);
        assertEquals(CairnCli.DAMAGED, bad.status(), bad.out() + bad.err());
        assertTrue(bad.out().contains("chunk " + unread) && bad.out().contains("corrupt"), bad.out());
        Run badJson = cli("verify", "20", "--store", uri, "--json");
        assertEquals("damaged", JSON.readTree(badJson.out()).get("outcome").asText(), badJson.out());
    }

    /**
     * A MANIFEST the store fails to read (a 500 on every attempt) says nothing of what the store holds: verify exits 1
     * ("not fully checked"), as for an unreadable chunk, and names the failure; only a MANIFEST found missing or
     * malformed is damage (exit 3).
     */
    @Test
    void verifyExitsOneWhenAManifestCannotBeRead() throws IOException {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
            proxy.inject(head -> head.startsWith("GET ") && head.contains(LAYOUT.manifestKey(20)),
                    FaultyHttpProxy.Fault.INTERNAL_ERROR, Integer.MAX_VALUE);
            NotFullyChecked r = verifyNotFullyChecked(proxy);
            assertTrue(r.json().get("checks").get(0).get("manifestUnreadable").asBoolean(), r.json().toString());
        }
        try (S3ObjectStore store = store(prefix)) {
            store.put(LAYOUT.manifestKey(20), ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        Run bad = cli("verify", "20", "--store", uri, "--json");
        assertEquals(CairnCli.DAMAGED, bad.status(), bad.out() + bad.err());
        assertEquals("damaged", JSON.readTree(bad.out()).get("outcome").asText(), bad.out());
    }

    /** What {@code verify 20} printed, as text and as JSON, when it exited 1 "not fully checked". */
    private record NotFullyChecked(String text, JsonNode json) {
    }

    /**
     * {@code verify 20} of this test's prefix through {@code proxy}, as text and with {@code --json}: both exit 1, the
     * text saying "NOT FULLY CHECKED ... run verify again" and the JSON's outcome "not fully checked".
     */
    private NotFullyChecked verifyNotFullyChecked(FaultyHttpProxy proxy) throws IOException {
        List<String> args = new ArrayList<>(List.of("verify", "20", "--store", uri, "--s3-endpoint", proxy.endpoint().toString()));
        Run r = cairn(args.toArray(String[]::new));
        assertEquals(CairnCli.FAILED, r.status(), r.out() + r.err());
        assertTrue(r.out().contains("NOT FULLY CHECKED") && r.out().strip().endsWith("run verify again"), r.out());
        args.add("--json");
        Run json = cairn(args.toArray(String[]::new));
        assertEquals(CairnCli.FAILED, json.status(), json.out() + json.err());
        JsonNode doc = JSON.readTree(json.out());
        assertEquals("not fully checked", doc.get("outcome").asText(), json.out());
        return new NotFullyChecked(r.out(), doc);
    }

    /**
     * {@code --config} with a {@code --store} that names one of its S3 tiers reads that store on the endpoint the file
     * gives the tier. Before, the endpoint was taken from the file only when the file named the stores: a
     * {@code gc --config FILE --store s3://...} (the way to collect one tier of a job) went to the AWS SDK's default
     * endpoint, where a bucket of the same name is another store.
     */
    @Test
    void aStoreNamedBesideAConfigurationFileIsReadOnTheFilesEndpointForIt() throws Exception {
        Path config = tmp.resolve("cairn.properties");
        java.nio.file.Files.write(config, List.of("run = " + Checkpoints.RUN, "tiers = disk, s3",
                "tier.disk.store = " + tmp.resolve("disk"), "tier.disk.keep.last = 5",
                "tier.s3.store = " + uri, "tier.s3.s3.endpoint = " + s3.endpoint(), "tier.s3.keep.last = 1"));
        Run ls = cairn("ls", "--config", config.toString(), "--store", uri, "--json");
        assertEquals(0, ls.status(), ls.out() + ls.err());
        assertEquals(2, JSON.readTree(ls.out()).get("runs").get(0).get("steps").size(), ls.out());

        Run gc = cairn("gc", "--config", config.toString(), "--store", uri, "--grace", "0s");
        assertEquals(0, gc.status(), gc.out() + gc.err());
        try (S3ObjectStore store = store(prefix)) {
            assertTrue(store.list(LAYOUT.manifestKey(10)).isEmpty(), "step 10 retired: the tier keeps 1");
            assertFalse(store.list(LAYOUT.manifestKey(20)).isEmpty(), "step 20 kept");
        }
    }

    /** The command with {@code --s3-endpoint} of the embedded server. */
    private Run cli(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--s3-endpoint");
        all.add(s3.endpoint().toString());
        Run r = cairn(all.toArray(String[]::new));
        assertFalse(r.out().contains(s3.secretKey()) || r.err().contains(s3.secretKey()), "the secret must never be printed");
        return r;
    }

    private S3ObjectStore store(String keyPrefix) {
        return new S3ObjectStore(S3StoreConfig.builder(s3.bucket()).prefix(keyPrefix).endpoint(s3.endpoint())
                .region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey()).build());
    }

    private Manifest manifest(String keyPrefix, long step) throws IOException {
        try (ObjectStore store = store(keyPrefix); RootAllocator allocator = new RootAllocator()) {
            String key = LAYOUT.manifestKey(step);
            ByteBuffer bytes = ByteBuffer.allocate(Math.toIntExact(store.stat(key).size()));
            while (bytes.hasRemaining()) {
                if (store.read(key, bytes.position(), bytes) == 0) {
                    throw new IOException("short manifest " + key);
                }
            }
            return ManifestFormat.read(bytes.flip(), "test", allocator);
        }
    }
}
