package dev.cairn.tiers.internal.codec;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * A chunk stored uncompressed from its parts ({@link ChunkCodec#rawParts}, for {@code ObjectStore.putIfAbsentGathered}) is
 * byte for byte the chunk {@link ChunkCodec#encodeRaw} writes, and decodes to the raw bytes; the raw bytes are not
 * copied into the parts.
 */
public class RawPartsProperties {
    @Property(tries = 60)
    void thePartsConcatenateToTheRawStoredForm(@ForAll @IntRange(min = 0, max = 700_000) int len,
                                               @ForAll @IntRange(min = 0, max = 64) int offset) throws Exception {
        byte[] bytes = new byte[offset + len];
        new SplittableRandom(len * 31L + offset).nextBytes(bytes);
        ByteBuffer src = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        ByteBuffer expected = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(Math.max(len, 1)));
        int n = ChunkCodec.encodeRaw(src, offset, len, expected);
        assertEquals(n, ChunkCodec.rawStoredLength(len));
        ByteBuffer[] parts = ChunkCodec.rawParts(src, offset, len);
        ByteBuffer joined = ByteBuffer.allocateDirect(n + 1);
        for (ByteBuffer p : parts) {
            int at = p.position();
            joined.put(p.duplicate());
            assertEquals(at, p.position(), "parts are read, not consumed, by a store");
        }
        assertEquals(n, joined.position());
        assertEquals(expected.duplicate().limit(n).position(0), joined.flip());
        try (ChunkCodec codec = new ChunkCodec(1)) {
            ByteBuffer out = ByteBuffer.allocateDirect(Math.max(len, 1));
            assertEquals(Codec.RAW, codec.decode(joined, 0, n, out, 0, len));
            assertEquals(src.duplicate().position(offset).limit(offset + len), out.limit(len));
        }
    }

    @Example
    void theRawBytesArePartsThatShareTheSourcesMemory() {
        ByteBuffer src = ByteBuffer.allocateDirect(300_000);
        ByteBuffer[] parts = ChunkCodec.rawParts(src, 0, 300_000);
        assertEquals(6, parts.length, "three blocks of at most 128 KiB, each after its header");
        src.put(200_000, (byte) 7);
        assertEquals(7, parts[3].get(200_000 - (128 << 10)), "a view of the source, not a copy");
    }
}
