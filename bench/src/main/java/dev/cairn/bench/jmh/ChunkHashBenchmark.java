package dev.cairn.bench.jmh;

import dev.cairn.tiers.codec.ChunkHash;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The content hash of one chunk ({@link ChunkHash#hex}), on a direct buffer as the encoders see it. Bytes per
 * second = chunkBytes / score. Every encoder hashes every chunk it is handed, so this bounds the save pipeline and,
 * with verification, restore.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-opens=java.base/java.nio=ALL-UNNAMED")
public class ChunkHashBenchmark {
    @Param({"4194304"})
    public int chunkBytes;

    private ByteBuffer chunk;

    @Setup
    public void setUp() {
        chunk = Fp32Chunk.of(chunkBytes, 42);
    }

    @Benchmark
    public String hash() {
        return ChunkHash.hex(chunk, 0, chunkBytes);
    }
}
