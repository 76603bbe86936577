package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class ContentHashTest {
    /** Byte {@code i} of the known-answer inputs. */
    private static byte[] data(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 131 + (i >> 8) * 7 + 1);
        }
        return b;
    }

    /**
     * XXH3-128 of {@link #data} as the reference library (xxHash 0.8.3, {@code xxh3_128_hexdigest}) prints it, one per
     * code path of XXH3 (up to 16, 128 and 240 bytes, then stripes and blocks, with tails).
     */
    @Test
    void xxh3MatchesTheReferenceImplementationOnEveryLengthClass() {
        String[][] known = {
            {"0", "99aa06d3014798d86001c324468d497f"}, {"1", "51025a4491835505e12ef9d2eb86ceeb"},
            {"3", "dc7353b5cff815e9f3942c35bf543f78"}, {"4", "b4795b347f5d23798883ef757fb7a317"},
            {"8", "1a6bf8cb91cf9be51b578778ea21139c"}, {"9", "d401fe2ecdb8be646d8aa4e4f292e561"},
            {"16", "c1f205a38848e52305c184c957a34af8"}, {"17", "40f38e34c8635f363964a62e19392dfb"},
            {"100", "f71e90168fbb729db3033debc23d9582"}, {"128", "3281d6975108d082efa83483e2d95afb"},
            {"129", "b3cdd4ac5aaabfcadcf53479806d1efc"}, {"240", "5d7e6aa5c25af182085fae5e31567298"},
            {"241", "c007238d4839af1e4ddfb221defd6188"}, {"1025", "90b6d49f09475f47b54c683f9a933aac"},
            {"65549", "69c7d4172c2076d47a974bc9b1531962"}, {"4194304", "81ac45c8cfcd8a4b3d1731da6b1d2651"},
        };
        for (String[] k : known) {
            byte[] bytes = data(Integer.parseInt(k[0]));
            assertEquals(k[1], ContentHash.XXH3_128.hex(bytes), k[0] + " bytes, heap");
            assertEquals(k[1], ContentHash.XXH3_128.hex(direct(bytes, 0), 0, bytes.length), k[0] + " bytes, direct");
        }
    }

    /** The value the previous release's ChunkHash.hex gave (formats 1 and 2 depend on it staying so). */
    @Test
    void murmurIsTheFormatTwoHashOfThePreviousRelease() {
        assertEquals("74a23b7f8708fa4daabb30a85343a572", ContentHash.MURMUR3_128.hex("cairn".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
    }

    @Property(tries = 200)
    void bothHashesAgreeOnHeapDirectReadOnlyAndOffsetBuffersOfEitherByteOrder(@ForAll @Size(max = 3000) byte[] raw,
                                                                              @ForAll @IntRange(max = 9) int offset) {
        for (ContentHash h : ContentHash.values()) {
            String expected = h.hex(raw);
            assertTrue(ContentHash.isHex(expected));
            ContentHash.Hasher hasher = h.hasher();
            ByteBuffer direct = direct(raw, offset);
            assertEquals(expected, hasher.hex(direct, offset, raw.length), h + " direct");
            assertEquals(expected, hasher.hex(direct.duplicate().order(ByteOrder.LITTLE_ENDIAN), offset, raw.length), h + " LE");
            byte[] padded = new byte[raw.length + offset];
            System.arraycopy(raw, 0, padded, offset, raw.length);
            assertEquals(expected, hasher.hex(ByteBuffer.wrap(padded), offset, raw.length), h + " heap at an offset");
            assertEquals(expected, hasher.hex(ByteBuffer.wrap(padded).asReadOnlyBuffer(), offset, raw.length), h + " read-only");
            assertEquals(expected, hasher.hex(ByteBuffer.wrap(padded, offset, raw.length).slice(), 0, raw.length), h + " slice");
            assertTrue(hasher.matches(direct, offset, raw.length, expected), h + " matches");
            if (h == ContentHash.XXH3_128) {
                long[] halves = new long[2];
                Xxh3Hash.hashByAccess(direct, offset, raw.length, halves);
                assertEquals(expected, String.format("%016x%016x", halves[0], halves[1]), "direct, without its address");
            }
            if (raw.length > 0) {
                direct.put(offset, (byte) (direct.get(offset) ^ 1));
                assertFalse(hasher.matches(direct, offset, raw.length, expected), h + " a flipped bit");
            }
        }
    }

    @Test
    void theTwoHashesDifferOnTheSameBytesAndNameThemselves() {
        byte[] b = data(4096);
        assertFalse(ContentHash.XXH3_128.hex(b).equals(ContentHash.MURMUR3_128.hex(b)));
        assertEquals(ContentHash.XXH3_128, ContentHash.fromTag("xxh3-128").orElseThrow());
        assertEquals(ContentHash.MURMUR3_128, ContentHash.fromTag("murmur3-128").orElseThrow());
        assertTrue(ContentHash.fromTag("sha256").isEmpty());
    }

    @Test
    void aRegionPastTheLimitIsRefusedNotRead() {
        ByteBuffer b = ByteBuffer.allocateDirect(64).limit(32);
        assertThrows(IndexOutOfBoundsException.class, () -> ContentHash.XXH3_128.hex(b, 16, 32));
    }

    private static ByteBuffer direct(byte[] raw, int offset) {
        ByteBuffer b = ByteBuffer.allocateDirect(raw.length + offset);
        b.put(offset, raw);
        return b;
    }
}
