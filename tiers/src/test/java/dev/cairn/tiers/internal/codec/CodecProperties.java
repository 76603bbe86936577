package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Assume;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/** Every codec round-trips every float pattern byte-exact, at every length, and the stored form says its codec. */
public class CodecProperties {
    static final List<Codec> CODECS = List.of(Codec.ZSTD, Codec.RAW, Codec.PLANES2, Codec.PLANES4, Codec.PLANES8,
            Codec.PLANES2R, Codec.PLANES4R, Codec.PLANES8R);
    static final int KINDS = 9;

    /** The special values of each width: NaNs with payloads, infinities, zeros of both signs, subnormals, extremes. */
    static final long[] SPECIAL64 = {0x7ff8000000000001L, 0xfff0000000000abcL, 0x7ff0000000000000L, 0xfff0000000000000L,
            0x8000000000000000L, 0L, 0x0000000000000001L, 0x800fffffffffffffL, 0x7fefffffffffffffL, 0x3ff0000000000000L};
    static final int[] SPECIAL32 = {0x7fc00001, 0xff800123, 0x7f800000, 0xff800000, 0x80000000, 0, 0x00000001, 0x807fffff,
            0x7f7fffff, 0x3f800000};
    static final int[] SPECIAL16 = {0x7e01, 0xfc23, 0x7c00, 0xfc00, 0x8000, 0, 0x0001, 0x83ff, 0x7bff, // f16
            0x7fc1, 0xff81, 0x7f80, 0xff80, 0x0001, 0x807f, 0x7f7f, 0x3f80}; // bf16

    @Provide
    Arbitrary<byte[]> floatBytes() {
        return Arbitraries.integers().between(0, KINDS - 1).flatMap(kind -> Arbitraries.integers().between(0, 5000).flatMap(len ->
                Arbitraries.longs().map(seed -> fill(kind, len, seed))));
    }

    /**
     * kind 0: random bytes; 1: N(0, 0.02) floats of 4 bytes; 2: special values of every width; 3: bf16 N(0, 0.02);
     * 4: NaNs of every width with random payloads (signalling and quiet, either sign); 5: subnormals of every width;
     * 6: fp64 N(0, 0.02); 7: fp16 N(0, 0.02) (truncated from fp32); 8: one random value of one width, repeated.
     */
    public static byte[] fill(int kind, int len, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocate(len + 8).order(ByteOrder.LITTLE_ENDIAN);
        int width = 1 << (1 + r.nextInt(3));
        long repeated = r.nextLong();
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
                case 3 -> b.putShort((short) (Float.floatToRawIntBits((float) (r.nextGaussian() * 0.02)) >>> 16));
                case 4 -> putNaN(b, r);
                case 5 -> putSubnormal(b, r);
                case 6 -> b.putDouble(r.nextGaussian() * 0.02);
                case 7 -> b.putShort(fp16((float) (r.nextGaussian() * 0.02)));
                default -> {
                    if (width == 2) {
                        b.putShort((short) repeated);
                    } else if (width == 4) {
                        b.putInt((int) repeated);
                    } else {
                        b.putLong(repeated);
                    }
                }
            }
        }
        byte[] out = new byte[len];
        System.arraycopy(b.array(), 0, out, 0, len);
        return out;
    }

    /** A NaN of a random width (fp64, fp32, fp16, bf16): all-ones exponent, random sign, random nonzero payload. */
    private static void putNaN(ByteBuffer b, SplittableRandom r) {
        long sign = r.nextInt(2);
        switch (r.nextInt(4)) {
            case 0 -> b.putLong(sign << 63 | 0x7ff0000000000000L | Math.max(1, r.nextLong() & 0x000fffffffffffffL));
            case 1 -> b.putInt((int) (sign << 31) | 0x7f800000 | Math.max(1, r.nextInt() & 0x007fffff));
            case 2 -> b.putShort((short) (sign << 15 | 0x7c00 | Math.max(1, r.nextInt() & 0x3ff)));
            default -> b.putShort((short) (sign << 15 | 0x7f80 | Math.max(1, r.nextInt() & 0x7f)));
        }
    }

    /** A subnormal (or zero) of a random width: zero exponent, random sign and mantissa. */
    private static void putSubnormal(ByteBuffer b, SplittableRandom r) {
        long sign = r.nextInt(2);
        switch (r.nextInt(4)) {
            case 0 -> b.putLong(sign << 63 | (r.nextLong() & 0x000fffffffffffffL));
            case 1 -> b.putInt((int) (sign << 31) | (r.nextInt() & 0x007fffff));
            case 2 -> b.putShort((short) (sign << 15 | (r.nextInt() & 0x3ff)));
            default -> b.putShort((short) (sign << 15 | (r.nextInt() & 0x7f)));
        }
    }

    /** IEEE half bits of {@code f}, truncating (Java 17 has no Float.floatToFloat16); small values go subnormal. */
    static short fp16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mant = bits & 0x7fffff;
        if (exp >= 31) {
            return (short) (sign | 0x7c00);
        }
        if (exp <= 0) {
            int shift = 14 - exp;
            return (short) (sign | (shift > 24 ? 0 : (mant | 0x800000) >>> shift));
        }
        return (short) (sign | exp << 10 | mant >>> 13);
    }

    @Property(tries = 300)
    void everyCodecRoundTripsByteExact(@ForAll("floatBytes") byte[] raw, @ForAll @IntRange(min = 0, max = 70) int offset) throws Exception {
        ByteBuffer src = direct(raw, offset);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (Codec c : CODECS) {
                ByteBuffer dst = encoded(raw.length);
                assertRoundTrip(codec, c, src, offset, raw, dst, codec.encodeAs(c, src, offset, raw.length, dst));
            }
            ChunkCodec.Encoded chosen = new ChunkCodec.Encoded();
            for (int e : new int[] {0, 1, 2, 4, 8}) {
                ByteBuffer dst = encoded(raw.length);
                int n = codec.encodeChoosing(src, offset, raw.length, e, dst, chosen).length();
                assertRoundTrip(codec, chosen.codec(), src, offset, raw, dst, n);
            }
        }
    }

    /**
     * The differential form: any current version against any base of the same length, both at any offset, applies
     * back exactly, names its base, and gives up (-1) rather than overrun a limit it cannot meet.
     */
    @Property(tries = 200)
    void xorDifferencesApplyBackExactlyAndNameTheirBase(@ForAll("floatBytes") byte[] base, @ForAll long seed,
                                                        @ForAll @IntRange(min = 0, max = 40) int offset) throws Exception {
        byte[] current = base.clone();
        SplittableRandom r = new SplittableRandom(seed);
        int changes = current.length == 0 ? 0 : r.nextInt(Math.max(1, current.length / 10) + 1);
        for (int c = 0; c < changes; c++) {
            current[r.nextInt(current.length)] = (byte) r.nextInt();
        }
        String baseHash = ContentHash.CURRENT.hex(ByteBuffer.wrap(base), 0, base.length);
        try (XorDelta delta = new XorDelta(1)) {
            ByteBuffer dst = encoded(current.length + StoredChunkHeader.DELTA_LENGTH);
            int n = delta.encode(direct(current, offset), offset, direct(base, 0), 0, current.length, baseHash, dst, dst.capacity());
            assertTrue(n >= StoredChunkHeader.DELTA_LENGTH, "encoded " + n);
            assertTrue(StoredChunkHeader.isDelta(dst, 0, n));
            assertEquals(Codec.XOR, StoredChunkHeader.codecOf(dst, 0, n));
            assertEquals(baseHash, StoredChunkHeader.baseOf(dst, 0, n));
            ByteBuffer target = direct(base, offset);
            delta.applyInto(dst, 0, n, target, offset, base.length);
            byte[] back = new byte[current.length];
            target.get(offset, back);
            assertTrue(java.util.Arrays.equals(current, back), "applying the difference gives the current version");
            assertEquals(-1, delta.encode(direct(current, 0), 0, direct(base, 0), 0, current.length, baseHash, dst,
                    StoredChunkHeader.DELTA_LENGTH), "no room beyond the header");
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

    @Property(tries = 200)
    void floatPlanesAreTheirOwnInverse(@ForAll("floatBytes") byte[] raw, @ForAll("widths") int e,
                                       @ForAll @IntRange(min = 0, max = 9) int offset) {
        ByteBuffer src = direct(raw, offset);
        ByteBuffer split = ByteBuffer.allocateDirect(raw.length + offset);
        ByteBuffer back = ByteBuffer.allocateDirect(raw.length + offset);
        FloatPlanes.split(src, offset, raw.length, e, split, offset);
        FloatPlanes.join(split, offset, raw.length, e, back, offset);
        assertEquals(src.clear(), back.clear());
        int end = 0;
        for (int p = 0; p < FloatPlanes.pieces(e); p++) {
            assertEquals(end, FloatPlanes.pieceOffset(raw.length, e, p), "pieces follow each other");
            end += FloatPlanes.pieceLength(raw.length, e, p);
        }
        assertEquals(raw.length, end, "pieces cover the split");
    }

    @Example
    void floatPlanesCheckTheirRegionsBeforeTouchingMemoryByAddress() {
        ByteBuffer direct = ByteBuffer.allocateDirect(256);
        assertThrows(IllegalArgumentException.class, () -> FloatPlanes.split(ByteBuffer.allocate(256), 0, 256, 4, direct, 0));
        assertThrows(IllegalArgumentException.class, () -> FloatPlanes.join(direct, 0, 256, 4, ByteBuffer.allocate(256), 0));
        assertThrows(IndexOutOfBoundsException.class, () -> FloatPlanes.split(direct, 8, 256, 4, ByteBuffer.allocateDirect(256), 0));
        assertThrows(IndexOutOfBoundsException.class, () -> FloatPlanes.join(direct, 0, 256, 4, ByteBuffer.allocateDirect(255), 0));
        assertThrows(IndexOutOfBoundsException.class, () -> FloatPlanes.join(direct, -1, 64, 4, ByteBuffer.allocateDirect(256), 0));
        assertThrows(java.nio.ReadOnlyBufferException.class,
                () -> FloatPlanes.join(direct, 0, 256, 4, ByteBuffer.allocateDirect(256).asReadOnlyBuffer(), 0));
    }

    @Property
    void nibblesPackAndUnpack(@ForAll long x) {
        long low = x & 0x0F0F0F0F0F0F0F0FL;
        assertEquals(low, FloatPlanes.unpackNibbles(FloatPlanes.packNibbles(x)));
        assertEquals((x >>> 4) & 0x0F0F0F0F0F0F0F0FL, FloatPlanes.unpackNibbles(FloatPlanes.packNibbles(x >>> 4)));
    }

    @Example
    void floatPlanesPutTheWholeExponentInTheNibblesAndTheSignAtTheBottom() {
        int n = 256;
        ByteBuffer src = ByteBuffer.allocateDirect(n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i += 4) {
            src.putFloat(i, i % 8 == 0 ? -1.5f : 1.5f); // exponent 127 = 0x7f, top mantissa byte 0x80 after rotation
        }
        ByteBuffer split = ByteBuffer.allocateDirect(n);
        FloatPlanes.split(src, 0, n, 4, split, 0);
        int plane = n / 4;
        for (int i = 0; i < plane / 2; i++) {
            assertEquals((byte) 0xff, split.get(3 * plane + i), "low nibbles of exponent 0x7f, two a byte");
            assertEquals((byte) 0x77, split.get(3 * plane + plane / 2 + i), "high nibbles of exponent 0x7f");
        }
        for (int i = 0; i < plane; i++) {
            assertEquals((byte) 0x80, split.get(2 * plane + i), "plane 2 holds the top mantissa bits");
            assertEquals(0, split.get(plane + i));
        }
        int negative = 0;
        for (int i = 0; i < plane; i++) {
            negative += split.get(i);
        }
        assertEquals(plane / 2, negative, "plane 0 holds the sign bits, in bit 0");
    }

    @Property(tries = 100)
    void truncatedStoredChunksFailToDecode(@ForAll("floatBytes") byte[] raw, @ForAll @IntRange(min = 1, max = 1 << 20) int cut) {
        Assume.that(raw.length > 0);
        ByteBuffer src = direct(raw, 0);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (Codec c : CODECS) {
                ByteBuffer stored = encoded(raw.length);
                int n = codec.encodeAs(c, src, 0, raw.length, stored);
                int kept = n - 1 - (cut % n);
                ByteBuffer truncated = ByteBuffer.allocateDirect(Math.max(1, kept));
                truncated.put(0, stored, 0, kept);
                ByteBuffer dst = ByteBuffer.allocateDirect(raw.length);
                assertThrows(IOException.class, () -> codec.decode(truncated, 0, kept, dst, 0, raw.length),
                        () -> c + " decoded " + kept + " of " + n + " stored bytes");
            }
        }
    }

    @Property(tries = 100)
    void corruptedStoredChunksFailOrFailTheHashCheck(@ForAll("floatBytes") byte[] raw, @ForAll int where,
                                                    @ForAll @IntRange(min = 1, max = 255) int flip) throws Exception {
        Assume.that(raw.length > 0);
        ByteBuffer src = direct(raw, 0);
        String hash = ContentHash.CURRENT.hex(ByteBuffer.wrap(raw), 0, raw.length);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (Codec c : CODECS) {
                ByteBuffer stored = encoded(raw.length);
                int n = codec.encodeAs(c, src, 0, raw.length, stored);
                int at = Math.floorMod(where, n);
                stored.put(at, (byte) (stored.get(at) ^ flip));
                ByteBuffer dst = ByteBuffer.allocateDirect(raw.length);
                try {
                    codec.decode(stored, 0, n, dst, 0, raw.length);
                } catch (IOException expected) {
                    continue;
                }
                byte[] back = new byte[raw.length];
                dst.get(0, back);
                // What the reader relies on: bytes that decode wrongly never carry the right hash.
                assertTrue(java.util.Arrays.equals(raw, back) || !hash.equals(ContentHash.CURRENT.hex(dst, 0, raw.length)),
                        () -> c + " decoded a corrupted chunk to other bytes with the same hash");
            }
        }
    }

    @Example
    void theZstdToolDecodesEveryStoredFormToItsDocumentedBytes() throws Exception {
        Path file = Files.createTempFile("cairn-chunk-", ".zst");
        try {
            zstdDecodesEveryStoredForm(file);
        } finally {
            Files.delete(file);
        }
    }

    private static void zstdDecodesEveryStoredForm(Path file) throws Exception {
        int len = (1 << 18) + 37;
        byte[] raw = fill(1, len, 11);
        ByteBuffer src = direct(raw, 0);
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (Codec c : CODECS) {
                ByteBuffer stored = encoded(len);
                int n = codec.encodeAs(c, src, 0, len, stored);
                byte[] bytes = new byte[n];
                stored.get(0, bytes);
                Files.write(file, bytes);
                ByteBuffer expected = ByteBuffer.allocateDirect(len);
                String name = c.manifestName();
                int e = name.startsWith("planes") ? name.charAt(6) - '0' : 0;
                if (e == 0) {
                    expected.put(0, raw);
                } else if (name.contains("r+")) {
                    FloatPlanes.split(src, 0, len, e, expected, 0);
                } else {
                    BytePlanes.split(src, 0, len, e, expected, 0);
                }
                assertEquals(expected, ByteBuffer.wrap(zstdDecompress(file)), c + " through zstd -d");
            }
        }
    }

    /** The zstd tool's output, or, where it is not installed, the reference library's streaming decoder's. */
    private static byte[] zstdDecompress(Path file) throws Exception {
        File zstd = new File("/usr/bin/zstd");
        if (!zstd.canExecute()) {
            try (var in = new com.github.luben.zstd.ZstdInputStream(Files.newInputStream(file))) {
                return in.readAllBytes();
            }
        }
        Process p = new ProcessBuilder(zstd.getPath(), "-d", "-c", file.toString()).redirectErrorStream(false).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertEquals(0, p.waitFor(), "zstd -d exit code");
        return out;
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
            ChunkCodec.Encoded chosen = new ChunkCodec.Encoded();
            ByteBuffer f32 = direct(fill(1, len, 7), 0);
            int n32 = codec.encodeChoosing(f32, 0, len, 4, encoded(len), chosen).length();
            assertEquals(Codec.PLANES4R, chosen.codec());
            ByteBuffer bf16 = direct(fill(3, len, 7), 0);
            int n16 = codec.encodeChoosing(bf16, 0, len, 2, encoded(len), chosen).length();
            assertEquals(Codec.PLANES2R, chosen.codec());
            ByteBuffer f64 = direct(fill(6, len, 7), 0);
            int n64 = codec.encodeChoosing(f64, 0, len, 8, encoded(len), chosen).length();
            assertEquals(Codec.PLANES8R, chosen.codec());
            ByteBuffer f16 = direct(fill(7, len, 7), 0);
            int nf16 = codec.encodeChoosing(f16, 0, len, 2, encoded(len), chosen).length();
            Codec f16Codec = chosen.codec();
            // fp16's top byte holds 5 exponent and 3 mantissa bits, so its high nibbles vary: either planes codec may win.
            assertTrue(f16Codec == Codec.PLANES2R || f16Codec == Codec.PLANES2, f16Codec.manifestName());
            assertTrue((double) len / n32 >= 1.2, "fp32 ratio " + (double) len / n32);
            assertTrue((double) len / n16 >= 1.45, "bf16 ratio " + (double) len / n16);
            ByteBuffer noise = direct(fill(0, len, 7), 0);
            assertEquals(Codec.RAW, codec.encodeChoosing(noise, 0, len, 4, encoded(len), chosen).codec());
            System.out.printf("N(0, 0.02) ratio at zstd level 1: fp32 %.3f, bf16 %.3f, fp64 %.3f, fp16 %.3f (%s)%n",
                    (double) len / n32, (double) len / n16, (double) len / n64, (double) len / nf16, f16Codec);
        }
    }

    @Example
    void wideExponentsStoreNoLargerThanEitherPlanesCodec() throws Exception {
        int len = 1 << 20;
        ByteBuffer moments = ByteBuffer.allocateDirect(len).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < len; i += 4) {
            double g = r.nextGaussian() * Math.pow(10, -1 - 4 * r.nextDouble()); // gradients of many magnitudes
            moments.putFloat(i, (float) (g * g)); // an Adam second moment: positive, exponents over dozens of binades
        }
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ChunkCodec.Encoded choice = codec.encodeChoosing(moments, 0, len, 4, encoded(len), new ChunkCodec.Encoded());
            int chosen = choice.length();
            int rotated = codec.encodeAs(Codec.PLANES4R, moments, 0, len, encoded(len));
            int bytePlanes = codec.encodeAs(Codec.PLANES4, moments, 0, len, encoded(len));
            assertTrue(chosen <= Math.min(rotated, bytePlanes) * 1.01,
                    "chose " + chosen + " bytes, rotated planes " + rotated + ", byte planes " + bytePlanes);
            System.out.printf("wide exponents: chose %s, %d bytes; planes4r %d, planes4 %d%n", choice.codec(), chosen,
                    rotated, bytePlanes);
        }
    }

    /** {@code encoded[0, n)}, stored as codec {@code c}, names its codec, decodes to {@code raw}, and is what encodeAs(c) writes. */
    private static void assertRoundTrip(ChunkCodec codec, Codec c, ByteBuffer src, int offset, byte[] raw,
                                        ByteBuffer encoded, int n) throws Exception {
        assertEquals(c, StoredChunkHeader.codecOf(encoded, 0, n), "the stored form names its codec");
        ByteBuffer stored = ByteBuffer.allocateDirect(n + 3); // at an offset, as a chunk inside a larger read
        stored.put(3, encoded, 0, n);
        ByteBuffer again = encoded(raw.length);
        int m = codec.encodeAs(c, src, offset, raw.length, again);
        assertEquals(encoded.slice(0, n), again.slice(0, m), c + ": encoding is deterministic");
        ByteBuffer dst = ByteBuffer.allocateDirect(raw.length + 5);
        assertEquals(c, codec.decode(stored, 3, n, dst, 5, raw.length));
        byte[] back = new byte[raw.length];
        dst.get(5, back);
        assertTrue(java.util.Arrays.equals(raw, back), () -> c + " does not round-trip " + raw.length + " bytes");
        assertEquals(ContentHash.CURRENT.hex(ByteBuffer.wrap(raw), 0, raw.length), ContentHash.CURRENT.hex(dst, 5, raw.length));
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
