package dev.cairn.bench.jmh;

import dev.cairn.tiers.codec.ChunkCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * zstd encode and decode of one fp32 chunk through the engine's {@link ChunkCodec} (direct buffers, a reused
 * context), at the levels worth comparing. Bytes per second = chunkBytes / score.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-opens=java.base/java.nio=ALL-UNNAMED")
public class ChunkCodecBenchmark {
    @Param({"4194304"})
    public int chunkBytes;

    @Param({"1", "3"})
    public int level;

    private ByteBuffer raw;
    private ByteBuffer encoded;
    private ByteBuffer decoded;
    private int encodedLength;
    private ChunkCodec codec;

    @Setup(Level.Trial)
    public void setUp() {
        raw = Fp32Chunk.of(chunkBytes, 42);
        encoded = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(chunkBytes));
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
