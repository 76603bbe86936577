package dev.cairn.bench.jmh;

import dev.cairn.tiers.codec.ChunkHash;
import java.nio.ByteBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Setup;

/**
 * The content hash of one chunk ({@link ChunkHash#hex}), on a direct buffer as the encoders see it. Bytes per
 * second = chunkBytes / score. Every encoder hashes every chunk it is handed, so this bounds the save pipeline and,
 * with verification, restore.
 */
public class ChunkHashBenchmark extends Fp32ChunkBenchmark {
    private ByteBuffer chunk;

    @Setup
    public void setUp() {
        chunk = fp32Chunk();
    }

    @Benchmark
    public String hash() {
        return ChunkHash.hex(chunk, 0, chunkBytes);
    }
}
