package dev.cairn.bench;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.bench.Comparison.Measure;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

/**
 * The end-to-end benchmark: the engine ({@code cairn-tiers}) on the memory and file-system backends, each figure
 * measured beside the machine's own limit for the same work, in the same run, on the same bytes, repetitions of the
 * two interleaved so that a noisy neighbour hits both alike.
 * <ol>
 * <li><b>Stall</b>: how long {@code save(step, state)} blocks the caller in COPY mode (memory tier, staging of
 *     1.25x the state) against one plain copy of the same bytes into preallocated off-heap memory; also the ZERO_COPY
 *     stall and how long ZERO_COPY holds the caller's buffers.</li>
 * <li><b>Persist</b>: from {@code save} to {@code done()} on a disk tier ({@link FileSystemObjectStore}), against
 *     writing the same bytes sequentially to one new file with {@code FileChannel} and {@code force(true)}, as a plain
 *     writer does. Each starts with the file system settled ({@link Baselines#settle}): the deletions the other left
 *     (the previous checkpoint's chunk files that GC removed, the write's file) are finished first. The same write
 *     taken right after the GC, unsettled, is reported beside it: that is how the limit was taken before, and it
 *     paid for the GC's deletions.</li>
 * <li><b>Restore</b>: {@code restore(latest().into(state))} from that disk tier against reading the very chunk files
 *     it reads and decoding them with zstd-jni. Neither side can drop the page cache (that needs root), so both read
 *     what the writes left in it.</li>
 * </ol>
 * Every save after the first changes one value per chunk first, so that every chunk is new to the engine (as after a
 * real training step) and nothing is skipped by content dedup.
 */
public final class EndToEndBenchmark {
    public static final String COPY = "copy";
    public static final String STALL_COPY = "stall.copy";
    public static final String STALL_COPY_CPU = "stall.copy.callerCpu";
    public static final String STALL_ZERO_COPY = "stall.zeroCopy";
    public static final String HELD_ZERO_COPY = "held.zeroCopy";
    public static final String COMMIT_MEMORY = "commit.memory";
    public static final String STALL_DISK = "stall.disk";
    public static final String PERSIST_DISK = "persist.disk";
    public static final String PERSIST_DISK_BUFFERED = "persist.disk.buffered";
    public static final String WRITE_FSYNC = "write.fsync";
    public static final String WRITE_FSYNC_AFTER_GC = "write.fsync.afterGc";
    public static final String SETTLE_AFTER_GC = "settle.afterGc";
    public static final String RESTORE_DISK = "restore.disk";
    public static final String READ_DECODE_1 = "readDecode.1thread";
    public static final String READ_DECODE_N = "readDecode.allThreads";
    public static final String READ_FORMAT_1 = "readDecodeFormat.1thread";
    public static final String READ_FORMAT_N = "readDecodeFormat.allThreads";
    public static final String HASH_N = "hash.allThreads";
    public static final String VERIFIED_1 = "readDecodeHash.1thread";
    public static final String HASH_IN_CACHE_1 = "hashAfterDecode.1thread";
    /** Fast-recovery goal 5: a verified restore from disk at least 0.8x reading and decoding the same files. */
    static final double RESTORE_GOAL = 0.8;
    /** Fast-recovery goal 6: verifying every chunk's hash costs at most 15 % of a restore. */
    static final double VERIFY_SHARE_GOAL = 0.15;

    static final String MEMORY = "memory";
    static final String DISK = "disk";
    private static final String STALL_RUN = "bench-stall";
    private static final String PERSIST_RUN = "bench-persist";
    private static final String BUFFERED_RUN = "bench-persist-buffered";
    private static final double STALL_GOAL = 1.2;
    private static final double PERSIST_GOAL = 0.8;
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private final BenchOptions options;
    private final PrintStream log;
    private final int cores = Runtime.getRuntime().availableProcessors();
    private final int chunkBytes = BenchOptions.CHUNK_BYTES;
    private final long stagingBytes;
    private final long memoryTierLimit;
    private long round;

    private EndToEndBenchmark(BenchOptions options, PrintStream log) {
        this.options = options;
        this.log = log;
        long bytes = options.stateBytes();
        this.stagingBytes = Math.max(bytes + bytes / 4, CairnConfig.minimumStagingBytes(chunkBytes, cores));
        // Keep-last-1 holds one checkpoint while the next is written: two states' worth, plus room for framing.
        this.memoryTierLimit = 2 * bytes + bytes / 4 + (64L << 20);
    }

    /** The direct memory (outside the engine's own allocator) a run of {@code stateBytes} needs: state and copy target. */
    public static long directBytesNeeded(long stateBytes) {
        return 2 * stateBytes + (64L << 20);
    }

    /**
     * Runs the benchmark, printing progress to {@code log}, and returns what it measured. Works in a new directory
     * under {@code options.parentDir()} (or the current directory) and deletes it afterwards.
     *
     * @throws IOException           when the disk figures cannot be taken
     * @throws CheckpointException   when the engine fails (the benchmark does not hide a failing save or restore)
     * @throws IllegalStateException when the JVM lacks the direct memory for the state, or a restore is not bit-exact
     */
    public static BenchResults run(BenchOptions options, PrintStream log) throws IOException {
        return new EndToEndBenchmark(options, log).execute();
    }

    private BenchResults execute() throws IOException {
        PreparedState.requireDirectMemory(options.stateBytes());
        // A run stopped with Ctrl-C or kill should not leave gigabytes behind either.
        try (WorkDirectory work = WorkDirectory.create(options.parentDir(), "cairn-bench-")
                .deletedOnShutdown("cairn-bench-cleanup")) {
            return measure(work.path());
        }
    }

    private BenchResults measure(Path work) throws IOException {
        PreparedState prepared = PreparedState.prepare(options.stateBytes(), chunkBytes, work, log);
        MachineInfo machine = prepared.machine();
        SyntheticState state = prepared.state();
        List<ByteBuffer> target = prepared.target();
        BenchResults.Setup setup = new BenchResults.Setup(state.bytes(), state.tensorSizes(), chunkBytes, cores,
                stagingBytes, CairnConfig.DEFAULT_COMPRESSION_LEVEL, options.repetitions(), memoryTierLimit, work.toString());
        List<Figure> figures = new ArrayList<>();
        long coldStall = stallPhase(state, target, figures);
        double compression = persistPhase(state, work, figures);
        restorePhase(state, target, work, figures);
        List<Comparison> comparisons = List.of(
                new Comparison("stallOverCopy", "save stall (COPY) vs plain copy", Figure.find(figures, STALL_COPY),
                        Figure.find(figures, COPY), Measure.TIME, STALL_GOAL),
                new Comparison("zeroCopyStallOverCopy", "save stall (ZERO_COPY) vs plain copy", Figure.find(figures, STALL_ZERO_COPY),
                        Figure.find(figures, COPY), Measure.TIME, Double.NaN),
                new Comparison("persistOverWrite", "persist to disk vs write+fsync", Figure.find(figures, PERSIST_DISK),
                        Figure.find(figures, WRITE_FSYNC), Measure.THROUGHPUT, PERSIST_GOAL),
                new Comparison("persistOverBuffered", "persist to disk vs the same, buffered writes", Figure.find(figures, PERSIST_DISK),
                        Figure.find(figures, PERSIST_DISK_BUFFERED), Measure.THROUGHPUT, Double.NaN),
                new Comparison("restoreOverReadDecode", "restore vs read+decode, 1 thread", Figure.find(figures, RESTORE_DISK),
                        Figure.find(figures, READ_DECODE_1), Measure.THROUGHPUT, Double.NaN),
                new Comparison("restoreOverReadDecodeAllThreads", "restore vs read+decode, " + cores + " threads",
                        Figure.find(figures, RESTORE_DISK), Figure.find(figures, READ_DECODE_N), Measure.THROUGHPUT, Double.NaN),
                new Comparison("restoreOverReadFormat", "restore vs read+full decode, 1 thread", Figure.find(figures, RESTORE_DISK),
                        Figure.find(figures, READ_FORMAT_1), Measure.THROUGHPUT, Double.NaN),
                new Comparison("restoreOverReadFormatAllThreads", "restore vs read+full decode, " + cores + " threads",
                        Figure.find(figures, RESTORE_DISK), Figure.find(figures, READ_FORMAT_N), Measure.THROUGHPUT, RESTORE_GOAL),
                new Comparison("verifyShareOfRestore", "hashing vs read+decode+hash, 1 thread",
                        Figure.find(figures, HASH_IN_CACHE_1), Figure.find(figures, VERIFIED_1), Measure.TIME, VERIFY_SHARE_GOAL));
        return new BenchResults(Instant.now(), machine, setup, figures, comparisons, compression, coldStall, true,
                prepared.loadBefore(), MachineInfo.loadAverage());
    }

    /** Stall of COPY and ZERO_COPY saves into a memory tier, interleaved with plain copies; returns the cold stall. */
    private long stallPhase(SyntheticState state, List<ByteBuffer> target, List<Figure> figures) throws IOException {
        int reps = options.repetitions();
        long[] copy = new long[reps];
        long[] stall = new long[reps];
        long[] stallCpu = new long[reps];
        long[] commit = new long[reps];
        long[] zeroStall = new long[reps];
        long[] held = new long[reps];
        long cold;
        log.printf("[1/3] save stall: memory tier, staging %s, %d repetitions%n", ByteSize.format(stagingBytes), reps);
        try (MemoryObjectStore memory = new MemoryObjectStore(memoryTierLimit);
             Checkpointer cp = Checkpointer.open(config(STALL_RUN, TierConfig.of(MEMORY, memory).keepLast(1)))) {
            long step = 0;
            state.perturb(++round);
            long t0 = System.nanoTime();
            CheckpointHandle first = cp.save(++step, state.state());
            cold = System.nanoTime() - t0;
            CheckpointWait.await(first.done());
            cp.gc(false);
            log.printf("  first save (allocates staging): stall %s%n", ReportTable.time(cold));
            for (int r = 0; r < reps; r++) {
                copy[r] = Baselines.copy(state.buffers(), target);
                state.perturb(++round);
                long cpu0 = THREADS.getCurrentThreadCpuTime();
                t0 = System.nanoTime();
                CheckpointHandle h = cp.save(++step, state.state());
                stall[r] = System.nanoTime() - t0;
                stallCpu[r] = THREADS.getCurrentThreadCpuTime() - cpu0;
                CheckpointWait.await(h.done());
                commit[r] = System.nanoTime() - t0;
                cp.gc(false);
                log.printf("  rep %d: copy %s, COPY stall %s (on CPU %s), committed in memory after %s%n", r + 1,
                        ReportTable.time(copy[r]), ReportTable.time(stall[r]), ReportTable.time(stallCpu[r]), ReportTable.time(commit[r]));
            }
            for (int r = 0; r < reps; r++) {
                state.perturb(++round);
                t0 = System.nanoTime();
                CheckpointHandle h = cp.save(++step, state.state(), SaveMode.ZERO_COPY);
                zeroStall[r] = System.nanoTime() - t0;
                CheckpointWait.await(h.captured());
                held[r] = System.nanoTime() - t0;
                CheckpointWait.await(h.done());
                cp.gc(false);
                log.printf("  rep %d: ZERO_COPY stall %s, buffers held %s%n", r + 1, ReportTable.time(zeroStall[r]),
                        ReportTable.time(held[r]));
            }
        }
        long bytes = state.bytes();
        figures.add(new Figure(COPY, "plain copy of the state into preallocated off-heap memory", bytes, copy));
        figures.add(new Figure(STALL_COPY, "save() stall, COPY mode, memory tier", bytes, stall));
        figures.add(new Figure(STALL_COPY_CPU, "save() stall, COPY: of it, the caller on a CPU", bytes, stallCpu));
        figures.add(new Figure(COMMIT_MEMORY, "save() until committed in the memory tier", bytes, commit));
        figures.add(new Figure(STALL_ZERO_COPY, "save() stall, ZERO_COPY mode, memory tier", 0, zeroStall));
        figures.add(new Figure(HELD_ZERO_COPY, "ZERO_COPY: save() until captured (buffers held)", bytes, held));
        return cold;
    }

    /** Saves to a disk tier timed to done(), interleaved with a sequential write + fsync; returns raw/stored bytes. */
    private double persistPhase(SyntheticState state, Path work, List<Figure> figures) throws IOException {
        int reps = options.repetitions();
        long[] persist = new long[reps];
        long[] buffered = new long[reps];
        long[] diskStall = new long[reps];
        long[] write = new long[reps];
        long[] writeAfterGc = new long[reps];
        long[] settleAfterGc = new long[reps];
        CommitReport last = null;
        Path sequential = work.resolve("sequential.bin");
        log.printf("[2/3] persist to disk: %s (%s), %d repetitions%n", work, MachineInfo.probe(work).fileSystem(), reps);
        // The disk tier as configured by default (chunks written past the page cache where the file system takes it),
        // and the same with buffered writes, interleaved: what direct writes change, on the same bytes in the same run.
        try (FileSystemObjectStore disk = new FileSystemObjectStore(work.resolve("store"));
             FileSystemObjectStore bufferedDisk = new FileSystemObjectStore(work.resolve("store-buffered"), false);
             Checkpointer cp = Checkpointer.open(config(PERSIST_RUN, TierConfig.of(DISK, disk).keepLast(1)));
             Checkpointer bufferedCp = Checkpointer.open(config(BUFFERED_RUN, TierConfig.of(DISK, bufferedDisk).keepLast(1)))) {
            long step = 0;
            state.perturb(++round);
            long t0 = System.nanoTime();
            CheckpointWait.await(cp.save(++step, state.state()).done());
            cp.gc(false);
            state.perturb(++round);
            CheckpointWait.await(bufferedCp.save(step, state.state()).done());
            bufferedCp.gc(false);
            log.printf("  warm-up saves: %s (both)%n", ReportTable.time(System.nanoTime() - t0));
            // The limit's warm-up, as the saves had theirs: on this VM the first buffered GiB a process writes took
            // 3-5 s against about 1 s later (bench/RESULTS.md, "Time until durable on disk, again"), which made the limit's median the warm-up.
            log.printf("  warm-up write + fsync: %s%n", ReportTable.time(writeSettled(state, sequential, work)));
            // Orders: limit, save, buffered save; then buffered save, save, limit. The limit never comes right after the
            // buffered save, whose GC frees 851 MiB of page cache: a buffered GiB written next took 2-4 s here.
            for (int r = 0; r < reps; r++) {
                boolean baselineFirst = r % 2 == 0;
                if (baselineFirst) {
                    write[r] = writeSettled(state, sequential, work);
                } else {
                    buffered[r] = persistOnce(bufferedCp, step + 1, state, work);
                }
                state.perturb(++round);
                Baselines.settle(work);
                t0 = System.nanoTime();
                CheckpointHandle h = cp.save(++step, state.state());
                diskStall[r] = System.nanoTime() - t0;
                last = CheckpointWait.await(h.done()).get(0);
                persist[r] = System.nanoTime() - t0;
                cp.gc(false);
                writeAfterGc[r] = writeOnce(state, sequential);
                settleAfterGc[r] = Baselines.settle(work);
                if (baselineFirst) {
                    buffered[r] = persistOnce(bufferedCp, step, state, work);
                } else {
                    write[r] = writeSettled(state, sequential, work);
                }
                log.printf("  rep %d: persist %s (%s), buffered writes %s, write+fsync %s (%s); unsettled after GC %s%n", r + 1,
                        ReportTable.time(persist[r]), ByteSize.rate(state.bytes() * 1e9 / persist[r]), ReportTable.time(buffered[r]),
                        ReportTable.time(write[r]), ByteSize.rate(state.bytes() * 1e9 / write[r]),
                        ReportTable.time(writeAfterGc[r]));
            }
            if (!disk.writesDirect()) {
                log.printf("  (this file system takes no direct writes: both disk tiers wrote through the page cache)%n");
            }
        }
        long bytes = state.bytes();
        figures.add(new Figure(STALL_DISK, "save() stall, COPY mode, disk tier", bytes, diskStall));
        figures.add(new Figure(PERSIST_DISK, "persist: save() until committed on disk (fsynced)", bytes, persist));
        figures.add(new Figure(PERSIST_DISK_BUFFERED, "the same with buffered writes (directWrites false)", bytes, buffered));
        figures.add(new Figure(WRITE_FSYNC, "sequential write of the state to one new file + fsync", bytes, write));
        figures.add(new Figure(WRITE_FSYNC_AFTER_GC, "the same right after the save's GC, unsettled (limit before)", bytes,
                writeAfterGc));
        figures.add(new Figure(SETTLE_AFTER_GC, "force of the directory after the save's GC and that write", 0, settleAfterGc));
        return last.rawBytes() / (double) last.storedBytes();
    }

    /**
     * One save of a changed state as {@code step} into {@code cp}'s disk tier, settled first; until committed. The state
     * is then put back as the last save before it left it (a perturbation replaces values, it does not add to them),
     * so that the restore phase finds the bytes of the main disk tier's newest checkpoint.
     */
    private long persistOnce(Checkpointer cp, long step, SyntheticState state, Path work) throws IOException {
        long before = round;
        state.perturb(++round); // every chunk changes: nothing is found stored
        Baselines.settle(work);
        long t0 = System.nanoTime();
        CheckpointWait.await(cp.save(step, state.state()).done());
        long took = System.nanoTime() - t0;
        cp.gc(false);
        state.perturb(before);
        return took;
    }

    /** The limit: a write + fsync of the state into a new file, with the file system settled first. */
    private static long writeSettled(SyntheticState state, Path file, Path work) throws IOException {
        Baselines.settle(work);
        return writeOnce(state, file);
    }

    private static long writeOnce(SyntheticState state, Path file) throws IOException {
        try {
            return Baselines.writeAndForce(state.buffers(), file);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Restores of the last persisted step into the state's own buffers, interleaved with read + decode of its chunk files. */
    private void restorePhase(SyntheticState state, List<ByteBuffer> target, Path work, List<Figure> figures)
            throws IOException {
        int reps = options.repetitions();
        long[] restore = new long[reps];
        long[] read1 = new long[reps];
        long[] readN = new long[reps];
        long[] format1 = new long[reps];
        long[] formatN = new long[reps];
        long[] hashN = new long[reps];
        long[] verified1 = new long[reps];
        long[] hashed1 = new long[reps];
        long expected = state.crc32c();
        List<ByteBuffer> slots = Baselines.slots(target, chunkBytes);
        log.printf("[3/3] restore from disk (reads from the page cache, on both sides), %d repetitions%n", reps);
        ExecutorService pool = Executors.newFixedThreadPool(cores);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(work.resolve("store"));
             Checkpointer cp = Checkpointer.open(config(PERSIST_RUN, TierConfig.of(DISK, disk).keepLast(1)))) {
            List<Path> chunkFiles = chunkFiles(disk.root().resolve(PERSIST_RUN).resolve("chunks"));
            // The disk tier wrote the chunk files past the page cache (direct writes): one untimed restore reads them
            // into it, so that every timed restore and every limit reads from memory.
            state.zero();
            cp.restore(RestoreRequest.latest().into(state.state()));
            for (int r = 0; r < reps; r++) {
                boolean baselineFirst = r % 2 == 1;
                if (baselineFirst) {
                    limits(chunkFiles, slots, pool, r, read1, readN, format1, formatN, hashN, verified1, hashed1);
                }
                state.zero();
                long t0 = System.nanoTime();
                RestoreResult result = cp.restore(RestoreRequest.latest().into(state.state()));
                restore[r] = System.nanoTime() - t0;
                if (!result.tier().equals(DISK) || state.crc32c() != expected) {
                    throw new IllegalStateException("restore " + (r + 1) + " from tier " + result.tier()
                            + " did not give back the saved bytes");
                }
                if (!baselineFirst) {
                    limits(chunkFiles, slots, pool, r, read1, readN, format1, formatN, hashN, verified1, hashed1);
                }
                log.printf("  rep %d: restore %s (bit-exact), read+zstd %s on 1 thread, %s on %d; read+full decode %s, %s;"
                        + " hash %s%n", r + 1, ReportTable.time(restore[r]), ReportTable.time(read1[r]), ReportTable.time(readN[r]),
                        cores, ReportTable.time(format1[r]), ReportTable.time(formatN[r]), ReportTable.time(hashN[r]));
            }
        } finally {
            pool.shutdownNow();
        }
        long bytes = state.bytes();
        figures.add(new Figure(RESTORE_DISK, "restore latest from disk into the state (verified)", bytes, restore));
        figures.add(new Figure(READ_DECODE_1, "read + zstd decode of the stored chunk files, 1 thread", bytes, read1));
        figures.add(new Figure(READ_DECODE_N, "read + zstd decode of the stored chunk files, " + cores + " threads", bytes, readN));
        figures.add(new Figure(READ_FORMAT_1, "read + full decode (zstd, planes joined), 1 thread", bytes, format1));
        figures.add(new Figure(READ_FORMAT_N, "read + full decode (zstd, planes joined), " + cores + " threads", bytes, formatN));
        figures.add(new Figure(HASH_N, "XXH3-128 of the restored state, " + cores + " threads", bytes, hashN));
        figures.add(new Figure(VERIFIED_1, "read + full decode + XXH3 of each chunk, 1 thread", bytes, verified1));
        figures.add(new Figure(HASH_IN_CACHE_1, "of it, XXH3 of each chunk just decoded", bytes, hashed1));
    }

    /** The limits of repetition {@code r}, each on the same stored files (the slots hold garbage afterwards). */
    private void limits(List<Path> chunkFiles, List<ByteBuffer> slots, ExecutorService pool, int r, long[] read1, long[] readN,
                        long[] format1, long[] formatN, long[] hashN, long[] verified1, long[] hashed1) throws IOException {
        read1[r] = Baselines.readAndDecode(chunkFiles, slots, 1, pool, Baselines.Decode.ZSTD_FRAMES);
        readN[r] = Baselines.readAndDecode(chunkFiles, slots, cores, pool, Baselines.Decode.ZSTD_FRAMES);
        format1[r] = Baselines.readAndDecode(chunkFiles, slots, 1, pool, Baselines.Decode.FORMAT);
        formatN[r] = Baselines.readAndDecode(chunkFiles, slots, cores, pool, Baselines.Decode.FORMAT);
        hashN[r] = Baselines.hash(slots, cores, pool);
        long[] hashing = new long[1];
        verified1[r] = Baselines.readDecodeAndHash(chunkFiles, slots, hashing);
        hashed1[r] = hashing[0];
    }

    private CairnConfig config(String run, TierConfig tier) {
        // Differential chunks off: every save changes one value per chunk to measure the full write path, which
        // differential chunks would turn into tiny XORs (the codec benchmark measures those).
        return CairnConfig.builder(run).differential(1)
                .tier(tier)
                .chunkBytes(chunkBytes)
                .encoderThreads(cores)
                .stagingBytes(stagingBytes)
                .gcGrace(Duration.ZERO)
                .deadline(CheckpointWait.LIMIT)
                .build();
    }

    private static List<Path> chunkFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).sorted().toList();
        }
    }
}
