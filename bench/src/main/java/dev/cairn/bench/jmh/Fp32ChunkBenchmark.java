package dev.cairn.bench.jmh;

import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the per-chunk kernel benchmarks share: average time in microseconds over 5 one-second iterations after 3,
 * one fork that may open {@code java.nio}, and one chunk of {@link #chunkBytes} fp32 values from N(0, 0.02)
 * (seed 42) to run the kernel on.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--add-opens=java.base/java.nio=ALL-UNNAMED")
public abstract class Fp32ChunkBenchmark {
    static final long SEED = 42;

    @Param({"4194304"})
    public int chunkBytes;

    /** A fresh direct buffer of {@link #chunkBytes} fp32 values from N(0, 0.02), the same for every benchmark. */
    protected ByteBuffer fp32Chunk() {
        return Fp32Chunk.of(chunkBytes, SEED);
    }

    /** The same values as {@link #fp32Chunk()}, as bf16: {@link #chunkBytes} of 2-byte halves. */
    protected ByteBuffer bf16Chunk() {
        return Fp32Chunk.bf16(chunkBytes, SEED);
    }
}
