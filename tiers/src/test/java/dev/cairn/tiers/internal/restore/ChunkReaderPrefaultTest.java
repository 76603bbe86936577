package dev.cairn.tiers.internal.restore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A prefaulted reader ({@link ChunkReader#prefault}, what a checkpointer opened on a tier that holds a step does for
 * its restore threads) already has every buffer a whole chunk's read and decode use: reading one allocates nothing
 * more, so its first restore touches no fresh memory (a replacement's first restore spent a third of its threads' time
 * in page faults on such memory).
 */
class ChunkReaderPrefaultTest {
    @ParameterizedTest
    @ValueSource(ints = {4, 1}) // floats (float planes) and bytes (zstd)
    void aPrefaultedReaderAllocatesNothingToReadAChunk(int elementSize) throws Exception {
        int len = 1 << 20;
        ByteBuffer raw = ByteBuffer.allocateDirect(len).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < len; i += 4) {
            raw.putFloat(i, (float) (random.nextGaussian() * 0.02));
        }
        StoreLayout layout = new StoreLayout("r");
        String hash = ContentHash.CURRENT.hasher().hex(raw, 0, len);
        try (RootAllocator encoderRoot = new RootAllocator(); Scratch scratch = new Scratch(encoderRoot, "encoder");
             ChunkCodec codec = new ChunkCodec(1, scratch); MemoryObjectStore store = new MemoryObjectStore(16L << 20);
             RootAllocator readerRoot = new RootAllocator(); ChunkReader reader = ChunkReader.under(readerRoot, "reader")) {
            ByteBuffer encoded = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(len));
            ChunkCodec.Encoded e = codec.encodeChoosing(raw, 0, len, elementSize, encoded, new ChunkCodec.Encoded());
            store.put(layout.chunkKey(hash), encoded.slice(0, e.length()));
            ChunkRef c = new ChunkRef(0, len, hash, e.codec().manifestName(), e.length());

            reader.prefault(len);
            long prefaulted = readerRoot.getAllocatedMemory();
            assertTrue(prefaulted >= 2L * len, "prefault allocated only " + prefaulted + " bytes");
            ByteBuffer back = reader.verify(store, layout, reader.readStored(store, layout, c), c);
            assertEquals(prefaulted, readerRoot.getAllocatedMemory(), "reading a chunk allocated more than the prefault");
            assertEquals(-1, back.mismatch(raw.duplicate().clear()), "the chunk read back differs");
        }
    }
}
