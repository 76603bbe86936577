package dev.cairn.bench;

import java.time.Instant;
import java.util.List;

/**
 * Everything one run of {@link EndToEndBenchmark} measured, with the machine and the setup it ran on.
 *
 * @param compressionRatio raw bytes over stored bytes of the last checkpoint persisted to disk
 * @param coldStallNanos   the very first save's stall, which also pays for allocating the staging memory
 * @param restoreBitExact  whether every restore gave back the saved bytes exactly (CRC32C over the whole state)
 * @param loadBefore       the 1-minute load average when the run began (other processes compete for the CPU)
 * @param loadAfter        the same when it ended
 */
public record BenchResults(Instant date, MachineInfo machine, Setup setup, List<Figure> figures,
                           List<Comparison> comparisons, double compressionRatio, long coldStallNanos,
                           boolean restoreBitExact, double loadBefore, double loadAfter) implements MeasuredRun {

    /**
     * How the run was set up.
     *
     * @param tensorBytes size of each tensor of the state, in order
     * @param workDir     the directory the disk figures were taken in (deleted afterwards)
     */
    public record Setup(long stateBytes, List<Long> tensorBytes, int chunkBytes, int encoderThreads,
                        long stagingBytes, int compressionLevel, int repetitions, long memoryTierLimitBytes,
                        String workDir) {
        public Setup {
            tensorBytes = List.copyOf(tensorBytes);
        }
    }

    public BenchResults {
        figures = List.copyOf(figures);
        comparisons = List.copyOf(comparisons);
    }
}
