package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** {@link Kernels}, the benchmarks' door onto the codec and hash: what it computes is what the engine stores. */
class KernelsTest {
    static final int CHUNK = 64 << 10;

    private static ByteBuffer fp32(int bytes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < bytes; i += 4) {
            b.putFloat(i, (float) ((r.nextDouble() - 0.5) * 0.04));
        }
        return b;
    }

    @Test
    void theCurrentHashIsTheKeyASaveStoresAChunkUnder() throws Exception {
        ByteBuffer w = fp32(CHUNK, 1);
        try (MemoryObjectStore mem = new MemoryObjectStore(16L << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").chunkBytes(CHUNK).tier(TierConfig.of("memory", mem).compressionLevel(1)).build())) {
            cp.save(1, TrainingState.builder().add(Tensor.of("w", DType.F32, new long[] {CHUNK / 4}, w.duplicate())).build())
                    .done().get(30, TimeUnit.SECONDS);
            String key = Kernels.Hash.current().hasher().hex(w, 0, CHUNK);
            var chunks = mem.list("run1/chunks/").stream().map(ObjectInfo::key).collect(Collectors.toList());
            assertEquals(1, chunks.size(), "one chunk stored: " + chunks);
            assertTrue(chunks.get(0).endsWith("/" + key), chunks.get(0) + " is keyed by " + key);
        }
    }

    @Test
    void everyEncodingDecodesToTheSameBytes() throws Exception {
        ByteBuffer raw = fp32(CHUNK, 2);
        ByteBuffer out = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(CHUNK));
        ByteBuffer back = ByteBuffer.allocateDirect(CHUNK);
        Kernels.Encoded chosen = new Kernels.Encoded();
        try (Kernels.ChunkCodec codec = new Kernels.ChunkCodec(1)) {
            int n = codec.encodeChoosing(raw, 0, CHUNK, 4, out, chosen).length();
            assertEquals(chosen.codec(), codec.decode(out, 0, n, back, 0, CHUNK));
            assertEquals(raw.duplicate().clear(), back.duplicate().clear(), "decoded " + chosen.codec());
            n = codec.encodeBytePlanes(4, raw, 0, CHUNK, out);
            assertEquals(Kernels.bytePlanesCodecName(4), codec.decode(out, 0, n, back.clear(), 0, CHUNK));
            assertEquals(raw.duplicate().clear(), back.duplicate().clear(), "decoded byte planes");
            n = codec.encode(raw, 0, CHUNK, out);
            assertEquals("zstd", codec.decode(out, 0, n, back.clear(), 0, CHUNK));
            assertEquals(raw.duplicate().clear(), back.duplicate().clear(), "decoded plain zstd");
        }
        ByteBuffer planes = ByteBuffer.allocateDirect(CHUNK);
        Kernels.floatPlanesSplit(raw, 0, CHUNK, 4, planes, 0);
        Kernels.floatPlanesJoin(planes, 0, CHUNK, 4, back, 0);
        assertEquals(raw.duplicate().clear(), back.duplicate().clear(), "float planes joined back");
        Kernels.bytePlanesSplit(raw, 0, CHUNK, 2, planes, 0);
        Kernels.bytePlanesJoin(planes, 0, CHUNK, 2, back, 0);
        assertEquals(raw.duplicate().clear(), back.duplicate().clear(), "byte planes joined back");
        Kernels.Hasher h = Kernels.Hash.MURMUR3_128.hasher();
        assertTrue(h.matches(raw, 0, CHUNK, h.hex(raw, 0, CHUNK)));
    }

    @Test
    void byteplanesOfAnOddWidthAreRefusedByName() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> Kernels.bytePlanesCodecName(3));
        assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
        assertTrue(e.getMessage().contains("not 3"), e.getMessage());
    }
}
