package dev.cairn.bench;

import dev.cairn.CairnConfig;
import java.nio.file.Path;

/**
 * What {@link EndToEndBenchmark} runs on.
 *
 * @param stateBytes  bytes of fp32 state; rounded down to a whole number of chunks (at least one)
 * @param repetitions measurements of each figure; medians are reported
 * @param parentDir   where the benchmark makes (and afterwards deletes) its own working directory: a disk store and
 *                    one file for the sequential-write baseline; null for the current directory
 */
public record BenchOptions(long stateBytes, int repetitions, Path parentDir) {
    public static final long DEFAULT_STATE_BYTES = 1L << 30;
    public static final int DEFAULT_REPETITIONS = 5;
    /** The chunk size the benchmark configures: the engine's default. */
    public static final int CHUNK_BYTES = CairnConfig.DEFAULT_CHUNK_BYTES;

    public BenchOptions {
        if (stateBytes < CHUNK_BYTES) {
            throw new IllegalArgumentException("state size must be at least one chunk, " + ByteSize.format(CHUNK_BYTES)
                    + ", was " + ByteSize.format(stateBytes));
        }
        if (repetitions < 1 || repetitions > 1000) {
            throw new IllegalArgumentException("repetitions must be in [1, 1000], was " + repetitions);
        }
        stateBytes -= stateBytes % CHUNK_BYTES;
    }

    public static BenchOptions defaults() {
        return new BenchOptions(DEFAULT_STATE_BYTES, DEFAULT_REPETITIONS, null);
    }

    public BenchOptions withStateBytes(long bytes) {
        return new BenchOptions(bytes, repetitions, parentDir);
    }

    public BenchOptions withRepetitions(int n) {
        return new BenchOptions(stateBytes, n, parentDir);
    }

    public BenchOptions withParentDir(Path dir) {
        return new BenchOptions(stateBytes, repetitions, dir);
    }
}
