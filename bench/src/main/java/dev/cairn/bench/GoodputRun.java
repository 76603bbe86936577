package dev.cairn.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.examples.QuietLogging;
import dev.cairn.examples.mlp.MlpSpec;
import dev.cairn.examples.mlp.MlpTraining;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * One measured training run of the goodput benchmark, in a JVM of its own (started by {@link GoodputBenchmark}, so
 * that the embedded S3 server's work and the parent's JIT do not count as this run's CPU): trains the DJL example's
 * MLP for warm-up plus measured steps, saving as {@link GoodputBenchmark.Setting} says, and prints one record per
 * line:
 * <pre>
 * ready state-bytes &lt;b&gt; parameters &lt;n&gt; copy-ns &lt;n,n,...&gt;     one plain copy of the state into direct memory
 * first-stall-ns &lt;n&gt;                                         save() of the checkpointer's first save (warm-up)
 * warmup steps &lt;n&gt; ns &lt;n&gt; jit-ms &lt;n&gt; quiet &lt;true|false&gt; windows &lt;s/ms/ms,...&gt;  the warm-up ({@link JitQuiet})
 * step &lt;i&gt; step-ns &lt;n&gt; stall-ns &lt;n&gt;[ skipped]                each measured step (stall 0: no save that step; printed after the last)
 * cpu process-ns &lt;n&gt; training-ns &lt;n&gt; jit-ms &lt;n&gt;                 over the measured steps: CPU of the whole JVM and of
 *                                                               the training thread, compilation time
 * drain-ns &lt;n&gt; drain-cpu-ns &lt;n&gt; failed &lt;saves&gt;                 after the last step, until every save was done
 * thread-cpu-ns &lt;kind&gt;=&lt;n&gt;,...                                CPU of the Java threads by kind, measured steps + drain
 * thread-user-ns &lt;kind&gt;=&lt;n&gt;,...                               the same, user time only (the rest is the kernel's)
 * committed &lt;tier&gt;=&lt;checkpoints&gt;,...                          commits per tier over the whole run
 * floor-ns &lt;n,n,...&gt;                                         then: that copy and the engine's content hash of each
 *                                                               chunk of it, in this thread's CPU time, its code as warm as the saves'
 * done
 * </pre>
 * Arguments: {@code SETTING MODEL MIN-WARMUP MAX-WARMUP STEPS DIR [S3-ENDPOINT BUCKET]}: warm-up steps run until
 * the JIT is quiet ({@link JitQuiet}), at least MIN-WARMUP and at most MAX-WARMUP of them, in every setting, the one
 * without checkpoints included, S3 keys in the environment
 * ({@code CAIRN_BENCH_S3_ACCESS} / {@code CAIRN_BENCH_S3_SECRET}), never on the command line.
 */
public final class GoodputRun {
    static final String RUN = "goodput";
    /** Far more than any save here needs; only reached if the engine stops completing saves. */
    private static final Duration DRAIN_LIMIT = Duration.ofMinutes(10);
    private static final int COPY_REPS = 9;
    /** More than the copy's: measured beside the engine's threads finishing the last saves, on a loaded machine. */
    private static final int FLOOR_REPS = 31;
    /** System property naming a file for a recording of the measured steps ({@link GoodputBenchmark#JFR_ENV}). */
    static final String JFR_PROPERTY = "cairn.bench.goodput.jfr";
    /**
     * System property naming a JFR settings file ({@code .jfc}) for that recording instead of JFR's "profile" (which
     * samples each thread every 10 ms: a few hundred samples of a thread in a run of 400 steps); e.g. a copy of
     * {@code profile.jfc} with {@code method-sampling-java-interval} at 1 ms.
     */
    static final String JFR_SETTINGS_PROPERTY = "cairn.bench.goodput.jfc";

    private GoodputRun() {
    }

    public static void main(String[] args) throws Exception {
        QuietLogging.install();
        PrintStream out = System.out;
        try {
            GoodputBenchmark.Setting setting = GoodputBenchmark.Setting.valueOf(args[0]);
            GoodputBenchmark.Model model = GoodputBenchmark.Model.valueOf(args[1]);
            JitQuiet warmup = new JitQuiet(Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    model.warmupWindowSteps());
            int steps = Integer.parseInt(args[4]);
            Path dir = Path.of(args[5]);
            URI s3 = args.length > 6 ? URI.create(args[6]) : null;
            String bucket = args.length > 7 ? args[7] : null;
            run(setting, model, warmup, steps, dir, s3, bucket, out);
            out.println("done");
        } catch (Throwable t) {
            out.println("error " + String.valueOf(t).replace('\n', ' '));
            t.printStackTrace();
            out.flush();
            System.exit(1);
        }
        out.flush();
        System.exit(0); // DJL and the engine may leave non-daemon threads behind
    }

    private static void run(GoodputBenchmark.Setting setting, GoodputBenchmark.Model model, JitQuiet warmup, int steps,
                            Path dir, URI s3Endpoint, String bucket, PrintStream out) throws Exception {
        MlpSpec spec = model.spec();
        try (MlpTraining training = new MlpTraining(spec)) {
            long stateBytes = training.state().byteSize();
            out.println("ready state-bytes " + stateBytes + " parameters " + spec.parameterCount() + " copy-ns "
                    + join(memoryCopies(training.state(), stateBytes)));
            if (setting == GoodputBenchmark.Setting.NONE) {
                measure(training, null, setting, warmup, steps, model.chunkBytes(), out);
                return;
            }
            // The memory tier stores the state uncompressed (its default): keepLast(2), a save being written and one
            // whose writes overlap it, each a whole raw copy of the state plus its frames' headers.
            long memoryLimit = Math.max(256L << 20, 4 * stateBytes + (64L << 20));
            long staging = Math.max(model.stagingBytes(), 2 * stateBytes);
            try (MemoryObjectStore memory = new MemoryObjectStore(memoryLimit);
                 FileSystemObjectStore disk = setting.disk() > 0 ? new FileSystemObjectStore(Files.createDirectories(dir.resolve("disk"))) : null;
                 S3ObjectStore s3 = setting.s3() > 0 ? new S3ObjectStore(s3Config(s3Endpoint, bucket, dir)) : null) {
                CairnConfig.Builder b = CairnConfig.builder(RUN)
                        .tier(TierConfig.of("memory", memory).everySteps(setting.memory()).keepLast(2));
                if (disk != null) {
                    b.tier(TierConfig.of("disk", disk).everySteps(setting.disk()).keepLast(3));
                }
                if (s3 != null) {
                    b.tier(TierConfig.of("s3", s3).everySteps(setting.s3()).keepLast(2));
                }
                if (setting.skip()) {
                    b.whenBusy(dev.cairn.WhenBusy.SKIP);
                }
                CairnConfig config = b.chunkBytes(model.chunkBytes()).stagingBytes(staging)
                        .gcGrace(Duration.ZERO) // one writer, and the engine pins what it has in flight (as TrainMain)
                        .prepareFirstSave(true) // the opt-in against the first save's cliff (issue 18 item 3)
                        .build();
                try (Checkpointer checkpointer = Checkpointer.open(config)) {
                    measure(training, checkpointer, setting, warmup, steps, model.chunkBytes(), out);
                }
            }
        }
    }

    private static void measure(MlpTraining training, Checkpointer checkpointer, GoodputBenchmark.Setting setting,
                                JitQuiet warmup, int steps, int chunkBytes, PrintStream out)
            throws Exception {
        List<CompletableFuture<?>> pending = new ArrayList<>();
        Map<String, AtomicInteger> commits = new ConcurrentSkipListMap<>();
        int[] failed = {0};
        long w0 = System.nanoTime();
        long jit0 = warmup.jitMillis();
        warmup.start();
        // The warm-up runs the very code the measured steps run (one step(), no printing in either), so that what the
        // JIT compiles while it lasts is what is measured afterwards.
        long[] record = new long[3];
        boolean overlap = setting.overlap();
        CompletableFuture<?>[] capturing = new CompletableFuture<?>[1];
        long firstStall = -1;
        boolean firstWaitPending = false;
        boolean more = true;
        while (more) {
            step(training, checkpointer, overlap, capturing, pending, failed, commits, record);
            if (firstWaitPending) {
                firstStall += record[2];
                firstWaitPending = false;
            }
            if (firstStall < 0 && record[1] > 0) {
                firstStall = record[1];
                firstWaitPending = overlap;
            }
            more = warmup.stepDone();
        }
        long jit1 = warmup.jitMillis();
        if (firstStall >= 0) {
            out.println("first-stall-ns " + firstStall);
        }
        out.println("warmup steps " + warmup.steps() + " ns " + (System.nanoTime() - w0) + " jit-ms " + (jit1 - jit0)
                + " quiet " + warmup.quiet() + " windows " + warmup.windows());
        long[] stepNanos = new long[steps];
        long[] stallNanos = new long[steps];
        long[] stepNumbers = new long[steps];
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        OperatingSystemMXBean os = ManagementFactory.getPlatformMXBean(OperatingSystemMXBean.class);
        jdk.jfr.Recording recording = startRecording();
        Map<String, Long> threadCpu0 = cpuByThreadKind(threads, false);
        Map<String, Long> threadUser0 = cpuByThreadKind(threads, true);
        long cpu0 = os.getProcessCpuTime();
        long train0 = threads.getCurrentThreadCpuTime();
        for (int i = 0; i < steps; i++) {
            step(training, checkpointer, overlap, capturing, pending, failed, commits, record);
            stepNanos[i] = record[0];
            stallNanos[i] = record[1];
            stepNumbers[i] = training.step();
            if (i > 0 && stallNanos[i - 1] > 0) {
                stallNanos[i - 1] += record[2]; // the wait before this update belongs to the previous step's save
            }
        }
        if (capturing[0] != null && steps > 0 && stallNanos[steps - 1] > 0) {
            long c0 = System.nanoTime(); // the last save's capture, which the next update would have waited for
            capturing[0].handle((v, e) -> null).join();
            stallNanos[steps - 1] += System.nanoTime() - c0;
        }
        long cpu1 = os.getProcessCpuTime();
        long train1 = threads.getCurrentThreadCpuTime();
        long jit2 = warmup.jitMillis();
        stopRecording(recording);
        for (int i = 0; i < steps; i++) {
            out.println("step " + stepNumbers[i] + " step-ns " + stepNanos[i] + " stall-ns " + Math.abs(stallNanos[i])
                    + (stallNanos[i] < 0 ? " skipped" : ""));
        }
        out.println("cpu process-ns " + (cpu1 - cpu0) + " training-ns " + (train1 - train0) + " jit-ms "
                + (jit2 - jit1));
        long d0 = System.nanoTime();
        CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new))
                .handle((v, e) -> null).get(DRAIN_LIMIT.toNanos(), TimeUnit.NANOSECONDS);
        out.println("drain-ns " + (System.nanoTime() - d0) + " drain-cpu-ns " + (os.getProcessCpuTime() - cpu1)
                + " failed " + failed[0]);
        StringBuilder perThread = new StringBuilder("thread-cpu-ns");
        cpuByThreadKind(threads, false).forEach((kind, ns) -> perThread.append(perThread.length() == 13 ? " " : ",").append(kind)
                .append('=').append(ns - threadCpu0.getOrDefault(kind, 0L)));
        out.println(perThread);
        StringBuilder perThreadUser = new StringBuilder("thread-user-ns");
        cpuByThreadKind(threads, true).forEach((kind, ns) -> perThreadUser.append(perThreadUser.length() == 14 ? " " : ",")
                .append(kind).append('=').append(ns - threadUser0.getOrDefault(kind, 0L)));
        out.println(perThreadUser);
        StringBuilder line = new StringBuilder("committed");
        commits.forEach((tier, n) -> line.append(line.length() == 9 ? " " : ",").append(tier).append('=').append(n.get()));
        out.println(line);
        out.println("floor-ns " + join(copiesAndHashes(training.state(), training.state().byteSize(), chunkBytes)));
    }

    /**
     * With {@code -D}{@value #JFR_PROPERTY}{@code =FILE}: a JDK Flight Recording of the measured steps only (JFR's
     * "profile" settings, thread CPU load every 500 ms), written to FILE after the last: where the CPU goes in the
     * steady state, without the warm-up's compilation. Null without the property.
     */
    private static jdk.jfr.Recording startRecording() throws IOException, java.text.ParseException {
        String file = System.getProperty(JFR_PROPERTY);
        if (file == null || file.isBlank()) {
            return null;
        }
        String settings = System.getProperty(JFR_SETTINGS_PROPERTY);
        jdk.jfr.Recording r = new jdk.jfr.Recording(settings == null || settings.isBlank()
                ? jdk.jfr.Configuration.getConfiguration("profile") : jdk.jfr.Configuration.create(Path.of(settings)));
        r.enable("jdk.ThreadCPULoad").withPeriod(Duration.ofMillis(500));
        r.setDestination(Path.of(file));
        r.start();
        return r;
    }

    private static void stopRecording(jdk.jfr.Recording r) {
        if (r != null) {
            r.stop(); // writes the destination
            r.close();
        }
    }

    /**
     * CPU time of the JVM's live Java threads, summed by kind (the name without its digits: {@code cairn-ring-},
     * {@code cairn-io-memory-}, ...; spaces as underscores), user time only where asked. The JIT's compiler threads are not Java threads and
     * are not in it.
     */
    private static Map<String, Long> cpuByThreadKind(ThreadMXBean threads, boolean userOnly) {
        Map<String, Long> byKind = new java.util.TreeMap<>();
        for (java.lang.management.ThreadInfo info : threads.getThreadInfo(threads.getAllThreadIds())) {
            if (info == null) {
                continue;
            }
            long ns = userOnly ? threads.getThreadUserTime(info.getThreadId()) : threads.getThreadCpuTime(info.getThreadId());
            if (ns > 0) {
                byKind.merge(info.getThreadName().replaceAll("[0-9]+", "").replace(' ', '_'), ns, Long::sum);
            }
        }
        return byKind;
    }

    /**
     * One training step and its save: {@code record[0]} the step's nanoseconds, {@code record[1]} the save() call's
     * stall (0: no tier took the step; the negated stall, at least -1, where whenBusy SKIP skipped it), {@code
     * record[2]} how long this step's update waited for the previous save's capture (overlapped settings only).
     */
    private static void step(MlpTraining training, Checkpointer checkpointer, boolean overlap, CompletableFuture<?>[] capturing,
                             List<CompletableFuture<?>> pending, int[] failed, Map<String, AtomicInteger> commits,
                             long[] record) throws Exception {
        long t0 = System.nanoTime();
        training.forwardBackward();
        long waited = 0;
        if (capturing[0] != null) {
            // Overlapped: the engine copied the previous save's weights and moments while this step's forward and
            // backward ran; the update below changes them, so it waits until that save has captured them.
            long w0 = System.nanoTime();
            capturing[0].handle((v, e) -> null).join();
            waited = System.nanoTime() - w0;
            capturing[0] = null;
        }
        training.applyUpdate();
        long stall = 0;
        if (checkpointer != null) {
            TrainingState state = training.state();
            long s0 = System.nanoTime();
            CheckpointHandle h = checkpointer.save(training.step(), state, overlap ? SaveMode.ZERO_COPY : SaveMode.COPY);
            long s1 = System.nanoTime();
            // A skipped save's stall counts (the call itself); a step no tier takes has none. An overlapped save's
            // stall is its call and the wait before the next update (counted in the step that saved).
            if (h.skipped().isPresent()) {
                stall = -Math.max(1, s1 - s0);
            } else if (!h.tiers().isEmpty()) {
                stall = s1 - s0;
                if (overlap) {
                    capturing[0] = h.captured();
                }
            }
            track(h, pending, failed, commits);
        }
        record[0] = System.nanoTime() - t0;
        record[1] = stall;
        record[2] = waited;
    }

    private static void track(CheckpointHandle h, List<CompletableFuture<?>> pending, int[] failed,
                              Map<String, AtomicInteger> commits) {
        for (String tier : h.tiers()) {
            AtomicInteger n = commits.computeIfAbsent(tier, t -> new AtomicInteger());
            // In pending too: the drain then also waits for the count, not only for the commit it follows.
            pending.add(h.committed(tier).thenRun(n::incrementAndGet));
        }
        pending.add(h.done().whenComplete((r, e) -> {
            if (e != null) {
                synchronized (failed) {
                    failed[0]++;
                }
            }
        }));
    }

    /** A plain copy of every tensor and blob of the state into one preallocated direct buffer, COPY_REPS times. */
    private static long[] memoryCopies(TrainingState state, long bytes) {
        ByteBuffer target = ByteBuffer.allocateDirect(Math.toIntExact(bytes));
        long[] nanos = new long[COPY_REPS];
        for (int r = 0; r < COPY_REPS; r++) {
            target.clear();
            long t0 = System.nanoTime();
            for (var e : state.entries()) {
                if (e instanceof Tensor t) {
                    for (ByteBuffer b : t.buffers()) {
                        target.put(b.duplicate());
                    }
                }
            }
            nanos[r] = System.nanoTime() - t0;
        }
        Arrays.sort(nanos);
        return nanos;
    }

    /**
     * The least work the engine can do per save into memory, on one thread: one plain copy of the state (as
     * {@link #memoryCopies}) and the engine's content hash of every chunk of it ({@code chunkBytes} pieces),
     * FLOOR_REPS times, in CPU time of this thread (as the engine's threads' figure it stands beside: a loaded machine
     * stretches wall time, not CPU time). The copy into staging on the caller's thread is not in it: this is what the
     * engine's own threads must at least do beside it (hash each chunk, copy it into the memory tier).
     */
    private static long[] copiesAndHashes(TrainingState state, long bytes, int chunkBytes) {
        ByteBuffer target = ByteBuffer.allocateDirect(Math.toIntExact(bytes));
        dev.cairn.tiers.Kernels.Hasher hasher = dev.cairn.tiers.Kernels.Hash.current().hasher();
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long[] nanos = new long[FLOOR_REPS];
        long sink = 0;
        for (int r = 0; r < FLOOR_REPS; r++) {
            target.clear();
            long t0 = threads.getCurrentThreadCpuTime();
            for (var e : state.entries()) {
                if (e instanceof Tensor t) {
                    for (ByteBuffer b : t.buffers()) {
                        target.put(b.duplicate());
                    }
                }
            }
            for (int off = 0; off < target.position(); off += chunkBytes) {
                sink += hasher.hex(target, off, Math.min(chunkBytes, target.position() - off)).length();
            }
            nanos[r] = threads.getCurrentThreadCpuTime() - t0;
        }
        if (sink == 0) {
            throw new IllegalStateException("no chunk hashed");
        }
        Arrays.sort(nanos);
        return nanos;
    }

    private static S3StoreConfig s3Config(URI endpoint, String bucket, Path dir) {
        String access = System.getenv("CAIRN_BENCH_S3_ACCESS");
        String secret = System.getenv("CAIRN_BENCH_S3_SECRET");
        return S3StoreConfig.builder(bucket).prefix(dir.getFileName().toString()).endpoint(endpoint)
                .region(dev.cairn.testkit.EmbeddedS3.REGION).credentials(access, secret).build();
    }

    private static String join(long[] values) {
        StringBuilder b = new StringBuilder();
        for (long v : values) {
            b.append(b.length() == 0 ? "" : ",").append(v);
        }
        return b.toString();
    }
}
