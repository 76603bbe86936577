package dev.cairn.bench;

import dev.cairn.bench.Comparison.Measure;
import dev.cairn.examples.mlp.MlpSpec;
import dev.cairn.testkit.EmbeddedS3;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * {@code cairn bench --goodput}: how much slower training runs with checkpoints on. The DJL example's MLP is trained
 * for a fixed number of steps with no checkpointing and with each {@link Setting}, every run in a fresh JVM
 * ({@link GoodputRun}) with the same seed, the settings interleaved round by round (their order rotated each round)
 * so that a change in the machine's load falls on all of them alike. Reported per model and setting: the median
 * step time and its overhead against no checkpointing, the mean step time (which a median hides periodic slow
 * steps from), the stall of {@code save()} (p50, p99, max) beside one plain memory copy of the state measured in
 * the same JVM, the first save's stall beside the later ones, and the CPU the pipeline used per step (the JVM's CPU
 * less the training thread's, less the same in the run without checkpoints; and the engine's own threads' CPU, which
 * leaves out the JIT and the JVM's GC). Every run, the one without checkpoints included, first trains unmeasured
 * steps until the JIT is quiet ({@link JitQuiet}), so that a warm run is not compared with a cold baseline.
 *
 * <p>PyTorch runs on one thread ({@code -Dai.djl.pytorch.num_threads=1}, OMP and MKL 1, as the demo's training
 * process), leaving the other of this machine's two cores to the pipeline, much as a real node leaves its CPU
 * cores idle beside the accelerators. The embedded S3 server runs in this JVM, not in the measured one.
 */
public final class GoodputBenchmark {
    static final String BUCKET = "goodput";
    /**
     * Environment variable naming a directory: each child then records its measured steps with JDK Flight Recorder
     * into {@code <model>-<setting letter>-r<round>.jfr} there (how RESULTS.md's goodput profiles are made).
     */
    static final String JFR_ENV = "CAIRN_BENCH_GOODPUT_JFR";
    /** With {@link #JFR_ENV}: a JFR settings file for those recordings instead of "profile" ({@link GoodputRun}). */
    static final String JFC_ENV = "CAIRN_BENCH_GOODPUT_JFC";
    /**
     * Environment variable with setting letters ({@code "bg"}): only those settings run, beside (a), which always
     * does; for a quicker look at a few settings while working on them. Unset: every setting of each model.
     */
    static final String SETTINGS_ENV = "CAIRN_BENCH_GOODPUT_SETTINGS";
    /** Generous: a large-model run is ~100 steps of ~1 s on an idle core; at load 20 ten times that. */
    private static final Duration CHILD_LIMIT = Duration.ofMinutes(40);
    static final double OVERHEAD_GOAL_MEMORY = 1.03;
    static final double OVERHEAD_GOAL_TIERED = 1.05;
    static final double STALL_P99_GOAL = 2.0;
    static final double FIRST_SAVE_GOAL = 2.0;

    /** Which tiers take which steps; 0 = the tier is not configured. */
    public enum Setting {
        NONE("a", "no checkpointing", 0, 0, 0, false, false),
        MEMORY("b", "every step into memory", 1, 0, 0, false, false),
        TIERED("c", "every step into memory, every 10 into disk, every 20 into S3", 1, 10, 20, false, false),
        SPARSE("d", "every 10 steps into memory and disk", 10, 10, 0, false, false),
        MEMORY_SKIP("e", "as (b), whenBusy SKIP", 1, 0, 0, true, false),
        TIERED_SKIP("f", "as (c), whenBusy SKIP", 1, 10, 20, true, false),
        MEMORY_OVERLAP("g", "as (b), captured during the next forward and backward pass", 1, 0, 0, false, true),
        TIERED_OVERLAP("h", "as (c), captured during the next forward and backward pass", 1, 10, 20, false, true),
        SPARSE_OVERLAP("i", "as (d), captured during the next forward and backward pass", 10, 10, 0, false, true);

        private final String letter;
        private final String label;
        private final int memory;
        private final int disk;
        private final int s3;
        private final boolean skip;
        private final boolean overlap;

        Setting(String letter, String label, int memory, int disk, int s3, boolean skip, boolean overlap) {
            this.letter = letter;
            this.label = label;
            this.memory = memory;
            this.disk = disk;
            this.s3 = s3;
            this.skip = skip;
            this.overlap = overlap;
        }

        /**
         * Whether the save is overlapped with the next step: {@code save(step, state, ZERO_COPY)} right after the
         * update, and the next update waits for that save's {@code captured()} (the forward and backward pass do not
         * change the weights or the moments), as a framework does that captures while the next step computes
         * (as DLRover's flash checkpoint and CheckFreq's pipelined snapshot do).
         * The stall of such a step is the save() call and the wait before the next update.
         */
        boolean overlap() {
            return overlap;
        }

        /** Whether saves are configured {@code whenBusy(SKIP)} (else the default, WAIT). */
        boolean skip() {
            return skip;
        }

        public String letter() {
            return letter;
        }

        public String label() {
            return "(" + letter + ") " + label;
        }

        int memory() {
            return memory;
        }

        int disk() {
            return disk;
        }

        int s3() {
            return s3;
        }
    }

    /** The models trained, with the settings each is measured in (the first is always {@link Setting#NONE}). */
    public enum Model {
        /** The examples' MLP: 363 thousand parameters, 4.4 MB of state with Adam's moments. */
        DEFAULT("default MLP", MlpSpec.standard(), 1 << 20, 64L << 20, "1g",
                List.of(Setting.NONE, Setting.MEMORY, Setting.TIERED, Setting.MEMORY_SKIP, Setting.TIERED_SKIP,
                        Setting.MEMORY_OVERLAP, Setting.TIERED_OVERLAP)),
        /**
         * About 50.4 million parameters, 605 MB of state with Adam's moments, batches of 16: about a second a step on
         * one core of this machine when it is quiet, so still trainable on a CPU.
         */
        LARGE("large MLP", new MlpSpec(MlpSpec.standard().seed(), new int[] {2048, 4096, 4096, 4096, 2048, 16},
                16, 1e-3f, 0.9f, 0.999f, 1e-8f), 4 << 20, 0, "6g",
                List.of(Setting.NONE, Setting.SPARSE, Setting.SPARSE_OVERLAP));

        private final String label;
        private final MlpSpec spec;
        private final int chunkBytes;
        private final long stagingBytes;
        private final String maxDirect;
        private final List<Setting> settings;

        Model(String label, MlpSpec spec, int chunkBytes, long stagingBytes, String maxDirect, List<Setting> settings) {
            this.label = label;
            this.spec = spec;
            this.chunkBytes = chunkBytes;
            this.stagingBytes = stagingBytes;
            this.maxDirect = maxDirect;
            this.settings = settings;
        }

        public String label() {
            return label;
        }

        /** Steps in a window of {@link JitQuiet} at least: a few seconds' worth of either model. */
        int warmupWindowSteps() {
            return this == DEFAULT ? 20 : 2;
        }

        public MlpSpec spec() {
            return spec;
        }

        int chunkBytes() {
            return chunkBytes;
        }

        /** Staging the engine gets: this, or twice the state where that is more (see {@link GoodputRun}). */
        long stagingBytes() {
            return stagingBytes;
        }

        public List<Setting> settings() {
            return settings;
        }
    }

    /**
     * @param steps      measured steps of each default-model run
     * @param largeSteps measured steps of each large-model run; 0 leaves the large model out
     * @param rounds     runs of each setting, interleaved
     * @param parentDir  where the working directory is made (deleted afterwards); null for the current directory
     */
    public record Options(int steps, int largeSteps, int rounds, Path parentDir, int maxWarmup) {
        /** Warm-up steps of the default model at least (fewer only where {@code maxWarmup} is less). */
        static final int MIN_WARMUP = 200;
        /** Warm-up steps of the default model at most, unless told: ~10-40 s of steps, on a quiet or loaded core. */
        static final int MAX_WARMUP = 3000;
        /** Warm-up steps of the large model, at least and at most (about a second each). */
        static final int LARGE_MIN_WARMUP = 10;
        static final int LARGE_MAX_WARMUP = 60;

        public Options(int steps, int largeSteps, int rounds, Path parentDir) {
            this(steps, largeSteps, rounds, parentDir, MAX_WARMUP);
        }

        public Options {
            if (maxWarmup < 1 || maxWarmup > 100_000) {
                throw new IllegalArgumentException("warm-up steps at most must be in [1, 100000], was " + maxWarmup);
            }
            if (steps < 20 || steps > 100_000) {
                throw new IllegalArgumentException("steps must be in [20, 100000], was " + steps);
            }
            if (largeSteps != 0 && (largeSteps < 10 || largeSteps > 10_000)) {
                throw new IllegalArgumentException("large-model steps must be 0 or in [10, 10000], was " + largeSteps);
            }
            if (rounds < 1 || rounds > 100) {
                throw new IllegalArgumentException("rounds must be in [1, 100], was " + rounds);
            }
        }

        public static Options defaults() {
            return new Options(400, 40, 2, null);
        }

        List<Model> models() {
            return largeSteps > 0 ? List.of(Model.DEFAULT, Model.LARGE) : List.of(Model.DEFAULT);
        }

        int stepsOf(Model m) {
            return m == Model.DEFAULT ? steps : largeSteps;
        }

        /**
         * Unmeasured steps first, until the JIT is quiet ({@link JitQuiet}): at least this many, in every setting.
         */
        int minWarmupOf(Model m) {
            return m == Model.DEFAULT ? Math.min(MIN_WARMUP, maxWarmup) : Math.min(LARGE_MIN_WARMUP, maxWarmup);
        }

        /** Warm-up steps at most, where the JIT does not fall quiet (a loaded machine compiles slowly). */
        int maxWarmupOf(Model m) {
            return m == Model.DEFAULT ? maxWarmup : Math.min(LARGE_MAX_WARMUP, maxWarmup);
        }
    }

    /** What one child JVM printed. */
    record Run(Model model, Setting setting, long stateBytes, long parameters, long[] copyNanos, long[] floorNanos,
               long firstStallNanos,
               long[] stepNanos, long[] stallNanos, long processCpuNanos, long trainingCpuNanos, long drainNanos,
               long drainCpuNanos, int failedSaves, Map<String, Integer> commits, int skippedSaves, int warmupSteps,
               boolean warmupQuiet, long measuredJitMillis, long pipelineThreadsCpuNanos) {
        /** CPU of every thread but the training thread, per measured step, including finishing the last saves. */
        double backgroundCpuPerStep() {
            return (processCpuNanos - trainingCpuNanos + drainCpuNanos) / (double) stepNanos.length;
        }

        /** CPU of the engine's own threads ({@code cairn-*}) per measured step, the drain included; no JIT in it. */
        double pipelineThreadsCpuPerStep() {
            return pipelineThreadsCpuNanos / (double) stepNanos.length;
        }

        long totalNanos() {
            return Arrays.stream(stepNanos).sum() + drainNanos;
        }
    }

    /**
     * One model and setting over all rounds.
     *
     * @param pipelineCpuPerStepNanos CPU outside the training thread per step, less the same without checkpoints
     * @param meanOverhead            (sum of step times + time to finish the last saves) / the same without
     *                                checkpoints, minus 1
     * @param warmupStepsPerRun       the unmeasured steps each run took until the JIT was quiet ({@link JitQuiet})
     * @param pipelineThreadsCpuPerStepNanos CPU of the engine's threads ({@code cairn-*}) per step, the drain
     *                                included: the pipeline's own work, without the JIT, the JVM's GC or the load's
     *                                effect on them
     */
    public record Row(Model model, Setting setting, long stateBytes, long parameters, Figure steps, Figure stalls,
                      long stallP50Nanos, long stallP99Nanos, long stallMaxNanos, double meanOverhead,
                      double pipelineCpuPerStepNanos, long medianDrainNanos, int failedSaves, int saves,
                      List<Map<String, Integer>> commitsPerRun, int skippedSaves, List<Integer> warmupStepsPerRun,
                      double pipelineThreadsCpuPerStepNanos) {
    }

    public record Results(Instant date, MachineInfo machine, Options options, List<String> setup, List<Row> rows,
                          List<Figure> figures, List<Comparison> comparisons, double loadBefore, double loadAfter) {
        public boolean goalsMet() {
            return comparisons.stream().allMatch(Comparison::met);
        }
    }

    private final Options options;
    private final PrintStream log;

    private GoodputBenchmark(Options options, PrintStream log) {
        this.options = options;
        this.log = log;
    }

    /** Runs every model and setting, {@code options.rounds()} times each; progress goes to {@code log}. */
    public static Results run(Options options, PrintStream log) throws IOException, InterruptedException {
        return new GoodputBenchmark(options, log).execute();
    }

    private Results execute() throws IOException, InterruptedException {
        double loadBefore = MachineInfo.loadAverage();
        try (WorkDirectory work = WorkDirectory.create(options.parentDir(), "cairn-bench-goodput-")) {
            MachineInfo machine = MachineInfo.probe(work.path());
            Map<Model, Map<Setting, List<Run>>> runs = new EnumMap<>(Model.class);
            try (EmbeddedS3 s3 = EmbeddedS3.start(BUCKET, work.path().resolve("s3"))) {
                for (Model model : options.models()) {
                    Map<Setting, List<Run>> bySetting = new EnumMap<>(Setting.class);
                    runs.put(model, bySetting);
                    String only = System.getenv(SETTINGS_ENV);
                    List<Setting> settings = model.settings().stream()
                            .filter(s -> s == Setting.NONE || only == null || only.isBlank() || only.contains(s.letter()))
                            .toList();
                    for (int round = 0; round < options.rounds(); round++) {
                        for (int i = 0; i < settings.size(); i++) {
                            Setting s = settings.get((i + round) % settings.size());
                            Path dir = work.path().resolve(model.name().toLowerCase(Locale.ROOT) + "-"
                                    + s.letter() + "-r" + round);
                            log.printf(Locale.ROOT, "%s, %s, round %d of %d: %d steps...%n", model.label(), s.label(),
                                    round + 1, options.rounds(), options.stepsOf(model));
                            Run run = runChild(model, s, dir, s3);
                            bySetting.computeIfAbsent(s, k -> new ArrayList<>()).add(run);
                        }
                    }
                }
            }
            return summarise(machine, runs, loadBefore);
        }
    }

    private Run runChild(Model model, Setting setting, Path dir, EmbeddedS3 s3) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of("--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx1g", "-XX:+UseSerialGC",
                "-XX:MaxDirectMemorySize=" + model.maxDirect,
                "-Dai.djl.offline=true", "-DDJL_CACHE_DIR=" + dev.cairn.examples.TrainingProcess.djlCacheDir(),
                "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1"));
        String recordings = System.getenv(JFR_ENV);
        if (recordings != null && !recordings.isBlank()) {
            command.add("-D" + GoodputRun.JFR_PROPERTY + "=" + Path.of(recordings).toAbsolutePath()
                    .resolve(dir.getFileName() + ".jfr"));
            String settings = System.getenv(JFC_ENV);
            if (settings != null && !settings.isBlank()) {
                command.add("-D" + GoodputRun.JFR_SETTINGS_PROPERTY + "=" + Path.of(settings).toAbsolutePath());
            }
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), GoodputRun.class.getName(),
                setting.name(), model.name(), Integer.toString(options.minWarmupOf(model)),
                Integer.toString(options.maxWarmupOf(model)),
                Integer.toString(options.stepsOf(model)), dir.toString(), s3.endpoint().toString(), BUCKET));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().put("MKL_NUM_THREADS", "1");
        pb.environment().put("CAIRN_BENCH_S3_ACCESS", s3.accessKey());
        pb.environment().put("CAIRN_BENCH_S3_SECRET", s3.secretKey());
        Process p = pb.start();
        RunParser parser = new RunParser(model, setting);
        Deque<String> tail = new ArrayDeque<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (!parser.accept(line)) {
                    tail.addLast(line);
                    if (tail.size() > 30) {
                        tail.removeFirst();
                    }
                }
            }
        } finally {
            if (!p.waitFor(CHILD_LIMIT.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
            }
        }
        if (p.exitValue() != 0 || !parser.done) {
            throw new IllegalStateException("goodput run " + model + "/" + setting + " failed (exit " + p.exitValue()
                    + "): " + (parser.error != null ? parser.error : "") + "\n" + String.join("\n", tail));
        }
        return parser.run();
    }

    /** Reads {@link GoodputRun}'s lines; false for a line that is not one of them (JVM or library output). */
    static final class RunParser {
        private final Model model;
        private final Setting setting;
        private long stateBytes = -1;
        private long parameters;
        private long[] copy;
        private long[] floor;
        private long firstStall = -1;
        private final List<long[]> steps = new ArrayList<>();
        private long processCpu = -1;
        private long trainingCpu;
        private long drain = -1;
        private long drainCpu;
        private int failed;
        private final Map<String, Integer> commits = new java.util.TreeMap<>();
        private int skipped;
        private int warmupSteps = -1;
        private boolean warmupQuiet;
        private long measuredJit = -1;
        private long pipelineThreadsCpu;
        boolean done;
        String error;

        RunParser(Model model, Setting setting) {
            this.model = model;
            this.setting = setting;
        }

        boolean accept(String line) {
            String[] w = line.split(" ");
            switch (w[0]) {
                case "ready" -> {
                    stateBytes = Long.parseLong(w[2]);
                    parameters = Long.parseLong(w[4]);
                    copy = Arrays.stream(w[6].split(",")).mapToLong(Long::parseLong).toArray();
                }
                case "first-stall-ns" -> firstStall = Long.parseLong(w[1]);
                case "warmup" -> {
                    warmupSteps = Integer.parseInt(w[2]);
                    warmupQuiet = Boolean.parseBoolean(w[8]);
                }
                case "step" -> {
                    steps.add(new long[] {Long.parseLong(w[3]), Long.parseLong(w[5])});
                    if (w.length > 6 && w[6].equals("skipped")) {
                        skipped++;
                    }
                }
                case "cpu" -> {
                    processCpu = Long.parseLong(w[2]);
                    trainingCpu = Long.parseLong(w[4]);
                    measuredJit = Long.parseLong(w[6]);
                }
                case "drain-ns" -> {
                    drain = Long.parseLong(w[1]);
                    drainCpu = Long.parseLong(w[3]);
                    failed = Integer.parseInt(w[5]);
                }
                case "committed" -> {
                    if (w.length > 1) {
                        for (String pair : w[1].split(",")) {
                            String[] kv = pair.split("=");
                            commits.put(kv[0], Integer.parseInt(kv[1]));
                        }
                    }
                }
                case "thread-cpu-ns" -> {
                    if (w.length > 1) {
                        for (String pair : w[1].split(",")) {
                            String[] kv = pair.split("=");
                            if (kv[0].startsWith("cairn-")) {
                                pipelineThreadsCpu += Long.parseLong(kv[1]);
                            }
                        }
                    }
                }
                case "floor-ns" -> floor = Arrays.stream(w[1].split(",")).mapToLong(Long::parseLong).toArray();
                case "thread-user-ns" -> {
                    // by kind, for a reader of the child's output; the report keeps CPU time only
                }
                case "done" -> done = true;
                case "error" -> error = line;
                default -> {
                    return false;
                }
            }
            return true;
        }

        Run run() {
            if (stateBytes < 0 || processCpu < 0 || drain < 0 || steps.isEmpty() || warmupSteps < 0 || floor == null) {
                throw new IllegalStateException("goodput run " + model + "/" + setting + " ended without its figures");
            }
            long[] stepNanos = steps.stream().mapToLong(s -> s[0]).toArray();
            long[] stalls = steps.stream().mapToLong(s -> s[1]).filter(n -> n > 0).toArray();
            return new Run(model, setting, stateBytes, parameters, copy, floor, firstStall, stepNanos, stalls, processCpu,
                    trainingCpu, drain, drainCpu, failed, Map.copyOf(commits), skipped, warmupSteps, warmupQuiet,
                    measuredJit, pipelineThreadsCpu);
        }
    }

    private Results summarise(MachineInfo machine, Map<Model, Map<Setting, List<Run>>> runs, double loadBefore) {
        List<Row> rows = new ArrayList<>();
        List<Figure> figures = new ArrayList<>();
        List<Comparison> comparisons = new ArrayList<>();
        List<String> setup = new ArrayList<>();
        for (Setting s : Setting.values()) {
            setup.add("setting " + s.label());
        }
        setup.add("training DJL + PyTorch on CPU, 1 thread (OMP/MKL 1), each run in a fresh JVM; the pipeline has the"
                + " other core; settings interleaved, order rotated each round");
        for (var byModel : runs.entrySet()) {
            Model model = byModel.getKey();
            String m = model.name().toLowerCase(Locale.ROOT);
            Run any = byModel.getValue().get(Setting.NONE).get(0);
            setup.add(String.format(Locale.ROOT, "%s %s: %,d parameters, state %s (weights and Adam moments, fp32);"
                            + " %d measured steps per run, %d rounds", model.label(),
                    Arrays.toString(model.spec().widths()), any.parameters(), ByteSize.format(any.stateBytes()),
                    options.stepsOf(model), options.rounds()));
            List<Run> all = byModel.getValue().values().stream().flatMap(List::stream).toList();
            int[] warm = all.stream().mapToInt(Run::warmupSteps).sorted().toArray();
            long[] jit = all.stream().mapToLong(Run::measuredJitMillis).sorted().toArray();
            setup.add(String.format(Locale.ROOT, "%s warm-up, every setting (a) included: until the JIT is quiet"
                            + " (compilation under %.0f%% of wall time in %d windows in a row of >= %d s and >= %d steps), at"
                            + " least %d and at most %d steps; took %d-%d steps (%d of %d runs stopped at the cap);"
                            + " JIT during the measured steps %d-%d ms", model.label(), 100 * JitQuiet.QUIET_SHARE,
                    JitQuiet.QUIET_WINDOWS, JitQuiet.WINDOW_NANOS / 1_000_000_000L, model.warmupWindowSteps(), options.minWarmupOf(model),
                    options.maxWarmupOf(model), warm[0], warm[warm.length - 1],
                    all.stream().filter(r -> !r.warmupQuiet()).count(), all.size(), jit[0], jit[jit.length - 1]));
            List<Run> none = byModel.getValue().get(Setting.NONE);
            Figure baseSteps = new Figure("step." + m + ".a", model.label() + " (a) step", 0,
                    pooled(none, Run::stepNanos));
            figures.add(baseSteps);
            Figure copy = new Figure("copy." + m, model.label() + " one memory copy of the state", any.stateBytes(),
                    pooled(byModel.getValue().values().stream().flatMap(List::stream).toList(), Run::copyNanos));
            figures.add(copy);
            Figure floor = new Figure("floor." + m, model.label() + " one copy + one hash of the state", any.stateBytes(),
                    pooled(byModel.getValue().values().stream().flatMap(List::stream).toList(), Run::floorNanos));
            figures.add(floor);
            double baseTotal = none.stream().mapToLong(Run::totalNanos).sum();
            double baseCpu = none.stream().mapToDouble(Run::backgroundCpuPerStep).average().orElse(0);
            for (Setting s : model.settings()) {
                List<Run> rs = byModel.getValue().get(s);
                if (s == Setting.NONE || rs == null) {
                    continue; // (a) is the baseline; a setting left out by SETTINGS_ENV has no runs
                }
                String key = m + "." + s.letter();
                Figure steps = new Figure("step." + key, model.label() + " (" + s.letter() + ") step", 0, pooled(rs, Run::stepNanos));
                long[] stallSamples = pooled(rs, Run::stallNanos);
                Figure stalls = new Figure("stall." + key, model.label() + " (" + s.letter() + ") save() stall",
                        any.stateBytes(), stallSamples);
                long[] sorted = stallSamples.clone();
                Arrays.sort(sorted);
                long p99 = percentile(sorted, 0.99);
                Figure stallP99 = new Figure("stallP99." + key, model.label() + " (" + s.letter() + ") save() stall p99",
                        any.stateBytes(), new long[] {p99});
                Figure first = new Figure("firstStall." + key, model.label() + " (" + s.letter() + ") first save's stall",
                        any.stateBytes(), rs.stream().mapToLong(Run::firstStallNanos).toArray());
                figures.addAll(List.of(steps, stalls, stallP99, first));
                double total = rs.stream().mapToLong(Run::totalNanos).sum();
                double cpu = rs.stream().mapToDouble(Run::backgroundCpuPerStep).average().orElse(0) - baseCpu;
                long[] drains = rs.stream().mapToLong(Run::drainNanos).sorted().toArray();
                rows.add(new Row(model, s, any.stateBytes(), any.parameters(), steps, stalls, percentile(sorted, 0.5), p99,
                        sorted[sorted.length - 1], total / baseTotal - 1, cpu, drains[drains.length / 2],
                        rs.stream().mapToInt(Run::failedSaves).sum(), sorted.length,
                        rs.stream().map(Run::commits).toList(), rs.stream().mapToInt(Run::skippedSaves).sum(),
                        rs.stream().map(Run::warmupSteps).toList(),
                        rs.stream().mapToDouble(Run::pipelineThreadsCpuPerStep).average().orElse(0)));
                double overheadGoal = model == Model.DEFAULT
                        ? (s.memory() == 1 && s.disk() == 0 ? OVERHEAD_GOAL_MEMORY : s.disk() == 10 && s.s3() == 20
                                ? OVERHEAD_GOAL_TIERED : Double.NaN)
                        : Double.NaN;
                comparisons.add(new Comparison("overhead." + key, model.label() + " (" + s.letter() + ") median step vs (a)", steps, baseSteps, Measure.TIME, overheadGoal));
                comparisons.add(new Comparison("stallP99OverCopy." + key, model.label() + " (" + s.letter() + ") save() stall p99 vs one memory copy", stallP99, copy, Measure.TIME, STALL_P99_GOAL));
                // What the engine's threads spent per step against the least they must (one copy and one hash of the
                // state): informational, no goal; the figure that decides the overhead where cores are few.
                Figure engineCpu = new Figure("engineCpu." + key, model.label() + " (" + s.letter() + ") engine threads' CPU a step",
                        any.stateBytes(), rs.stream().mapToLong(r -> Math.round(r.pipelineThreadsCpuPerStep())).toArray());
                figures.add(engineCpu);
                comparisons.add(new Comparison("engineCpuOverFloor." + key, model.label() + " (" + s.letter()
                        + ") engine CPU a step vs one copy + one hash", engineCpu, floor, Measure.TIME, Double.NaN));
                comparisons.add(new Comparison("firstStallOverLater." + key, model.label() + " (" + s.letter() + ") first save's stall vs later saves' median", first, stalls, Measure.TIME, FIRST_SAVE_GOAL));
            }
        }
        return new Results(Instant.now(), machine, options, setup, rows, figures, comparisons, loadBefore,
                MachineInfo.loadAverage());
    }

    private static long[] pooled(List<Run> runs, java.util.function.Function<Run, long[]> samples) {
        return runs.stream().flatMapToLong(r -> Arrays.stream(samples.apply(r))).toArray();
    }

    /** The nearest-rank percentile of sorted samples. */
    static long percentile(long[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
