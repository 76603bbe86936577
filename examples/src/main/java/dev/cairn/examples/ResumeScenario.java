package dev.cairn.examples;

import dev.cairn.examples.mlp.MlpSpec;
import dev.cairn.examples.mlp.TrainArgs;
import dev.cairn.examples.mlp.TrainMain;

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
 * Kill -9 in the middle of training, resume in a fresh process, and prove the result bit-exact.
 * <ol>
 * <li>An uninterrupted run of {@code steps} steps, in its own child JVM.</li>
 * <li>The same run in another child JVM, stopped inside step {@code killAt} (a step that is not a disk
 *     checkpoint, after at least one disk checkpoint committed) and killed with SIGKILL. Its memory tier dies
 *     with it.</li>
 * <li>A fresh child JVM that restores the newest committed checkpoint (from disk) and trains to the end.</li>
 * </ol>
 * The losses of every step after the restored one (at least {@link #MIN_COMPARED_STEPS}) and the final
 * parameter hash must equal the uninterrupted run's bit for bit. The last line printed is exactly
 * {@code resume bit-exact: true} or {@code resume bit-exact: false}.
 *
 * <p>Used by {@code cairn demo} and by the tests; the class path of the calling JVM must hold this module and its
 * runtime dependencies (the engine, both backends, DJL with the PyTorch native library), since the children run
 * with it.
 */
public final class ResumeScenario {
    public static final Path DEFAULT_DIR = Path.of("cairn-demo");
    public static final int MIN_COMPARED_STEPS = 20;
    static final String OWNER_MARK = ".cairn-demo";
    static final String VERDICT = "resume bit-exact: ";

    /**
     * @param steps        steps of every run
     * @param every        disk checkpoint interval (memory takes every step)
     * @param killAt       the step the second run is killed in
     * @param childTimeout longest any one child may run
     */
    public record Options(long steps, long every, long killAt, Duration childTimeout) {
        public static Options defaults() {
            return new Options(100, 10, 47, Duration.ofMinutes(5));
        }

        public Options {
            if (every < 1 || killAt <= every || killAt % every == 0 || killAt > steps) {
                throw new IllegalArgumentException("killAt must be after the first disk checkpoint, not on one, and"
                        + " within the run: steps " + steps + ", every " + every + ", killAt " + killAt);
            }
            long resumeAt = (killAt - 1) / every * every;
            if (steps - resumeAt < MIN_COMPARED_STEPS) {
                throw new IllegalArgumentException("the resumed run would train only " + (steps - resumeAt)
                        + " steps after step " + resumeAt + ": need at least " + MIN_COMPARED_STEPS);
            }
            if (childTimeout == null || childTimeout.isNegative() || childTimeout.isZero()) {
                throw new IllegalArgumentException("childTimeout must be positive, was " + childTimeout);
            }
        }
    }

    private final Path dir;
    private final PrintStream out;
    private final Options options;
    private final List<String> problems = new ArrayList<>();

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
     * reporting to {@code out}; returns whether the resumed run was bit-exact.
     */
    public static boolean run(Path dir, PrintStream out, Options options) {
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
        }
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
        out.printf("cairn demo: MLP %s, %,d parameters (%,d bytes f32; %,d with Adam moments)%n",
                widths(spec), spec.parameterCount(), 4 * spec.parameterCount(), 12 * spec.parameterCount());
        out.printf("  %d steps; tier %s every step (keep 2), tier %s every %d steps (keep 3); kill -9 in step %d%n",
                options.steps(), TrainMain.MEMORY, TrainMain.DISK, options.every(), options.killAt());
        out.println("  dir " + dir + ", DJL native cache " + TrainingProcess.djlCacheDir());

        Path reference = dir.resolve("uninterrupted");
        Path crashed = dir.resolve("killed-then-resumed");
        out.println("[1/3] uninterrupted run");
        RunTranscript a = runToEnd(TrainArgs.of(reference, options.steps(), options.every(), false),
                "uninterrupted.log", false);
        out.println("[2/3] run killed with SIGKILL in step " + options.killAt());
        RunTranscript b = runAndKill(TrainArgs.of(crashed, options.steps(), options.every(), false)
                .pausingAt(options.killAt(), dir.resolve("paused")), "killed.log");
        out.println("[3/3] fresh process resumes");
        RunTranscript c = runToEnd(TrainArgs.of(crashed, options.steps(), options.every(), true),
                "resumed.log", true);
        return a != null && b != null && c != null && compare(a, b, c);
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
            try (Stream<Path> s = Files.walk(dir)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(OWNER_MARK), "made by cairn demo; deleted and remade by the next run\n");
        return true;
    }

    private RunTranscript runToEnd(TrainArgs args, String logName, boolean detail) throws IOException, InterruptedException {
        TrainingProcess p = TrainingProcess.start(args, dir.resolve(logName));
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

    private RunTranscript runAndKill(TrainArgs args, String logName) throws IOException, InterruptedException {
        TrainingProcess p = TrainingProcess.start(args, dir.resolve(logName));
        long deadline = System.nanoTime() + options.childTimeout().toNanos();
        while (!Files.exists(args.markerFile()) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        boolean paused = Files.exists(args.markerFile());
        int status = p.kill();
        RunTranscript t = p.transcript();
        report(t, true);
        if (!paused) {
            problem(logName + ": the run never reached step " + options.killAt() + " (exit " + status + ")" + lastLines(t));
            return null;
        }
        out.printf("  killed pid %d with SIGKILL inside step %d (after backward, before the update): exit %d;"
                        + " newest disk commit it had seen: step %d%n",
                p.pid(), options.killAt(), status, t.pausedDiskCommitted());
        if (t.pausedDiskCommitted() < options.every()) {
            problem(logName + ": no disk checkpoint was committed before the kill");
            return null;
        }
        return t;
    }

    /** Prints each checkpoint (detail) or a summary of them. */
    private void report(RunTranscript t, boolean detail) {
        List<RunTranscript.Checkpoint> cps = t.checkpoints();
        for (RunTranscript.Checkpoint cp : cps) {
            if (cp.failure() != null) {
                problem("checkpoint " + cp.step() + " failed: " + cp.failure());
                out.printf("  checkpoint %4d  stall %8.3f ms  FAILED %s%n", cp.step(), cp.stallNanos() / 1e6, cp.failure());
            } else if (detail) {
                out.printf("  checkpoint %4d  stall %8.3f ms  written %s%n", cp.step(), cp.stallNanos() / 1e6,
                        bytes(cp.writtenByTier()));
            }
        }
        if (!cps.isEmpty()) {
            long[] stalls = cps.stream().mapToLong(RunTranscript.Checkpoint::stallNanos).sorted().toArray();
            long disk = cps.stream().filter(cp -> cp.writtenByTier().containsKey(TrainMain.DISK)).count();
            out.printf("  %d checkpoints (%d on disk), raw %,d bytes each; stall median %.3f ms, max %.3f ms%n",
                    cps.size(), disk, cps.get(cps.size() - 1).rawBytes(), stalls[stalls.length / 2] / 1e6,
                    stalls[stalls.length - 1] / 1e6);
        }
        t.errors().forEach(e -> out.println("  child said: " + e));
    }

    private boolean compare(RunTranscript a, RunTranscript b, RunTranscript c) {
        boolean ok = true;
        RunTranscript.Restored r = c.restored();
        if (r == null) {
            problem("the resumed run restored nothing");
            return false;
        }
        if (!r.tier().equals(TrainMain.DISK)) {
            problem("restore read tier " + r.tier() + ", but only " + TrainMain.DISK + " survives a killed process");
            ok = false;
        }
        if (r.step() % options.every() != 0 || r.step() < options.every() || r.step() >= options.killAt()) {
            problem("restored step " + r.step() + " is not a disk checkpoint taken before step " + options.killAt());
            ok = false;
        }
        int prefixDiffers = differing(a, b, 1, options.killAt());
        out.printf("compare: steps 1..%d of the killed run vs the uninterrupted run: %s%n", options.killAt(),
                prefixDiffers == 0 ? "all losses equal" : prefixDiffers + " losses differ");
        ok &= prefixDiffers == 0;
        long first = r.step() + 1;
        long compared = options.steps() - r.step();
        int differs = differing(a, c, first, options.steps());
        out.printf("compare: losses of steps %d..%d (%d steps after the restored step %d): %s%n", first,
                options.steps(), compared, r.step(), differs == 0 ? "all bit-identical" : differs + " differ");
        ok &= differs == 0 && compared >= MIN_COMPARED_STEPS;
        boolean sameHash = a.finalHash().equals(c.finalHash());
        out.printf("compare: final-param-hash uninterrupted %s%n", a.finalHash());
        out.printf("compare: final-param-hash resumed       %s (%s)%n", c.finalHash(), sameHash ? "equal" : "DIFFERENT");
        return ok && sameHash && problems.isEmpty();
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
