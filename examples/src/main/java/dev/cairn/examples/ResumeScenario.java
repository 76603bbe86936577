package dev.cairn.examples;

import dev.cairn.examples.mlp.MlpSpec;
import dev.cairn.examples.mlp.S3Target;
import dev.cairn.examples.mlp.TrainArgs;
import dev.cairn.examples.mlp.TrainMain;
import dev.cairn.testkit.EmbeddedS3;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Kill -9 in the middle of training, resume in a fresh process, and prove the result bit-exact; then lose the
 * whole node (memory and disk) and resume from object storage. Every run checkpoints into three tiers: memory
 * (every step), disk (every {@code every} steps) and S3 (every {@code s3Every} steps), the S3 tier being an
 * S3-compatible server ({@link EmbeddedS3}) that this process runs on 127.0.0.1 for the children.
 * <ol>
 * <li>An uninterrupted run of {@code steps} steps, in its own child JVM.</li>
 * <li>The same run in another child JVM, stopped inside step {@code killAt} (a step that no slow tier takes, after
 *     at least one disk and one S3 checkpoint committed) and killed with SIGKILL. Its memory tier dies with it.</li>
 * <li>A fresh child JVM that restores the newest committed checkpoint (from disk) and trains to the end.</li>
 * <li>Node loss: the run once more, killed in step {@code killAt}; then its disk tier is deleted too.</li>
 * <li>A fresh child JVM, as on a new node, that restores the newest committed checkpoint from S3 and trains to
 *     the end.</li>
 * <li>Preemption: the run once more with {@code persistOnShutdown}, stopped inside step {@code killAt} and sent
 *     SIGTERM, as a spot reclaim or a Kubernetes eviction does; its shutdown hook persists the newest memory step
 *     ({@code killAt - 1}, not a disk interval step) to disk and S3.</li>
 * <li>A fresh child JVM that restores that step from disk and trains to the end.</li>
 * </ol>
 * For each resumed run, the losses of every step after the restored one (at least {@link #MIN_COMPARED_STEPS})
 * and the final parameter hash must equal the uninterrupted run's bit for bit. The last line printed is exactly
 * {@code resume bit-exact: true} (all three resumes bit-exact) or {@code resume bit-exact: false}.
 *
 * <p>S3 credentials (a key pair made up by the embedded server) reach the children in their environment
 * ({@code AWS_ACCESS_KEY_ID}, {@code AWS_SECRET_ACCESS_KEY}), never on their command line, and are never printed.
 *
 * <p>Used by {@code cairn demo} and by the tests; the class path of the calling JVM must hold this module and its
 * runtime dependencies (the engine, the backends, S3Proxy, DJL with the PyTorch native library), since the children
 * run with it.
 */
public final class ResumeScenario {
    public static final Path DEFAULT_DIR = Path.of("cairn-demo");
    /** persistOnShutdown's grace in the preemption run: below Kubernetes' default 30 s termination grace. */
    static final Duration PERSIST_GRACE = Duration.ofSeconds(25);
    public static final int MIN_COMPARED_STEPS = 20;
    static final String OWNER_MARK = ".cairn-demo";
    static final String VERDICT = "resume bit-exact: ";

    /**
     * @param steps        steps of every run
     * @param every        disk checkpoint interval (memory takes every step)
     * @param s3Every      S3 checkpoint interval
     * @param killAt       the step the killed runs are killed in
     * @param childTimeout longest any one child may run
     */
    public record Options(long steps, long every, long s3Every, long killAt, Duration childTimeout) {
        public static Options defaults() {
            return new Options(100, 10, 20, 47, Duration.ofMinutes(5));
        }

        /** The S3 tier takes every {@code 2 * every}-th step. */
        public Options(long steps, long every, long killAt, Duration childTimeout) {
            this(steps, every, 2 * every, killAt, childTimeout);
        }

        public Options {
            if (every < 1 || s3Every < 1) {
                throw new IllegalArgumentException("every and s3Every must be at least 1: every " + every
                        + ", s3Every " + s3Every);
            }
            for (long interval : new long[] {every, s3Every}) {
                if (killAt <= interval || killAt % interval == 0 || killAt > steps) {
                    throw new IllegalArgumentException("killAt must be after the first disk and S3 checkpoints, on"
                            + " neither, and within the run: steps " + steps + ", every " + every + ", s3Every "
                            + s3Every + ", killAt " + killAt);
                }
                long resumeAt = (killAt - 1) / interval * interval;
                if (steps - resumeAt < MIN_COMPARED_STEPS) {
                    throw new IllegalArgumentException("a resumed run would train only " + (steps - resumeAt)
                            + " steps after step " + resumeAt + ": need at least " + MIN_COMPARED_STEPS);
                }
            }
            if (childTimeout == null || childTimeout.isNegative() || childTimeout.isZero()) {
                throw new IllegalArgumentException("childTimeout must be positive, was " + childTimeout);
            }
        }
    }

    /** How much of a run's checkpoints {@link #report} lists one by one. */
    private enum Detail { SUMMARY, S3_ONLY, ALL }

    private final Path dir;
    private final PrintStream out;
    private final Options options;
    private final List<String> problems = new ArrayList<>();
    private EmbeddedS3 s3;

    private ResumeScenario(Path dir, PrintStream out, Options options) {
        this.dir = dir.toAbsolutePath().normalize();
        this.out = out;
        this.options = options;
    }

    /** Runs the scenario with {@link Options#defaults()}. */
    public static boolean run(Path dir, PrintStream out) {
        return run(dir, out, Options.defaults());
    }

    /**
     * Runs the scenario in {@code dir} (emptied first: it must be empty, missing, or made by an earlier run),
     * reporting to {@code out}; returns whether both resumed runs were bit-exact.
     */
    public static boolean run(Path dir, PrintStream out, Options options) {
        QuietLogging.install(); // S3Proxy logs through Logback: keep its DEBUG lines off stdout unless configured
        ResumeScenario s = new ResumeScenario(dir, out, options);
        boolean exact;
        try {
            exact = s.execute();
        } catch (IOException | UncheckedIOException e) {
            s.problem("I/O error: " + e.getMessage());
            exact = false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            s.problem("interrupted");
            exact = false;
        } finally {
            s.stopS3();
        }
        exact &= s.problems.isEmpty();
        out.println(VERDICT + exact);
        out.flush();
        return exact;
    }

    /** {@code ResumeScenario [dir]}: exit status 0 when bit-exact. */
    public static void main(String[] args) {
        boolean exact = run(args.length > 0 ? Path.of(args[0]) : DEFAULT_DIR, System.out);
        System.exit(exact ? 0 : 1);
    }

    private boolean execute() throws IOException, InterruptedException {
        if (!prepare()) {
            return false;
        }
        MlpSpec spec = MlpSpec.standard();
        s3 = EmbeddedS3.start();
        out.printf("cairn demo: MLP %s, %,d parameters (%,d bytes f32; %,d with Adam moments)%n",
                widths(spec), spec.parameterCount(), 4 * spec.parameterCount(), 12 * spec.parameterCount());
        out.printf("  %d steps; tiers %s every step (keep 2), %s every %d steps (keep 3), %s every %d steps (keep 2);"
                        + " kill -9 in step %d%n", options.steps(), TrainMain.MEMORY, TrainMain.DISK, options.every(),
                TrainMain.S3, options.s3Every(), options.killAt());
        out.println("  tier " + TrainMain.S3 + ": S3-compatible server (S3Proxy) in this process at " + s3.endpoint()
                + ", bucket " + s3.bucket() + ", a prefix per run");
        out.println("  dir " + dir + ", DJL native cache " + TrainingProcess.djlCacheDir());

        out.println("[1/7] uninterrupted run");
        RunTranscript a = runToEnd(args("uninterrupted", false), "uninterrupted.log", Detail.SUMMARY);

        out.println("[2/7] run killed with SIGKILL in step " + options.killAt());
        TrainArgs crashed = args("killed-then-resumed", false);
        RunTranscript b = runAndKill(crashed.pausingAt(options.killAt(), dir.resolve("paused")), "killed.log",
                TrainMain.DISK, Detail.ALL);
        out.println("[3/7] fresh process resumes (its memory tier died with the killed process)");
        // This run saves, commits, promotes, restores and collects: its Flight Recorder events make a full report.
        RunTranscript c = b == null ? null : runToEnd(args("killed-then-resumed", true), "resumed.log", Detail.ALL,
                Map.of(FlightRecording.ENV, recording().toString()));
        boolean fromDisk = a != null && b != null && c != null
                && compare("resume from disk", a, b, c, TrainMain.DISK, options.every());

        out.println("[4/7] node loss: run killed with SIGKILL in step " + options.killAt()
                + ", then its memory and disk tiers are gone");
        TrainArgs lost = args("node-lost", false);
        RunTranscript d = runAndKill(lost.pausingAt(options.killAt(), dir.resolve("paused-node-lost")),
                "node-lost-killed.log", TrainMain.S3, Detail.S3_ONLY);
        if (d != null) {
            wipeDisk(lost.dir().resolve(TrainMain.DISK));
        }
        out.println("[5/7] fresh process on a new node resumes from what is left: tier " + TrainMain.S3);
        RunTranscript e = d == null ? null : runToEnd(args("node-lost", true), "node-lost-resumed.log", Detail.S3_ONLY);
        boolean fromS3 = a != null && d != null && e != null
                && compare("node loss, resume from s3", a, d, e, TrainMain.S3, options.s3Every());

        out.println("[6/7] preemption: run with persistOnShutdown sent SIGTERM in step " + options.killAt()
                + " (as a spot reclaim or a Kubernetes eviction)");
        TrainArgs preempted = args("preempted", false).withPersistOnShutdown(PERSIST_GRACE);
        RunTranscript f = runAndTerminate(preempted.pausingAt(options.killAt(), dir.resolve("paused-preempted")),
                "preempted.log");
        out.println("[7/7] fresh process resumes from the step persisted on shutdown, not the last disk interval");
        RunTranscript g = f == null ? null : runToEnd(args("preempted", true), "preempted-resumed.log", Detail.SUMMARY);
        boolean fromShutdown = a != null && f != null && g != null
                && compare("preempted, resume from the step persisted on SIGTERM", a, f, g, TrainMain.DISK, 1);
        if (g != null && g.restored() != null && g.restored().step() != options.killAt() - 1) {
            problem("preempted: restored step " + g.restored().step() + ", expected " + (options.killAt() - 1)
                    + ", the newest step in memory when SIGTERM came");
            fromShutdown = false;
        }
        return fromDisk && fromS3 && fromShutdown;
    }

    /** A run in {@code dir/name} whose S3 tier lives under the prefix {@code name}. */
    private TrainArgs args(String name, boolean resume) {
        return TrainArgs.of(dir.resolve(name), options.steps(), options.every(), resume)
                .withS3(new S3Target(s3.endpoint(), s3.bucket(), name, EmbeddedS3.REGION, options.s3Every()));
    }

    /** The embedded server's key pair, for the children's environment only. */
    private Map<String, String> credentials() {
        return Map.of("AWS_ACCESS_KEY_ID", s3.accessKey(), "AWS_SECRET_ACCESS_KEY", s3.secretKey());
    }

    private void stopS3() {
        if (s3 != null) {
            try {
                s3.close();
            } catch (IOException e) {
                // Its objects live in this process's memory and go with it; the verdict is about the runs. (A child
                // killed in the middle of a PUT can leave S3Proxy a partial object that keeps the bucket non-empty.)
                out.println("note: the embedded S3 server did not clean up on stop: " + e.getMessage()
                        + (e.getCause() == null ? "" : " (" + e.getCause().getMessage() + ")"));
            }
        }
    }

    /** Empties {@code dir} if it is ours (or empty) and marks it ours. */
    private boolean prepare() throws IOException {
        if (Files.exists(dir)) {
            boolean ours = Files.exists(dir.resolve(OWNER_MARK));
            boolean empty;
            try (Stream<Path> s = Files.list(dir)) {
                empty = s.findAny().isEmpty();
            }
            if (!ours && !empty) {
                problem(dir + " is not empty and was not made by cairn demo: not deleting it; choose another dir");
                return false;
            }
            deleteTree(dir);
        }
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(OWNER_MARK), "made by cairn demo; deleted and remade by the next run\n");
        return true;
    }

    /** The node's disk is gone: deletes the disk tier's directory. */
    private void wipeDisk(Path disk) throws IOException {
        long files;
        long bytes;
        try (Stream<Path> s = Files.walk(disk)) {
            List<Path> regular = s.filter(Files::isRegularFile).toList();
            files = regular.size();
            long sum = 0;
            for (Path p : regular) {
                sum += Files.size(p);
            }
            bytes = sum;
        }
        deleteTree(disk);
        out.printf("  node lost: memory died with the process; disk tier wiped (deleted %s: %d files, %,d bytes)%n",
                disk, files, bytes);
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    private RunTranscript runToEnd(TrainArgs args, String logName, Detail detail) throws IOException, InterruptedException {
        return runToEnd(args, logName, detail, Map.of());
    }

    /** The Flight Recorder recording of step 3, the run resumed from disk, for {@code cairn report}. */
    public static Path recordingIn(Path dir) {
        return dir.resolve("resumed.jfr");
    }

    private Path recording() {
        return recordingIn(dir).toAbsolutePath();
    }

    private RunTranscript runToEnd(TrainArgs args, String logName, Detail detail, Map<String, String> env)
            throws IOException, InterruptedException {
        Map<String, String> childEnv = new java.util.HashMap<>(credentials());
        childEnv.putAll(env);
        TrainingProcess p = TrainingProcess.start(args, dir.resolve(logName), childEnv);
        int status = p.await(options.childTimeout());
        RunTranscript t = p.transcript();
        if (t.restored() != null) {
            RunTranscript.Restored r = t.restored();
            out.printf("  restored step %d from tier %s in %.1f ms, read %s, %d chunks repaired%n",
                    r.step(), r.tier(), r.restoreNanos() / 1e6, bytes(r.readByTier()), r.repaired());
        }
        report(t, detail);
        out.printf("  pid %d exited %d after %.1f s; log %s%n", p.pid(), status, p.wallTime().toMillis() / 1e3,
                dir.resolve(logName));
        if (status != 0 || t.finalHash() == null) {
            problem(logName + ": the run did not finish (exit " + status + ")" + lastLines(t));
            return null;
        }
        return t;
    }

    /**
     * Runs until the child pauses in step {@code killAt} (after {@code needed}, and every other slow tier, committed
     * a checkpoint), then SIGKILLs it.
     */
    private RunTranscript runAndKill(TrainArgs args, String logName, String needed, Detail detail)
            throws IOException, InterruptedException {
        TrainingProcess p = TrainingProcess.start(args, dir.resolve(logName), credentials());
        boolean paused = awaitPause(p, args);
        int status = p.kill();
        RunTranscript t = p.transcript();
        report(t, detail);
        if (!paused) {
            problem(logName + ": the run never reached step " + options.killAt() + " (exit " + status + ")" + lastLines(t));
            return null;
        }
        out.printf("  killed pid %d with SIGKILL inside step %d (after backward, before the update): exit %d;"
                        + " newest commits it had seen: disk step %d, s3 step %d%n",
                p.pid(), options.killAt(), status, t.pausedCommitted(TrainMain.DISK), t.pausedCommitted(TrainMain.S3));
        long interval = needed.equals(TrainMain.S3) ? options.s3Every() : options.every();
        if (t.pausedCommitted(needed) < interval) {
            problem(logName + ": no " + needed + " checkpoint was committed before the kill");
            return null;
        }
        return t;
    }

    /**
     * Runs until the child pauses in step {@code killAt} (after a disk checkpoint committed), then sends it SIGTERM
     * and waits for it to persist the newest memory step (persistOnShutdown) and exit.
     */
    private RunTranscript runAndTerminate(TrainArgs args, String logName) throws IOException, InterruptedException {
        TrainingProcess p = TrainingProcess.start(args, dir.resolve(logName), credentials());
        boolean paused = awaitPause(p, args);
        int status = p.terminate(PERSIST_GRACE.multipliedBy(2));
        RunTranscript t = p.transcript();
        report(t, Detail.SUMMARY);
        if (!paused) {
            problem(logName + ": the run never reached step " + options.killAt() + " (exit " + status + ")" + lastLines(t));
            return null;
        }
        out.printf("  sent pid %d SIGTERM inside step %d: exit %d (143 = ended by SIGTERM after its shutdown hooks);"
                + " newest disk commit it had seen: step %d%n", p.pid(), options.killAt(), status,
                t.pausedCommitted(TrainMain.DISK));
        return t;
    }

    /** Waits until the child made its pause marker (or died, or ran out of time); true when it paused. */
    private boolean awaitPause(TrainingProcess p, TrainArgs args) throws InterruptedException {
        long deadline = System.nanoTime() + options.childTimeout().toNanos();
        while (!Files.exists(args.markerFile()) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        boolean paused = Files.exists(args.markerFile());
        if (paused) {
            // The child printed its "paused" line before it made the marker; have it read before the signal.
            p.awaitLine("paused ", Duration.ofSeconds(30));
        }
        return paused;
    }

    /** Prints the checkpoints ({@code detail}) and a summary of them. */
    private void report(RunTranscript t, Detail detail) {
        List<RunTranscript.Checkpoint> cps = t.checkpoints();
        for (RunTranscript.Checkpoint cp : cps) {
            if (cp.failure() != null) {
                problem("checkpoint " + cp.step() + " failed: " + cp.failure());
                out.printf("  checkpoint %4d  stall %8.3f ms  FAILED %s%n", cp.step(), cp.stallNanos() / 1e6, cp.failure());
            } else if (detail == Detail.ALL
                    || detail == Detail.S3_ONLY && cp.writtenByTier().containsKey(TrainMain.S3)) {
                out.printf("  checkpoint %4d  stall %8.3f ms  written %s%n", cp.step(), cp.stallNanos() / 1e6,
                        bytes(cp.writtenByTier()));
            }
        }
        if (!cps.isEmpty()) {
            long[] stalls = cps.stream().mapToLong(RunTranscript.Checkpoint::stallNanos).sorted().toArray();
            long disk = cps.stream().filter(cp -> cp.writtenByTier().containsKey(TrainMain.DISK)).count();
            long onS3 = cps.stream().filter(cp -> cp.writtenByTier().containsKey(TrainMain.S3)).count();
            out.printf("  %d checkpoints (%d on disk, %d on s3), raw %,d bytes each; stall median %.3f ms, max %.3f ms%n",
                    cps.size(), disk, onS3, cps.get(cps.size() - 1).rawBytes(), stalls[stalls.length / 2] / 1e6,
                    stalls[stalls.length - 1] / 1e6);
        }
        t.errors().forEach(e -> out.println("  child said: " + e));
    }

    /**
     * Checks that {@code killed} trained like {@code reference} until the kill, that {@code resumed} restored a
     * checkpoint of {@code tier} (one it takes, before the kill), and then trained bit-exactly like {@code reference}.
     */
    private boolean compare(String what, RunTranscript reference, RunTranscript killed, RunTranscript resumed,
                            String tier, long interval) {
        boolean ok = true;
        RunTranscript.Restored r = resumed.restored();
        if (r == null) {
            problem(what + ": the resumed run restored nothing");
            return false;
        }
        if (!r.tier().equals(tier)) {
            problem(what + ": restore read tier " + r.tier() + ", but only " + tier + " survived");
            ok = false;
        }
        if (r.step() % interval != 0 || r.step() < interval || r.step() >= options.killAt()) {
            problem(what + ": restored step " + r.step() + " is not a " + tier + " checkpoint taken before step "
                    + options.killAt());
            ok = false;
        }
        int prefixDiffers = differing(reference, killed, 1, options.killAt());
        out.printf("compare (%s): steps 1..%d of the killed run vs the uninterrupted run: %s%n", what,
                options.killAt(), prefixDiffers == 0 ? "all losses equal" : prefixDiffers + " losses differ");
        ok &= prefixDiffers == 0;
        long first = r.step() + 1;
        long compared = options.steps() - r.step();
        int differs = differing(reference, resumed, first, options.steps());
        out.printf("compare (%s): losses of steps %d..%d (%d steps after the restored step %d from %s): %s%n", what,
                first, options.steps(), compared, r.step(), r.tier(), differs == 0 ? "all bit-identical" : differs + " differ");
        ok &= differs == 0 && compared >= MIN_COMPARED_STEPS;
        boolean sameHash = reference.finalHash().equals(resumed.finalHash());
        out.printf("compare (%s): final-param-hash uninterrupted %s%n", what, reference.finalHash());
        out.printf("compare (%s): final-param-hash resumed       %s (%s)%n", what, resumed.finalHash(),
                sameHash ? "equal" : "DIFFERENT");
        return ok && sameHash;
    }

    /** Steps in [from, to] whose loss is missing from either run or differs in any bit. */
    private int differing(RunTranscript x, RunTranscript y, long from, long to) {
        int n = 0;
        for (long s = from; s <= to; s++) {
            Integer lx = x.lossBits().get(s);
            Integer ly = y.lossBits().get(s);
            if (lx == null || !lx.equals(ly)) {
                if (n < 5) {
                    out.printf("  step %d: loss %s vs %s%n", s, hex(lx), hex(ly));
                }
                n++;
            }
        }
        return n;
    }

    private void problem(String message) {
        problems.add(message);
        out.println("problem: " + message);
    }

    private static String hex(Integer bits) {
        return bits == null ? "missing" : String.format("%08x (%s)", bits, Float.intBitsToFloat(bits));
    }

    private static String bytes(Map<String, Long> byTier) {
        if (byTier.isEmpty()) {
            return "nothing";
        }
        return byTier.entrySet().stream().map(e -> String.format("%s %,d B", e.getKey(), e.getValue()))
                .collect(Collectors.joining(", "));
    }

    private static String widths(MlpSpec spec) {
        return java.util.Arrays.stream(spec.widths()).mapToObj(Integer::toString).collect(Collectors.joining("-"));
    }

    private static String lastLines(RunTranscript t) {
        List<String> lines = t.lines();
        return lines.isEmpty() ? "; it printed nothing" : "; its last lines: "
                + String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size()));
    }
}
