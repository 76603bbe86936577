package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The stored names and bytes are a format: pinned here byte for byte, so that no refactoring changes them. */
class StoredChunkHeaderTest {

    @Test
    void codecNamesAreTheOnesManifestsRecord() {
        Map<Codec, String> names = new LinkedHashMap<>();
        names.put(Codec.ZSTD, "zstd");
        names.put(Codec.RAW, "raw");
        names.put(Codec.PLANES2, "planes2+zstd");
        names.put(Codec.PLANES4, "planes4+zstd");
        names.put(Codec.PLANES8, "planes8+zstd");
        names.put(Codec.PLANES2R, "planes2r+zstd");
        names.put(Codec.PLANES4R, "planes4r+zstd");
        names.put(Codec.PLANES8R, "planes8r+zstd");
        names.put(Codec.XOR, "xor+zstd");
        assertEquals(List.of(Codec.values()), List.copyOf(names.keySet()));
        names.forEach((codec, name) -> {
            assertEquals(name, codec.manifestName());
            assertEquals(codec, Codec.byName(name));
        });
        assertNull(Codec.byName("unknown"));
        assertNull(Codec.byName("planes16+zstd"));
    }

    @Test
    void wholeHeadersAreTheDocumentedBytes() {
        Map<Codec, String> ids = Map.of(Codec.RAW, "72", Codec.PLANES2, "32", Codec.PLANES4, "34", Codec.PLANES8, "38",
                Codec.PLANES2R, "68", Codec.PLANES4R, "73", Codec.PLANES8R, "64");
        ids.forEach((codec, id) -> {
            ByteBuffer b = ByteBuffer.allocate(StoredChunkHeader.LENGTH);
            assertEquals(StoredChunkHeader.LENGTH, StoredChunkHeader.writeWhole(b, 0, codec));
            assertEquals("5c2a4d18" + "04000000" + "43524e" + id, HexFormat.of().formatHex(b.array()), codec.manifestName());
            assertEquals(codec, StoredChunkHeader.codecOf(b, 0, b.capacity()));
            assertFalse(StoredChunkHeader.isDelta(b, 0, b.capacity()));
        });
        assertThrows(IllegalArgumentException.class, () -> StoredChunkHeader.writeWhole(ByteBuffer.allocate(12), 0, Codec.ZSTD));
        assertThrows(IllegalArgumentException.class, () -> StoredChunkHeader.writeWhole(ByteBuffer.allocate(12), 0, Codec.XOR));
    }

    @Test
    void aDifferentialHeaderNamesItsBaseInTheDocumentedBytes() throws IOException {
        String base = "0123456789abcdeffedcba9876543210";
        ByteBuffer b = ByteBuffer.allocate(StoredChunkHeader.DELTA_LENGTH + 3);
        assertEquals(StoredChunkHeader.DELTA_LENGTH, StoredChunkHeader.writeDelta(b, 3, base));
        byte[] header = new byte[StoredChunkHeader.DELTA_LENGTH];
        b.get(3, header);
        assertArrayEquals(HexFormat.of().parseHex("5c2a4d18" + "14000000" + "43524e78" + base), header);
        assertEquals(Codec.XOR, StoredChunkHeader.codecOf(b, 3, StoredChunkHeader.DELTA_LENGTH));
        assertEquals(base, StoredChunkHeader.baseOf(b, 3, StoredChunkHeader.DELTA_LENGTH));
        assertEquals(base, StoredChunkHeader.baseOrNull(b, 3, StoredChunkHeader.DELTA_LENGTH));
        // Cut short, it is a header no codec wrote, not a differential one.
        assertNull(StoredChunkHeader.codecOf(b, 3, StoredChunkHeader.DELTA_LENGTH - 1));
        assertEquals(StoredChunkHeader.UNKNOWN_CODEC, StoredChunkHeader.codecNameOf(b, 3, StoredChunkHeader.DELTA_LENGTH - 1));
        assertThrows(IOException.class, () -> StoredChunkHeader.baseOf(b, 3, StoredChunkHeader.DELTA_LENGTH - 1));
    }

    @Test
    void headersNoCodecWroteAreUnknownAndBytesWithoutOneAreZstd() {
        ByteBuffer b = ByteBuffer.allocate(StoredChunkHeader.LENGTH);
        assertEquals(Codec.ZSTD, StoredChunkHeader.codecOf(b, 0, b.capacity()), "no skippable magic: a plain frame");
        StoredChunkHeader.writeWhole(b, 0, Codec.RAW);
        b.put(StoredChunkHeader.CODEC_ID_OFFSET, (byte) 'x');
        assertNull(StoredChunkHeader.codecOf(b, 0, b.capacity()), "the differential id in a whole header");
        b.put(StoredChunkHeader.CODEC_ID_OFFSET, (byte) 'q');
        assertNull(StoredChunkHeader.codecOf(b, 0, b.capacity()));
        StoredChunkHeader.writeWhole(b, 0, Codec.RAW);
        b.put(StoredChunkHeader.SIGNATURE_OFFSET + 1, (byte) 'X');
        assertNull(StoredChunkHeader.codecOf(b, 0, b.capacity()));
        assertEquals(Codec.ZSTD, StoredChunkHeader.codecOf(b, 0, StoredChunkHeader.LENGTH - 1), "too short for a header");
    }

    @Test
    void aRawFrameIsTheDocumentedBytes() {
        ByteBuffer src = ByteBuffer.allocateDirect(3).put(0, new byte[] {1, 2, 3});
        ByteBuffer dst = ByteBuffer.allocate((int) RawZstdFrame.length(3));
        assertEquals(RawZstdFrame.length(3), RawZstdFrame.write(src, 0, 3, dst, 0));
        // magic, descriptor 0xE0, content size 3 (8 bytes LE), last raw block of 3 bytes (3 << 3 | 1 = 0x19), the bytes.
        assertEquals("28b52ffd" + "e0" + "0300000000000000" + "190000" + "010203", HexFormat.of().formatHex(dst.array()));
    }
}
