package dev.cairn.bench.jmh;

import dev.cairn.tiers.Kernels;
import java.nio.ByteBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;

/**
 * The content hash of one chunk, on a direct buffer as the encoders see it, by each {@link Kernels.Hash}: XXH3-128
 * (manifest format 3, every new save) and MurmurHash3 (formats 1 and 2, still verified on their restores). Bytes
 * per second = chunkBytes / score. Every encoder hashes every chunk it is handed, and every restore verifies every
 * chunk, so this bounds the save pipeline and the restore. {@code hex} returns the key as a save makes it;
 * {@code matches} checks it as a restore does (allocating nothing).
 */
public class ChunkHashBenchmark extends Fp32ChunkBenchmark {
    @Param({"XXH3_128", "MURMUR3_128"})
    public Kernels.Hash hash;

    private ByteBuffer chunk;
    private Kernels.Hasher hasher;
    private String expected;

    @Setup
    public void setUp() {
        chunk = fp32Chunk();
        hasher = hash.hasher();
        expected = hasher.hex(chunk, 0, chunkBytes);
    }

    @Benchmark
    public String hex() {
        return hasher.hex(chunk, 0, chunkBytes);
    }

    @Benchmark
    public boolean matches() {
        return hasher.matches(chunk, 0, chunkBytes, expected);
    }
}
