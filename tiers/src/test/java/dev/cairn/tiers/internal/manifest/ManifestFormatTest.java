package dev.cairn.tiers.internal.manifest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.DType;
import dev.cairn.tiers.internal.codec.ContentHash;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ManifestFormatTest {
    private final BufferAllocator allocator = new RootAllocator();

    @AfterEach
    void close() {
        allocator.close();
    }

    /** Written by the format-1 writer of the previous release (src/test/resources/manifest/v1-manifest.arrow). */
    private static byte[] v1Fixture() throws Exception {
        try (InputStream in = ManifestFormatTest.class.getResourceAsStream("/manifest/v1-manifest.arrow")) {
            return in.readAllBytes();
        }
    }

    @Test
    void readsAFormatOneManifestAsUnshardedWholeLosslessChunks() throws Exception {
        Manifest m = ManifestFormat.read(ByteBuffer.wrap(v1Fixture()), "v1", allocator);
        assertEquals(1, m.formatVersion());
        assertEquals("run-v1", m.run());
        assertEquals(42, m.step());
        assertEquals(4, m.entries().size());
        EntryRecord w = m.entries().get(0);
        assertEquals("model/w", w.name());
        assertArrayEquals(new long[] {3, 4}, w.shape());
        assertArrayEquals(new long[] {3, 4}, w.globalShape());
        assertArrayEquals(new long[] {0, 0}, w.shardOffsets());
        assertTrue(w.shard().isWhole());
        assertEquals("planes4+zstd", w.chunks().get(1).codec());
        assertTrue(w.chunks().get(1).bases().isEmpty());
        assertFalse(w.chunks().get(1).lossy());
        assertArrayEquals(new long[0], m.entries().get(1).globalShape());
        assertTrue(m.entries().get(2).chunks().isEmpty());
        EntryRecord rng = m.entries().get(3);
        assertFalse(rng.tensor());
        assertFalse(rng.perRank());
    }

    @Test
    void aGarbledFormatOneManifestStillFailsItsDigest() throws Exception {
        byte[] bytes = v1Fixture();
        String text = new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
        int at = text.indexOf("0123456789abcdef0123456789abcdef");
        bytes[at] = '9';
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> ManifestFormat.read(ByteBuffer.wrap(bytes), "v1", allocator));
        assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
    }

    private static final String H1 = "0123456789abcdef0123456789abcdef";
    private static final String H2 = "fedcba9876543210fedcba9876543210";

    /** Sharded, differential, lossy and per-rank entries, all keyed by {@code hash}. */
    private static List<EntryRecord> entries(ContentHash hash) {
        return List.of(
                new EntryRecord("w", true, DType.BF16, new long[] {2, 3}, new long[] {8, 6}, new long[] {4, 3}, false, 12, 1,
                        List.of(new ChunkRef(0, 12, H1, "xor+zstd", 9, List.of(H2, H1.replace('0', 'a')), 0, hash))),
                new EntryRecord("m", true, DType.F32, new long[] {2}, new long[] {2}, new long[] {0}, false, 8, 1,
                        List.of(new ChunkRef(0, 8, H2, "zstd", 11, List.of(), 1.0 / 1024, hash))),
                new EntryRecord("rng", false, null, null, null, null, true, 3, 1,
                        List.of(new ChunkRef(0, 3, H1, "raw", 15, List.of(), 0, hash))));
    }

    @Test
    void writesTheIndexAndTheManifestOfOneRankByteForByteAsWriteDoesEach() {
        // Few rows (their canonical text kept for both digests) and more than are kept (made again per digest).
        for (int chunks : new int[] {3, ManifestFormat.CANONICAL_ROWS_KEPT + 1}) {
            List<ChunkRef> refs = new java.util.ArrayList<>();
            for (int c = 0; c < chunks; c++) {
                refs.add(new ChunkRef(64L * c, 64, String.format("%032x", c + 1), "raw", 88, List.of(), 0, ContentHash.XXH3_128));
            }
            Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "r", 9, 1, 0, Instant.parse("2026-12-06T00:00:00Z"), 64,
                    List.of(new EntryRecord("w", true, DType.F32, new long[] {16L * chunks}, 64L * chunks, 0, refs),
                            new EntryRecord("step", false, null, null, 8, 0,
                                    List.of(new ChunkRef(0, 8, H2, "raw", 32, List.of(), 0, ContentHash.XXH3_128)))));
            byte[][] files = ManifestFormat.writeIndexAndManifest(m, allocator);
            assertArrayEquals(ManifestFormat.write(m, "index", allocator), files[0], chunks + " chunks: the index");
            assertArrayEquals(ManifestFormat.write(m, "manifest", allocator), files[1], chunks + " chunks: the MANIFEST");
            Manifest back = ManifestFormat.read(ByteBuffer.wrap(files[1]), "MANIFEST", allocator);
            assertEquals(chunks + 1, back.chunkCount());
            assertEquals(m.entries().get(0).chunks(), back.entries().get(0).chunks());
            assertEquals(chunks + 1, ManifestFormat.read(ByteBuffer.wrap(files[0]), "rank-0.index", allocator).chunkCount());
        }
    }

    @Test
    void roundTripsShardsPerRankBlobsBasesAndErrorBoundsInTheCurrentFormatKeyedByXxh3() {
        String h1 = H1;
        String h2 = H2;
        Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "r", 7, 4, 1, Instant.parse("2026-11-26T00:00:00Z"), 64,
                entries(ContentHash.XXH3_128));
        byte[] bytes = ManifestFormat.write(m, "index", allocator);
        assertTrue(new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).contains("xxh3-128"), "cairn.hash is written");
        Manifest back = ManifestFormat.read(ByteBuffer.wrap(bytes), "v4", allocator);
        assertEquals(ManifestFormat.FORMAT_VERSION, back.formatVersion());
        assertFalse(back.rowsInIndexes(), "an index holds its rows inline");
        assertEquals(ContentHash.XXH3_128, back.contentHash());
        assertTrue(back.entries().stream().flatMap(e -> e.chunks().stream()).allMatch(c -> c.contentHash() == ContentHash.XXH3_128));
        assertEquals(m.entries().get(0).chunks(), back.entries().get(0).chunks());
        assertEquals(4, back.worldSize());
        assertEquals(1, back.rank());
        EntryRecord w = back.entries().get(0);
        assertEquals(dev.cairn.ShardSpec.of(new long[] {8, 6}, new long[] {4, 3}, new long[] {2, 3}), w.shard());
        assertEquals(List.of(h2, h1.replace('0', 'a')), w.chunks().get(0).bases());
        assertEquals(1.0 / 1024, back.entries().get(1).chunks().get(0).errorBound());
        assertTrue(back.entries().get(2).perRank());
        assertEquals(Set3.of(h1, h2, h1.replace('0', 'a')), back.referencedHashes());
    }

    @Test
    void writesAndReadsFormatTwoKeyedByMurmurHash3WithoutAHashKey() {
        Manifest m = new Manifest(2, "r", 7, 4, 1, Instant.parse("2026-11-26T00:00:00Z"), 64, entries(ContentHash.MURMUR3_128));
        assertEquals(ContentHash.MURMUR3_128, m.contentHash());
        byte[] bytes = ManifestFormat.write(m, "manifest", allocator);
        assertFalse(new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1).contains("cairn.hash"));
        Manifest back = ManifestFormat.read(ByteBuffer.wrap(bytes), "v2", allocator);
        assertEquals(2, back.formatVersion());
        assertEquals(ContentHash.MURMUR3_128, back.contentHash());
        assertEquals(m.entries().get(0).chunks(), back.entries().get(0).chunks());
    }

    @Test
    void readsTheFormatOneFixtureAsMurmurHash3() throws Exception {
        Manifest m = ManifestFormat.read(ByteBuffer.wrap(v1Fixture()), "v1", allocator);
        assertEquals(ContentHash.MURMUR3_128, m.contentHash());
        assertEquals(ContentHash.MURMUR3_128, m.entries().get(0).chunks().get(0).contentHash());
    }

    @Test
    void refusesAContentHashItDoesNotKnowAsAnUnsupportedVersion() {
        byte[] bytes = ManifestFormat.write(new Manifest(3, "r", 7, 4, 1, Instant.now(), 64, entries(ContentHash.XXH3_128)),
                "manifest", allocator);
        replaceAll(bytes, "xxh3-128", "blake3-1");
        CheckpointException e = assertThrows(CheckpointException.class, () -> ManifestFormat.read(ByteBuffer.wrap(bytes), "future", allocator));
        assertEquals(CheckpointException.Reason.UNSUPPORTED_VERSION, e.reason());
        assertTrue(e.getMessage().contains("'blake3-1'"), e.getMessage());
    }

    @Test
    void aFormatThreeManifestWithoutItsHashIsCorrupt() {
        byte[] bytes = ManifestFormat.write(new Manifest(3, "r", 7, 4, 1, Instant.now(), 64, entries(ContentHash.XXH3_128)),
                "manifest", allocator);
        replaceAll(bytes, "cairn.hash", "cairn.hasx");
        CheckpointException e = assertThrows(CheckpointException.class, () -> ManifestFormat.read(ByteBuffer.wrap(bytes), "v3", allocator));
        assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains("has no cairn.hash"), e.getMessage());
    }

    @Test
    void aFormatThreeRowsDigestIsXxh3AndCatchesAGarbledHash() {
        byte[] bytes = ManifestFormat.write(new Manifest(3, "r", 7, 4, 1, Instant.now(), 64, entries(ContentHash.XXH3_128)),
                "manifest", allocator);
        replaceAll(bytes, H2, H2.replace('f', 'e'));
        CheckpointException e = assertThrows(CheckpointException.class, () -> ManifestFormat.read(ByteBuffer.wrap(bytes), "v3", allocator));
        assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains("rows digest"), e.getMessage());
    }

    @Test
    void aManifestRefusesChunksKeyedByAnotherHashOrAFormatThatCannotNameItsHash() {
        List<EntryRecord> murmur = entries(ContentHash.MURMUR3_128);
        assertThrows(IllegalArgumentException.class, () -> new Manifest(3, ContentHash.XXH3_128, "r", 7, 1, 0, Instant.now(), 64, murmur));
        assertThrows(IllegalArgumentException.class,
                () -> new Manifest(2, ContentHash.XXH3_128, "r", 7, 1, 0, Instant.now(), 64, entries(ContentHash.XXH3_128)));
    }

    /** Replaces every occurrence of {@code from} by {@code to} (same length) in {@code bytes}. */
    private static void replaceAll(byte[] bytes, String from, String to) {
        byte[] f = from.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        byte[] t = to.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int n = 0;
        for (int i = 0; i + f.length <= bytes.length; i++) {
            if (java.util.Arrays.equals(bytes, i, i + f.length, f, 0, f.length)) {
                System.arraycopy(t, 0, bytes, i, t.length);
                n++;
            }
        }
        assertTrue(n > 0, "no " + from + " in the bytes");
    }

    @Test
    void rejectsASliceOutsideItsGlobalShape() {
        List<EntryRecord> entries = List.of(new EntryRecord("w", true, DType.U8, new long[] {4}, new long[] {6}, new long[] {3},
                false, 4, 0, List.of(new ChunkRef(0, 4, "0123456789abcdef0123456789abcdef", "zstd", 9))));
        Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "r", 7, 1, 0, Instant.now(), 64, entries);
        byte[] bytes = ManifestFormat.write(m, "manifest", allocator);
        CheckpointException e = assertThrows(CheckpointException.class, () -> ManifestFormat.read(ByteBuffer.wrap(bytes), "bad", allocator));
        assertEquals(CheckpointException.Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains("shard"), e.getMessage());
    }

    private static final class Set3 {
        static java.util.Set<String> of(String... s) {
            return new java.util.LinkedHashSet<>(List.of(s));
        }
    }
}
