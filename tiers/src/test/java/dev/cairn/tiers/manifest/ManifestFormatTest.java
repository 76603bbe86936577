package dev.cairn.tiers.manifest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.DType;
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

    @Test
    void roundTripsShardsPerRankBlobsBasesAndErrorBoundsInFormatTwo() {
        String h1 = "0123456789abcdef0123456789abcdef";
        String h2 = "fedcba9876543210fedcba9876543210";
        List<EntryRecord> entries = List.of(
                new EntryRecord("w", true, DType.BF16, new long[] {2, 3}, new long[] {8, 6}, new long[] {4, 3}, false, 12, 1,
                        List.of(new ChunkRef(0, 12, h1, "xor+zstd", 9, List.of(h2, h1.replace('0', 'a')), 0))),
                new EntryRecord("m", true, DType.F32, new long[] {2}, new long[] {2}, new long[] {0}, false, 8, 1,
                        List.of(new ChunkRef(0, 8, h2, "zstd", 11, List.of(), 1.0 / 1024))),
                new EntryRecord("rng", false, null, null, null, null, true, 3, 1,
                        List.of(new ChunkRef(0, 3, h1, "raw", 15))));
        Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "r", 7, 4, 1, Instant.parse("2026-11-26T00:00:00Z"), 64, entries);
        Manifest back = ManifestFormat.read(ByteBuffer.wrap(ManifestFormat.write(m, "index", allocator)), "v2", allocator);
        assertEquals(2, back.formatVersion());
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
