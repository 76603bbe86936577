package dev.cairn.bench;

import java.time.Instant;
import java.util.List;

/**
 * Everything one run of {@link S3Benchmark} measured.
 *
 * @param server           the S3 server, in words (S3Proxy, its storage provider and where it keeps the objects)
 * @param compressionRatio raw over stored bytes of the last checkpoint committed in the S3 tier
 * @param restoreBitExact  whether every restore and every download gave back the uploaded bytes (CRC32C)
 */
public record S3BenchResults(Instant date, MachineInfo machine, Setup setup, String server, List<Figure> figures,
                             List<Comparison> comparisons, double compressionRatio, boolean restoreBitExact,
                             double loadBefore, double loadAfter) implements MeasuredRun {

    /**
     * How the run was set up.
     *
     * @param partBytes         the S3 tier's part size and the TransferManager's part size (and the ranged GETs' size)
     * @param uploadConcurrency the S3 tier's parts in flight per object (the engine's chunks are below one part)
     * @param ioThreadsPerTier  the engine's writer threads per tier: chunk PUTs in flight at once
     * @param rangesInFlight    GETs in flight in the ranged-download baseline
     */
    public record Setup(long stateBytes, List<Long> tensorBytes, int chunkBytes, int encoderThreads,
                        long stagingBytes, int compressionLevel, int repetitions, long partBytes,
                        int uploadConcurrency, int ioThreadsPerTier, int rangesInFlight, String workDir) {
        public Setup {
            tensorBytes = List.copyOf(tensorBytes);
        }
    }

    public S3BenchResults {
        figures = List.copyOf(figures);
        comparisons = List.copyOf(comparisons);
    }
}
