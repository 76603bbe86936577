package dev.cairn.bench;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.bench.Comparison.Measure;
import dev.cairn.testkit.EmbeddedS3;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * The S3 benchmark ({@code cairn bench --s3}): the engine on the S3 backend against the AWS SDK's S3 TransferManager,
 * both talking to the same in-process S3Proxy on 127.0.0.1 ({@link EmbeddedS3}, filesystem provider: objects are
 * files under the benchmark's working directory), on the same bytes, repetitions interleaved.
 * <ol>
 * <li><b>Upload</b>: {@code save()} until committed in an S3 tier, (i) with S3 as the only tier and (ii) with a
 *     memory tier first and S3 second (the step is committed in memory and promoted to S3 from its stored chunks),
 *     against a TransferManager multipart upload of the same bytes as one object.</li>
 * <li><b>Restore</b>: {@code restore(latest())} with S3 as the only tier (every chunk fetched by a GET, decoded and
 *     hash-verified), against a TransferManager download of that object and against parallel ranged GETs of it.</li>
 * </ol>
 * As in {@link EndToEndBenchmark}, every save changes one value per chunk first, so nothing is skipped by dedup.
 */
public final class S3Benchmark {
    public static final String UPLOAD_S3 = "s3.upload.engine";
    public static final String UPLOAD_PROMOTED = "s3.upload.memoryThenS3";
    public static final String UPLOAD_TM = "s3.upload.transferManager";
    public static final String RESTORE_S3 = "s3.restore.engine";
    public static final String DOWNLOAD_TM = "s3.download.transferManager";
    public static final String DOWNLOAD_RANGES = "s3.download.rangedGets";
    /** The process's CPU time (engine or SDK client, and the S3Proxy server in this JVM) during each side of the restore. */
    public static final String RESTORE_S3_CPU = "s3.restore.engine.cpu";
    public static final String DOWNLOAD_TM_CPU = "s3.download.transferManager.cpu";

    static final String S3 = "s3";
    static final String MEMORY = "memory";
    private static final String BUCKET = "cairn-bench";
    private static final String S3_RUN = "bench-s3";
    private static final String PROMOTED_RUN = "bench-promoted";
    private static final String OBJECT_KEY = "transfer-manager/state.bin";
    private static final long PART_BYTES = 8L << 20;
    private static final int UPLOAD_CONCURRENCY = 8;
    /** CairnCheckpointer's writer threads per tier (package-private there). */
    private static final int IO_THREADS_PER_TIER = 4;
    private static final int RANGES_IN_FLIGHT = 8;
    private static final double UPLOAD_GOAL = 1.0;
    /** Fast-recovery goal 5: restore from S3 at least as fast as TransferManager's download of the same bytes. */
    private static final double RESTORE_GOAL = 1.0;

    private final BenchOptions options;
    private final PrintStream log;
    private final int cores = Runtime.getRuntime().availableProcessors();
    private final int chunkBytes = BenchOptions.CHUNK_BYTES;
    private final long stagingBytes;
    private long round;

    private S3Benchmark(BenchOptions options, PrintStream log) {
        this.options = options;
        this.log = log;
        long bytes = options.stateBytes();
        this.stagingBytes = Math.max(bytes + bytes / 4, CairnConfig.minimumStagingBytes(chunkBytes, cores));
    }

    /**
     * Runs the S3 benchmark, printing progress to {@code log}. Works in a new directory under
     * {@code options.parentDir()} (or the current directory), where the embedded server keeps its objects, and
     * deletes it afterwards.
     *
     * @throws IllegalStateException when the JVM lacks the direct memory, a transfer fails, or a restore or a
     *                               download does not give back the uploaded bytes
     */
    public static S3BenchResults run(BenchOptions options, PrintStream log) throws IOException {
        return new S3Benchmark(options, log).execute();
    }

    private S3BenchResults execute() throws IOException {
        PreparedState.requireDirectMemory(options.stateBytes());
        try (WorkDirectory work = WorkDirectory.create(options.parentDir(), "cairn-bench-s3-")) {
            quietLogging();
            return measure(work.path());
        }
    }

    /**
     * S3Proxy brings Logback, whose default configuration logs Jetty, Netty and the AWS SDK at DEBUG (30x slower,
     * and on stdout). Unless someone configured Logback ({@code -Dlogback.configurationFile}, or a root level other
     * than the default's DEBUG), warnings only.
     */
    private static void quietLogging() {
        if (System.getProperty("logback.configurationFile") != null) {
            return;
        }
        if (org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof ch.qos.logback.classic.Logger root
                && root.getLevel() == ch.qos.logback.classic.Level.DEBUG) {
            root.setLevel(ch.qos.logback.classic.Level.WARN);
        }
    }

    private S3BenchResults measure(Path work) throws IOException {
        PreparedState prepared = PreparedState.prepare(options.stateBytes(), chunkBytes, work, log);
        MachineInfo machine = prepared.machine();
        SyntheticState state = prepared.state();
        List<ByteBuffer> target = prepared.target();
        int reps = options.repetitions();
        long bytes = state.bytes();
        List<Figure> figures = new ArrayList<>();
        String server;
        double compression;
        try (EmbeddedS3 s3 = EmbeddedS3.start(BUCKET, work.resolve("s3"))) {
            server = "S3Proxy " + s3.endpoint() + ", filesystem-nio2 provider under " + work.resolve("s3") + " ("
                    + machine.fileSystem() + ", no fsync)";
            log.println("server: " + server);
            S3StoreConfig storeConfig = S3StoreConfig.builder(BUCKET).prefix("engine").endpoint(s3.endpoint())
                    .region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey())
                    .partSize(PART_BYTES).uploadConcurrency(UPLOAD_CONCURRENCY).deadline(CheckpointWait.LIMIT).build();
            try (S3Transfers sdk = new S3Transfers(s3.endpoint(), EmbeddedS3.REGION, s3.accessKey(), s3.secretKey(),
                    BUCKET, PART_BYTES, RANGES_IN_FLIGHT)) {
                long[] expected = new long[1];
                compression = uploadPhase(state, storeConfig, sdk, figures, expected);
                restorePhase(state, target, storeConfig, sdk, figures, expected[0]);
            }
        }
        S3BenchResults.Setup setup = new S3BenchResults.Setup(bytes, state.tensorSizes(), chunkBytes, cores,
                stagingBytes, CairnConfig.DEFAULT_COMPRESSION_LEVEL, reps, PART_BYTES, UPLOAD_CONCURRENCY,
                IO_THREADS_PER_TIER, RANGES_IN_FLIGHT, work.toString());
        List<Comparison> comparisons = List.of(
                new Comparison("s3UploadOverTransferManager", "upload to S3 tier vs TransferManager upload",
                        Figure.find(figures, UPLOAD_S3), Figure.find(figures, UPLOAD_TM), Measure.THROUGHPUT, UPLOAD_GOAL),
                new Comparison("promotedUploadOverTransferManager", "memory->S3 promotion vs TransferManager upload",
                        Figure.find(figures, UPLOAD_PROMOTED), Figure.find(figures, UPLOAD_TM), Measure.THROUGHPUT, Double.NaN),
                new Comparison("s3RestoreOverTransferManager", "restore from S3 vs TransferManager download",
                        Figure.find(figures, RESTORE_S3), Figure.find(figures, DOWNLOAD_TM), Measure.THROUGHPUT, RESTORE_GOAL),
                new Comparison("s3RestoreCpuOverTransferManager", "CPU of the restore vs of the download (both with the server)",
                        Figure.find(figures, RESTORE_S3_CPU), Figure.find(figures, DOWNLOAD_TM_CPU), Measure.TIME, Double.NaN),
                new Comparison("s3RestoreOverRangedGets", "restore from S3 vs " + RANGES_IN_FLIGHT + " ranged GETs in flight",
                        Figure.find(figures, RESTORE_S3), Figure.find(figures, DOWNLOAD_RANGES), Measure.THROUGHPUT, Double.NaN));
        return new S3BenchResults(Instant.now(), machine, setup, server, figures, comparisons, compression, true,
                prepared.loadBefore(), MachineInfo.loadAverage());
    }

    /**
     * Saves to an S3-only config and to a memory-then-S3 config, each timed until committed in S3, interleaved with
     * TransferManager uploads of the same bytes; returns the S3 tier's raw/stored bytes. {@code expected[0]} gets the
     * CRC32C of the state the S3-only run last committed.
     */
    private double uploadPhase(SyntheticState state, S3StoreConfig storeConfig, S3Transfers sdk, List<Figure> figures,
                               long[] expected) throws IOException {
        int reps = options.repetitions();
        long[] direct = new long[reps];
        long[] promoted = new long[reps];
        long[] tm = new long[reps];
        CommitReport last = null;
        log.printf("[1/2] upload to S3: engine (S3 only; memory then S3) vs TransferManager, %d repetitions%n", reps);
        try (S3ObjectStore s3Only = new S3ObjectStore(storeConfig);
             S3ObjectStore s3Second = new S3ObjectStore(storeConfig);
             MemoryObjectStore memory = new MemoryObjectStore(2 * state.bytes() + state.bytes() / 4 + (64L << 20));
             Checkpointer direct0 = Checkpointer.open(config(S3_RUN).tier(TierConfig.of(S3, s3Only).keepLast(1)).build());
             Checkpointer promoted0 = Checkpointer.open(config(PROMOTED_RUN)
                     .tier(TierConfig.of(MEMORY, memory).keepLast(1))
                     .tier(TierConfig.of(S3, s3Second).keepLast(1)).build())) {
            long step = 0;
            // Warm-up of all three (JIT, connections, staging), not timed.
            long t0 = System.nanoTime();
            saveToS3(direct0, ++step, state);
            saveToS3(promoted0, step, state);
            sdk.upload(OBJECT_KEY, state.buffers());
            log.printf("  warm-up of the three: %s%n", ReportTable.time(System.nanoTime() - t0));
            for (int r = 0; r < reps; r++) {
                step++;
                // Rotate the order so that none of the three always runs first (or after the same one).
                for (int k = 0; k < 3; k++) {
                    switch ((r + k) % 3) {
                        case 0 -> {
                            t0 = System.nanoTime();
                            last = saveToS3(direct0, step, state);
                            direct[r] = System.nanoTime() - t0;
                            expected[0] = state.crc32c();
                            direct0.gc(false);
                        }
                        case 1 -> {
                            t0 = System.nanoTime();
                            saveToS3(promoted0, step, state);
                            promoted[r] = System.nanoTime() - t0;
                            promoted0.gc(false);
                        }
                        default -> tm[r] = sdk.upload(OBJECT_KEY, state.buffers());
                    }
                }
                log.printf("  rep %d: S3 tier %s (%s), memory->S3 %s (%s), TransferManager %s (%s)%n", r + 1,
                        ReportTable.time(direct[r]), rate(state, direct[r]), ReportTable.time(promoted[r]), rate(state, promoted[r]),
                        ReportTable.time(tm[r]), rate(state, tm[r]));
            }
        }
        long bytes = state.bytes();
        figures.add(new Figure(UPLOAD_S3, "save() until committed in an S3-only tier", bytes, direct));
        figures.add(new Figure(UPLOAD_PROMOTED, "save() until committed in S3, memory tier first (promotion)", bytes, promoted));
        figures.add(new Figure(UPLOAD_TM, "TransferManager multipart upload of the state, one object", bytes, tm));
        return last.rawBytes() / (double) last.storedBytes();
    }

    /** Perturbs the state, saves it, waits until S3 has committed it; the caller times the whole. */
    private CommitReport saveToS3(Checkpointer cp, long step, SyntheticState state) {
        state.perturb(++round);
        CheckpointHandle h = cp.save(step, state.state());
        CommitReport report = CheckpointWait.await(h.committed(S3));
        CheckpointWait.await(h.done());
        return report;
    }

    /** Restores from an S3-only config, interleaved with a TransferManager download and ranged GETs of the object. */
    private void restorePhase(SyntheticState state, List<ByteBuffer> target, S3StoreConfig storeConfig, S3Transfers sdk,
                              List<Figure> figures, long expected) throws IOException {
        int reps = options.repetitions();
        long[] restore = new long[reps];
        long[] tm = new long[reps];
        long[] ranged = new long[reps];
        long[] restoreCpu = new long[reps];
        long[] tmCpu = new long[reps];
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        // The object holds the bytes of the last upload: the state as it was then.
        sdk.upload(OBJECT_KEY, state.buffers());
        long objectCrc = state.crc32c();
        log.printf("[2/2] restore from S3 (S3-only config) vs TransferManager download and %d ranged GETs in flight,"
                + " %d repetitions%n", RANGES_IN_FLIGHT, reps);
        try (S3ObjectStore s3 = new S3ObjectStore(storeConfig);
             Checkpointer cp = Checkpointer.open(config(S3_RUN).tier(TierConfig.of(S3, s3).keepLast(1)).build())) {
            for (int r = 0; r < reps; r++) {
                for (int k = 0; k < 3; k++) {
                    switch ((r + k) % 3) {
                        case 0 -> {
                            state.zero();
                            long c0 = os.getProcessCpuTime();
                            long t0 = System.nanoTime();
                            RestoreResult result = cp.restore(RestoreRequest.latest().into(state.state()));
                            restore[r] = System.nanoTime() - t0;
                            restoreCpu[r] = os.getProcessCpuTime() - c0;
                            if (!result.tier().equals(S3) || state.crc32c() != expected) {
                                throw new IllegalStateException("restore " + (r + 1) + " from tier " + result.tier()
                                        + " did not give back the saved bytes");
                            }
                        }
                        case 1 -> {
                            zero(target);
                            long c0 = os.getProcessCpuTime();
                            tm[r] = sdk.download(OBJECT_KEY, target);
                            tmCpu[r] = os.getProcessCpuTime() - c0;
                            check(target, objectCrc, "TransferManager download " + (r + 1));
                        }
                        default -> {
                            zero(target);
                            ranged[r] = sdk.rangedDownload(OBJECT_KEY, target);
                            check(target, objectCrc, "ranged download " + (r + 1));
                        }
                    }
                }
                log.printf("  rep %d: restore %s (%s, bit-exact, CPU %s), TransferManager download %s (%s, CPU %s),"
                                + " ranged GETs %s (%s)%n", r + 1, ReportTable.time(restore[r]), rate(state, restore[r]),
                        ReportTable.time(restoreCpu[r]), ReportTable.time(tm[r]), rate(state, tm[r]), ReportTable.time(tmCpu[r]),
                        ReportTable.time(ranged[r]), rate(state, ranged[r]));
            }
        }
        long bytes = state.bytes();
        figures.add(new Figure(RESTORE_S3, "restore latest from S3 into the state (verified)", bytes, restore));
        figures.add(new Figure(DOWNLOAD_TM, "TransferManager download of the object (one GET stream)", bytes, tm));
        figures.add(new Figure(DOWNLOAD_RANGES, "ranged GETs of the object, " + ByteSize.format(PART_BYTES) + " each, "
                + RANGES_IN_FLIGHT + " in flight", bytes, ranged));
        // Where the time of each side goes on a machine whose cores the server shares: the engine also decodes and
        // verifies what it reads, the download only copies, so on 2 cores the restore's extra CPU is its extra time.
        figures.add(new Figure(RESTORE_S3_CPU, "process CPU during the restore (engine + server)", bytes, restoreCpu));
        figures.add(new Figure(DOWNLOAD_TM_CPU, "process CPU during the download (SDK + server)", bytes, tmCpu));
    }

    private CairnConfig.Builder config(String run) {
        // Differential chunks off: every save changes one value per chunk to measure the full write path, which
        // differential chunks would turn into tiny XORs (the codec benchmark measures those).
        return CairnConfig.builder(run).differential(1)
                .chunkBytes(chunkBytes)
                .encoderThreads(cores)
                .stagingBytes(stagingBytes)
                .gcGrace(Duration.ZERO)
                .deadline(CheckpointWait.LIMIT);
    }

    private static String rate(SyntheticState state, long nanos) {
        return ByteSize.rate(state.bytes() * 1e9 / Math.max(1, nanos));
    }

    private static void zero(List<ByteBuffer> buffers) {
        byte[] zeros = new byte[1 << 20];
        for (ByteBuffer buf : buffers) {
            ByteBuffer d = buf.duplicate().clear();
            while (d.hasRemaining()) {
                d.put(zeros, 0, Math.min(zeros.length, d.remaining()));
            }
        }
    }

    private static void check(List<ByteBuffer> buffers, long expected, String what) {
        CRC32C crc = new CRC32C();
        for (ByteBuffer buf : buffers) {
            crc.update(buf.duplicate().clear());
        }
        if (crc.getValue() != expected) {
            throw new IllegalStateException(what + " did not give back the uploaded bytes");
        }
    }
}
