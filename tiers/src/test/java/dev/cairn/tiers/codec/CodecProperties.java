package dev.cairn.tiers.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/** Every codec round-trips every float pattern byte-exact, at every length, and the stored form says its codec. */
public class CodecProperties {
    static final List<String> CODECS = List.of(ChunkCodec.ZSTD, ChunkCodec.RAW, ChunkCodec.PLANES2, ChunkCodec.PLANES4,
            ChunkCodec.PLANES8);

    /** The special values of each width: NaNs with payloads, infinities, zeros of both signs, subnormals, extremes. */
    static final long[] SPECIAL64 = {0x7ff8000000000001L, 0xfff0000000000abcL, 0x7ff0000000000000L, 0xfff0000000000000L,
            0x8000000000000000L, 0L, 0x0000000000000001L, 0x800fffffffffffffL, 0x7fefffffffffffffL, 0x3ff0000000000000L};
    static final int[] SPECIAL32 = {0x7fc00001, 0xff800123, 0x7f800000, 0xff800000, 0x80000000, 0, 0x00000001, 0x807fffff,
            0x7f7fffff, 0x3f800000};
    static final int[] SPECIAL16 = {0x7e01, 0xfc23, 0x7c00, 0xfc00, 0x8000, 0, 0x0001, 0x83ff, 0x7bff, // f16
            0x7fc1, 0xff81, 0x7f80, 0xff80, 0x0001, 0x807f, 0x7f7f, 0x3f80}; // bf16

    @Provide
    Arbitrary<byte[]> floatBytes() {
        return Arbitraries.integers().between(0, 3).flatMap(kind -> Arbitraries.integers().between(0, 5000).flatMap(len ->
                Arbitraries.longs().map(seed -> fill(kind, len, seed))));
    }

    /** kind 0: random bytes; 1: N(0, 0.02) floats of 4 bytes; 2: special values of every width; 3: bf16 N(0, 0.02). */
    public static byte[] fill(int kind, int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocate(len + 8).order(ByteOrder.LITTLE_ENDIAN);
        while (b.position() < len) {
            switch (kind) {
                case 0 -> b.put((byte) r.nextInt());
                case 1 -> b.putFloat((float) (r.nextGaussian() * 0.02));
                case 2 -> {
                    int w = r.nextInt(3);
                    if (w == 0) {
                        b.putLong(SPECIAL64[r.nextInt(SPECIAL64.length)]);
                    } else if (w == 1) {
                        b.putInt(SPECIAL32[r.nextInt(SPECIAL32.length)]);
                    } else {
                        b.putShort((short) SPECIAL16[r.nextInt(SPECIAL16.length)]);
                    }
                }
                default -> b.putShort((short) (Float.floatToRawIntBits((float) (r.nextGaussian() * 0.02)) >>> 16));
            }
        }
        byte[] out = new byte[len];
        System.arraycopy(b.array(), 0, out, 0, len);
        return out;
    }

    @Property(tries = 300)
    void everyCodecRoundTripsByteExact(@ForAll("floatBytes") byte[] raw, @ForAll @IntRange(min = 0, max = 70) int offset) throws Exception {
        ByteBuffer src = direct(raw, offset);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (String c : CODECS) {
                assertRoundTrip(codec, c, src, offset, raw, codec.encodeAs(c, src, offset, raw.length, encoded(raw.length)));
            }
            for (int e : new int[] {0, 1, 2, 4, 8}) {
                ByteBuffer dst = encoded(raw.length);
                int n = codec.encodeChoosing(src, offset, raw.length, e, dst);
                assertRoundTrip(codec, codec.lastCodec(), src, offset, raw, n);
            }
        }
    }

    @Property(tries = 200)
    void planesAreTheirOwnInverse(@ForAll("floatBytes") byte[] raw, @ForAll("widths") int e) {
        ByteBuffer src = direct(raw, 0);
        ByteBuffer planes = ByteBuffer.allocateDirect(raw.length);
        ByteBuffer back = ByteBuffer.allocateDirect(raw.length);
        BytePlanes.split(src, 0, raw.length, e, planes, 0);
        BytePlanes.join(planes, 0, raw.length, e, back, 0);
        assertEquals(src.clear(), back.clear());
    }

    @Provide
    Arbitrary<Integer> widths() {
        return Arbitraries.of(2, 4, 8);
    }

    @Example
    void planeHoldsBytePOfEveryValue() {
        int e = 4;
        int n = 128 * e;
        ByteBuffer src = ByteBuffer.allocateDirect(n);
        for (int i = 0; i < n; i++) {
            src.put(i, (byte) (i % e == 3 ? 0x3c : i % e == 2 ? 0x80 | (i & 0x7f) : i));
        }
        ByteBuffer planes = ByteBuffer.allocateDirect(n);
        BytePlanes.split(src, 0, n, e, planes, 0);
        for (int i = 3 * n / 4; i < n; i++) {
            assertEquals(0x3c, planes.get(i), "plane 3 holds the top byte of every value");
        }
        for (int i = n / 2; i < 3 * n / 4; i++) {
            assertTrue((planes.get(i) & 0x80) != 0, "plane 2 holds byte 2 of every value");
        }
    }

    @Example
    void normalFloatsPickPlanesAndIncompressibleBytesAreStoredRaw() throws Exception {
        int len = 1 << 20;
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ByteBuffer f32 = direct(fill(1, len, 7), 0);
            int n32 = codec.encodeChoosing(f32, 0, len, 4, encoded(len));
            assertEquals(ChunkCodec.PLANES4, codec.lastCodec());
            ByteBuffer bf16 = direct(fill(3, len, 7), 0);
            int n16 = codec.encodeChoosing(bf16, 0, len, 2, encoded(len));
            assertEquals(ChunkCodec.PLANES2, codec.lastCodec());
            ByteBuffer noise = direct(fill(0, len, 7), 0);
            codec.encodeChoosing(noise, 0, len, 4, encoded(len));
            assertEquals(ChunkCodec.RAW, codec.lastCodec());
            System.out.printf("N(0, 0.02) ratio: f32 planes4+zstd-1 %.3f, bf16 planes2+zstd-1 %.3f%n",
                    (double) len / n32, (double) len / n16);
        }
    }

    private static void assertRoundTrip(ChunkCodec codec, String c, ByteBuffer src, int offset, byte[] raw, int n) throws Exception {
        ByteBuffer stored = encoded(raw.length);
        ByteBuffer again = encoded(raw.length);
        codec.encodeAs(c, src, offset, raw.length, again);
        assertEquals(c, StoredChunkFormat.codecOf(again, 0, n), "the stored form names its codec");
        stored.put(0, again, 0, n);
        ByteBuffer dst = ByteBuffer.allocateDirect(raw.length + 5);
        assertEquals(c, codec.decode(stored, 0, n, dst, 5, raw.length));
        byte[] back = new byte[raw.length];
        dst.get(5, back);
        assertTrue(java.util.Arrays.equals(raw, back), () -> c + " does not round-trip " + raw.length + " bytes");
        assertEquals(ChunkHash.hex(ByteBuffer.wrap(raw), 0, raw.length), ChunkHash.hex(dst, 5, raw.length));
    }

    private static ByteBuffer encoded(int rawLength) {
        return ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(rawLength));
    }

    private static ByteBuffer direct(byte[] raw, int offset) {
        ByteBuffer b = ByteBuffer.allocateDirect(raw.length + offset);
        b.put(offset, raw);
        return b;
    }
}
