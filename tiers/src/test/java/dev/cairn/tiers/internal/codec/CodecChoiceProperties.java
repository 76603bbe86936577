package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * A chunk position that reuses the codec chosen by an earlier save ({@link ChunkCodec#encodeReusing}) probes once in
 * {@value CodecChoice#REPROBE_EVERY} saves, probes again when its data stop suiting the choice, and every form it
 * stores decodes to the raw bytes.
 */
class CodecChoiceProperties {
    static final int LEN = 256 << 10;

    /** Any sequence of saves of one position, each of any kind of data: every stored form decodes byte-exact. */
    @Property(tries = 60)
    void everyReusedFormDecodesToItsRawBytes(@ForAll @IntRange(min = 0, max = CodecProperties.KINDS - 1) int first,
                                             @ForAll @IntRange(min = 0, max = CodecProperties.KINDS - 1) int then,
                                             @ForAll @IntRange(min = 1, max = 5000) int len,
                                             @ForAll @IntRange(min = 0, max = 3) int widthBits, @ForAll long seed) throws Exception {
        int elementSize = widthBits == 3 ? 0 : 2 << widthBits;
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ChunkCodec.Encoded out = new ChunkCodec.Encoded();
            CodecChoice choice = null;
            for (int save = 0; save < 20; save++) {
                byte[] raw = CodecProperties.fill(save < 10 ? first : then, len, seed + save);
                ByteBuffer src = direct(raw);
                ByteBuffer dst = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(len));
                codec.encodeReusing(choice, src, 0, len, elementSize, dst, out);
                choice = out.choice();
                assertEquals(out.codec(), StoredChunkHeader.codecOf(dst, 0, out.length()), "the stored form names its codec");
                ByteBuffer back = ByteBuffer.allocateDirect(len);
                assertEquals(out.codec(), codec.decode(dst, 0, out.length(), back, 0, len));
                byte[] got = new byte[len];
                back.get(0, got);
                assertArrayEquals(raw, got, "save " + save);
            }
        }
    }

    @Example
    void aPositionOfWeightsProbesOnceInSixteenSavesAndStoresWhatAProbeWould() throws Exception {
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ChunkCodec.Encoded out = new ChunkCodec.Encoded();
            ChunkCodec.Encoded probed = new ChunkCodec.Encoded();
            CodecChoice choice = null;
            int saves = 3 * CodecChoice.REPROBE_EVERY;
            for (int save = 0; save < saves; save++) {
                ByteBuffer src = direct(CodecProperties.fill(1, LEN, save)); // N(0, 0.02) fp32, new values each save
                codec.encodeReusing(choice, src, 0, LEN, 4, ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(LEN)), out);
                choice = out.choice();
                try (ChunkCodec fresh = new ChunkCodec(1)) {
                    fresh.encodeChoosing(src, 0, LEN, 4, ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(LEN)), probed);
                }
                assertEquals(probed.codec(), out.codec(), "save " + save);
                assertEquals(probed.length(), out.length(), "the same pieces compressed, save " + save);
            }
            assertEquals(3, codec.probes(), "one probe per " + CodecChoice.REPROBE_EVERY + " saves");
        }
    }

    @Example
    void aChoiceThatStopsPayingIsProbedAgainAtOnce() throws Exception {
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ChunkCodec.Encoded out = new ChunkCodec.Encoded();
            codec.encodeReusing(null, direct(CodecProperties.fill(8, LEN, 1)), 0, LEN, 4, encoded(), out); // one value repeated
            CodecChoice choice = out.choice();
            int repeated = out.length();
            assertTrue(repeated < LEN / 100, "a repeated value compresses to almost nothing: " + repeated);
            // The position now holds weights: the old choice's pieces would store far more than the probe's size.
            codec.encodeReusing(choice, direct(CodecProperties.fill(1, LEN, 2)), 0, LEN, 4, encoded(), out);
            assertEquals(2, codec.probes(), "probed again");
            assertEquals(0, out.choice().uses(), "a new choice");
            assertNotEquals(choice.storedLength(), out.choice().storedLength());
        }
    }

    @Example
    void aChoiceIsNotReusedForAnotherLengthLevelOrFloatWidth() throws Exception {
        try (ChunkCodec level1 = new ChunkCodec(1); ChunkCodec level3 = new ChunkCodec(3)) {
            ChunkCodec.Encoded out = new ChunkCodec.Encoded();
            ByteBuffer src = direct(CodecProperties.fill(1, LEN, 3));
            level1.encodeReusing(null, src, 0, LEN, 4, encoded(), out);
            CodecChoice choice = out.choice();
            level1.encodeReusing(choice, src, 0, LEN / 2, 4, encoded(), out);
            assertEquals(2, level1.probes(), "another length probes");
            level3.encodeReusing(choice, src, 0, LEN, 4, encoded(), out);
            assertEquals(1, level3.probes(), "another level probes");
            level1.encodeReusing(choice, src, 0, LEN, 2, encoded(), out);
            assertEquals(3, level1.probes(), "another float width probes");
            level1.encodeReusing(choice, src, 0, LEN, 4, encoded(), out);
            assertEquals(3, level1.probes(), "the same length, level and width reuse it");
            assertEquals(1, out.choice().uses());
        }
    }

    private static ByteBuffer encoded() {
        return ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(LEN));
    }

    private static ByteBuffer direct(byte[] raw) {
        ByteBuffer b = ByteBuffer.allocateDirect(raw.length);
        b.put(0, raw);
        return b;
    }
}
