package dev.cairn.tiers.internal.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ManifestEdit;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Manifests whose sizes and values are hostile: each is refused as CORRUPT naming the field, before a reader sizes
 * anything by it. Edited with the testkit's {@link ManifestEdit}, which writes a rows digest that matches the edit.
 */
class HostileManifestTest {
    private static final int CHUNK = 4096;
    private final BufferAllocator allocator = new RootAllocator();

    @AfterEach
    void close() {
        allocator.close();
    }

    @Test
    void aManifestAboveTheLimitIsRefusedBeforeAnyByteOfItIsRead() throws IOException {
        AtomicLong bytesRead = new AtomicLong();
        try (MemoryObjectStore memory = new MemoryObjectStore(1 << 20);
             ForwardingObjectStore huge = new ForwardingObjectStore(memory) {
                 @Override
                 public ObjectInfo stat(String key) {
                     return new ObjectInfo(key, 2L << 30, Instant.now()); // a 2 GiB MANIFEST
                 }

                 @Override
                 public int read(String key, long offset, ByteBuffer dst) {
                     int n = dst.remaining();
                     bytesRead.addAndGet(n);
                     dst.position(dst.limit());
                     return n;
                 }
             }) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> ManifestFormat.load(huge, "run/steps/1/MANIFEST", "disk:run/steps/1/MANIFEST", allocator));
            assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
            assertTrue(e.getMessage().contains("disk:run/steps/1/MANIFEST") && e.getMessage().contains("2147483648 bytes")
                    && e.getMessage().contains("limit"), e.getMessage());
            assertEquals(0, bytesRead.get());
        }
    }

    @Test
    void aChunkLongerThanTheManifestsChunkSizeIsRefusedNamingRawLength() throws IOException {
        CheckpointException e = refused(m -> m.firstEntry(r -> r.put("raw_length", 1_600_000_000L)));
        assertTrue(e.getMessage().contains("raw_length 1600000000") && e.getMessage().contains("cairn.chunk_bytes"),
                e.getMessage());
    }

    @Test
    void aStoredLengthOfTwoToTheSixtySecondIsRefusedNamingStoredLength() throws IOException {
        CheckpointException e = refused(m -> m.firstEntry(r -> r.put("stored_length", 1L << 62)));
        assertTrue(e.getMessage().contains("stored_length 4611686018427387904"), e.getMessage());
    }

    @Test
    void chunkLengthsWhoseSumWrapsSixtyFourBitsAreRefusedNamingRawLength() throws IOException {
        long[] thirds = {6148914691236517227L, 6148914691236517227L, 6148914691236517226L}; // 2^64 + 64
        CheckpointException e = refused(m -> {
            Map<String, Object> first = m.rows.get(0);
            m.rows.removeIf(r -> r.get("entry").equals(first.get("entry")));
            long offset = 0;
            for (int c = 0; c < 3; c++) {
                Map<String, Object> r = new java.util.LinkedHashMap<>(first);
                r.putAll(Map.of("kind", "blob", "dtype", "", "shape", "", "global_shape", "", "shard_offset", "",
                        "entry_bytes", 64L, "chunk", c, "offset", offset, "raw_length", thirds[c]));
                offset += thirds[c];
                m.rows.add(c, r);
            }
        });
        assertTrue(e.getMessage().contains("raw_length 6148914691236517227"), e.getMessage());
        assertFalse(e.getMessage().contains("integer overflow"), e.getMessage());
    }

    @Test
    void aWorldSizeThatWrapsToOneIsRefusedNamingIt() throws IOException {
        CheckpointException e = refused(m -> m.meta.put("cairn.world_size", "4294967297"));
        assertTrue(e.getMessage().contains("cairn.world_size") && e.getMessage().contains("4294967297"), e.getMessage());
    }

    @Test
    void aChunkSizeAboveTheConfiguredMaximumIsRefusedNamingIt() throws IOException {
        CheckpointException e = refused(m -> m.meta.put("cairn.chunk_bytes", Long.toString(CairnConfig.MAX_CHUNK_BYTES + 1L)));
        assertTrue(e.getMessage().contains("cairn.chunk_bytes " + (CairnConfig.MAX_CHUNK_BYTES + 1L)), e.getMessage());
    }

    /**
     * A rank's entry listed twice, in rows apart: read as it was, a restore planned from the first listing and read
     * from the second (the one a lookup by name keeps), and copied the other slice's bytes into the target.
     */
    @Test
    void anEntryListedTwiceForOneRankIsRefusedNamingIt() throws IOException {
        CheckpointException e = refused(m -> {
            List<Map<String, Object>> w = List.copyOf(m.rows);
            Map<String, Object> x = new java.util.LinkedHashMap<>(w.get(0));
            x.putAll(Map.of("entry", "x", "kind", "blob", "dtype", "", "shape", "", "global_shape", "", "shard_offset", "",
                    "entry_bytes", 64L, "chunk", 0, "offset", 0L, "raw_length", 64L));
            m.rows.add(x);
            for (Map<String, Object> r : w) {
                m.rows.add(new java.util.LinkedHashMap<>(r));
            }
        });
        assertTrue(e.getMessage().contains("entry 'w' of rank 0 twice"), e.getMessage());
    }

    @Test
    void aRankOutsideTheWorldIsRefusedNamingIt() throws IOException {
        CheckpointException e = refused(m -> m.firstEntry(r -> r.put("rank", 7)));
        assertTrue(e.getMessage().contains("rank 7"), e.getMessage());
    }

    /**
     * The million-row manifest (126 MB) overflowed a 1 GiB heap while its rows digest was computed; here a
     * quarter of it in a JVM of a quarter of that heap: 250,000 rows written and read back in 256 MiB. The canonical
     * text the digest covers is about 60 MB and was built whole four times over (builder, its growth, string, UTF-8).
     */
    @Test
    void aQuarterMillionRowManifestIsWrittenAndReadInA256MibHeap() throws Exception {
        String javaBin = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(javaBin, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx256m", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), BigManifestChild.class.getName(), "250000")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        // Generous: the limit only turns a hang into a failure; the child takes seconds.
        assertTrue(p.waitFor(5, java.util.concurrent.TimeUnit.MINUTES), "the child did not finish: " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("read 250000 rows"), out);
    }

    private CheckpointException refused(Consumer<ManifestEdit> edit) throws IOException {
        EntryRecord w = new EntryRecord("w", true, DType.F32, new long[] {2, CHUNK / 4}, 2L * CHUNK, 0, List.of(
                new ChunkRef(0, CHUNK, "0".repeat(32), "zstd", 100), new ChunkRef(CHUNK, CHUNK, "1".repeat(32), "zstd", 100)));
        Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "run", 1, 1, 0, Instant.EPOCH, CHUNK, List.of(w));
        byte[] good = ManifestFormat.write(m, "manifest", allocator);
        ManifestFormat.read(ByteBuffer.wrap(good), "good", allocator); // the edit alone is what makes it bad
        ManifestEdit hostile = ManifestEdit.parse(good);
        edit.accept(hostile);
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ManifestFormat.read(ByteBuffer.wrap(hostile.encode()), "hostile", allocator));
        assertEquals(CheckpointException.Reason.CORRUPT, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("hostile"), e.getMessage());
        return e;
    }
}
