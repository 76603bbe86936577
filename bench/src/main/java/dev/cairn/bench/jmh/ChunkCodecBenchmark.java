package dev.cairn.bench.jmh;

import dev.cairn.tiers.Kernels;
import dev.cairn.tiers.Kernels.ChunkCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * zstd encode and decode of one fp32 chunk through the engine's chunk codec ({@link Kernels.ChunkCodec}) (direct buffers, a reused
 * context), at the levels worth comparing. Bytes per second = chunkBytes / score.
 */
public class ChunkCodecBenchmark extends Fp32ChunkBenchmark {
    @Param({"1", "3"})
    public int level;

    private ByteBuffer raw;
    private ByteBuffer encoded;
    private ByteBuffer decoded;
    private int encodedLength;
    private ChunkCodec codec;

    @Setup(Level.Trial)
    public void setUp() {
        raw = fp32Chunk();
        encoded = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(chunkBytes));
        decoded = ByteBuffer.allocateDirect(chunkBytes);
        codec = new ChunkCodec(level);
        encodedLength = codec.encode(raw, 0, chunkBytes, encoded);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        codec.close();
    }

    @Benchmark
    public int encode() {
        return codec.encode(raw, 0, chunkBytes, encoded);
    }

    @Benchmark
    public ByteBuffer decode() throws IOException {
        codec.decode(encoded, 0, encodedLength, decoded, 0, chunkBytes);
        return decoded;
    }
}
