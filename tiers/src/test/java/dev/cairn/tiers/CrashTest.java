package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 campaign: a child JVM ({@link CrashChild}) resumes from the newest committed step and saves in a loop
 * (memory every step, disk every third, differential chunks and recurring contents), and is killed with SIGKILL at a
 * seeded moment of its own reported progress: while saving, committing, promoting to disk, collecting garbage,
 * reading back from memory, or restoring at start-up. The next child continues on the same directory, over whatever
 * the dead one left behind.
 *
 * <p>After each kill, every step the disk lists restores byte for byte (not only the newest: a GC or a commit cut
 * short must not damage an older step), and no step the disk was known to hold before the kill (listed there, or
 * reported committed there by the child) is gone unless retention may have removed it: at least
 * {@link CrashChild#DISK_KEEP} newer steps are listed. The memory tier dies with the child, so it is checked by the
 * child itself (its restores, at resume and every fifth step, compare every byte) and not after the kill.
 *
 * <p>Prints {@code trials N, ok N, lost committed M, wrong bytes W}: a listed step that cannot be restored counts
 * as lost; W counts restores (the test's and the child's) that gave other bytes than were saved. The normal suite
 * runs {@value #DEFAULT_TRIALS} kills; {@code -Dcrash.trials=N} (the {@code chaos} profile: 1000) runs more, and
 * {@code -Dcrash.seed=S} another sequence of moments.
 */
class CrashTest {
    static final int DEFAULT_TRIALS = 30;
    static final int TRIALS = Integer.getInteger("crash.trials", DEFAULT_TRIALS);
    static final long SEED = Long.getLong("crash.seed", 42);
    /**
     * Longest wait for one trial's kill. A trial takes about a second on an idle 2-core machine; starting a JVM there
     * took over 20 s at a load average of 28 (other builds beside ours). Only a child that stops making progress
     * reaches this; nothing waits for it otherwise.
     */
    static final long TRIAL_WAIT_SECONDS = 600;

    /** Where a child may be killed: right after it prints the line that starts the phase. */
    enum Moment {
        READY("ready", false), RESTORING("restoring", false), RESUMED("resumed", false),
        SAVING("saving", true), CAPTURED("captured", true), COMMITTED("committed", true),
        PROMOTING("promoting", true), DURABLE("durable", true), GC_START("gc-start", true), GC("gc", true),
        CHECKING("checking", true), CHECKED("checked", true);

        final String word;
        /** Printed once per step (or per few steps), so a later occurrence can be chosen. */
        final boolean perStep;

        Moment(String word, boolean perStep) {
            this.word = word;
            this.perStep = perStep;
        }
    }

    private static final Pattern COMMITTED = Pattern.compile("committed \\d+ chunks=(\\d+) written=(\\d+) bytes=(\\d+) raw=(\\d+)");

    @TempDir
    Path dir;

    @Test
    void everyCommittedStepOnDiskRestoresBitExactAfterSigkillsAtEveryPhase() throws Exception {
        Path store = Files.createDirectories(dir.resolve("store"));
        Random random = new Random(SEED);
        Map<Moment, Integer> kills = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        TreeSet<Long> known = new TreeSet<>(); // on disk as far as the test knows: listed, or reported durable
        int ok = 0;
        int lost = 0;
        int wrong = 0;
        List<Moment> round = List.of();
        int dedupCommits = 0;
        int differentialCommits = 0;
        long started = System.nanoTime();
        for (int trial = 0; trial < TRIALS; trial++) {
            // Every moment once per round of twelve trials, in a seeded order.
            if (trial % Moment.values().length == 0) {
                round = new ArrayList<>(List.of(Moment.values()));
                java.util.Collections.shuffle(round, random);
            }
            Moment moment = round.get(trial % round.size());
            if (!moment.perStep && moment != Moment.READY && known.isEmpty()) {
                moment = Moment.SAVING; // nothing to resume from yet
            }
            // Phases printed every step: up to the 3rd; every few steps (promotion, GC, the memory check): the 1st or 2nd.
            int rare = moment.ordinal() >= Moment.PROMOTING.ordinal() ? 2 : 3;
            int occurrence = moment.perStep ? 1 + random.nextInt(rare) : 1;
            int n = trial;
            Trial t = run(store, trial, moment, occurrence);
            kills.merge(moment, 1, Integer::sum);
            known.addAll(t.durable);
            for (String line : t.memoryCommits) {
                Matcher m = COMMITTED.matcher(line);
                assertTrue(m.matches(), line);
                dedupCommits += Long.parseLong(m.group(2)) < Long.parseLong(m.group(1)) ? 1 : 0;
                // Every chunk of this state is random bytes: a step can store under a quarter of it only as differences.
                differentialCommits += Long.parseLong(m.group(3)) * 4 < Long.parseLong(m.group(4)) ? 1 : 0;
            }

            List<String> found = new ArrayList<>();
            for (String w : t.wrongInChild) {
                found.add("trial " + n + ": the child's own restore gave wrong bytes: " + w);
                wrong++;
            }
            Check c = check(store, known);
            lost += c.lost.size();
            wrong += c.wrong.size();
            c.lost.forEach(l -> found.add("trial " + n + " (killed after " + t.lastLine + "): lost " + l));
            c.wrong.forEach(w -> found.add("trial " + n + " (killed after " + t.lastLine + "): wrong bytes " + w));
            if (found.isEmpty()) {
                ok++;
            }
            problems.addAll(found);
            known.clear();
            known.addAll(c.listed);
            if (TRIALS > 100 && (trial + 1) % 50 == 0) {
                System.out.println("CrashTest progress: " + (trial + 1) + " of " + TRIALS + " kills, ok " + ok + ", lost committed " + lost
                        + ", wrong bytes " + wrong + ", " + (System.nanoTime() - started) / 1_000_000_000L + " s");
            }
        }
        long seconds = (System.nanoTime() - started) / 1_000_000_000L;
        System.out.println("trials " + TRIALS + ", ok " + ok + ", lost committed " + lost + ", wrong bytes " + wrong);
        System.out.println("CrashTest: " + TRIALS + " SIGKILLs in " + seconds + " s (seed " + SEED + "), by moment: " + kills
                + "; steps on disk at the end: " + known + "; memory commits that reused stored chunks: " + dedupCommits
                + ", that stored under a quarter of the state (differences): " + differentialCommits);
        assertEquals(List.of(), problems.subList(0, Math.min(20, problems.size())), "lost or wrong after a kill");
        if (TRIALS >= Moment.values().length) {
            assertTrue(kills.keySet().size() >= Moment.values().length - 1, "kills landed in every phase: " + kills);
            assertTrue(dedupCommits > 0 && differentialCommits > 0, "dedup and differential chunks were in play");
        }
    }

    /** What one child did before its kill. */
    private record Trial(List<Long> durable, List<String> wrongInChild, String lastLine, List<String> memoryCommits) {
    }

    /** Starts a child, kills it with SIGKILL right after its {@code occurrence}-th line of {@code moment}. */
    private Trial run(Path store, int trial, Moment moment, int occurrence) throws Exception {
        Path stderr = dir.resolve("child-" + trial + ".err");
        Process child = start(store, stderr);
        List<Long> durable = new ArrayList<>();
        List<String> wrongInChild = new ArrayList<>();
        List<String> memoryCommits = new ArrayList<>();
        AtomicReference<String> lastLine = new AtomicReference<>("nothing");
        AtomicReference<String> killedAfter = new AtomicReference<>();
        AtomicInteger seen = new AtomicInteger();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    String word = line.split(" ", 2)[0];
                    if (killedAfter.get() == null) {
                        lastLine.set(line);
                    }
                    if (word.equals("durable")) {
                        durable.add(Long.parseLong(line.split(" ")[1]));
                    }
                    if (word.equals("committed")) {
                        memoryCommits.add(line);
                    }
                    if (line.contains(" WRONG ")) {
                        wrongInChild.add(line);
                    }
                    // Killed from this thread the moment the line is read: the child is then just into that phase.
                    if (word.equals(moment.word) && seen.incrementAndGet() == occurrence && killedAfter.compareAndSet(null, line)) {
                        child.destroyForcibly();
                    }
                }
            } catch (IOException ignored) {
                // the child died
            }
        }, "crash child output");
        reader.start();
        boolean exited = child.waitFor(TRIAL_WAIT_SECONDS, TimeUnit.SECONDS);
        if (!exited) {
            child.destroyForcibly();
            child.waitFor(60, TimeUnit.SECONDS);
        }
        reader.join(60_000);
        if (killedAfter.get() == null) {
            throw new AssertionError("trial " + trial + ": the child " + (exited ? "died by itself (exit " + child.exitValue() + ")"
                    : "made no progress for " + TRIAL_WAIT_SECONDS + " s") + " before '" + moment.word + "' #" + occurrence
                    + ", last line '" + lastLine.get() + "': " + tail(stderr));
        }
        Files.deleteIfExists(stderr);
        return new Trial(durable, wrongInChild, killedAfter.get(), memoryCommits);
    }

    private record Check(List<Long> listed, List<String> lost, List<String> wrong) {
    }

    /**
     * Restores every step the disk lists and compares it with what was saved; a step of {@code known} that is gone
     * counts as lost unless {@link CrashChild#DISK_KEEP} newer steps are listed (retention keeps the newest that many,
     * and a step it removed always has that many newer ones, which only retention removes in turn).
     */
    private static Check check(Path store, TreeSet<Long> known) throws Exception {
        List<String> lost = new ArrayList<>();
        List<String> wrong = new ArrayList<>();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(CrashChild.config(disk, null))) {
            List<Long> listed = cp.list().stream().map(CheckpointInfo::step).toList();
            for (long s : known) {
                long newer = listed.stream().filter(l -> l > s).count();
                if (!listed.contains(s) && newer < CrashChild.DISK_KEEP) {
                    lost.add("step " + s + " was committed on disk and is gone with only " + newer + " newer steps listed: "
                            + listed);
                }
            }
            for (long s : listed) {
                try {
                    RestoreResult r = cp.restore(RestoreRequest.step(s));
                    String difference = CrashChild.firstDifference(CrashChild.state(s), r.state());
                    if (difference != null) {
                        wrong.add("step " + s + ": '" + difference + "' differs from what was saved");
                    }
                } catch (CheckpointException e) {
                    lost.add("step " + s + " is listed but does not restore: " + e.getMessage());
                }
            }
            return new Check(listed, lost, wrong);
        }
    }

    private static String tail(Path file) throws IOException {
        if (!Files.exists(file)) {
            return "(no stderr)";
        }
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    private static Process start(Path store, Path stderr) throws IOException {
        String java = ProcessHandle.current().info().command().orElse("java");
        // C1 only: the child lives a second or two, most of it starting up, where C2 only competes for the two cores.
        return new ProcessBuilder(java, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx256m", "-XX:MaxDirectMemorySize=512m",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                CrashChild.class.getName(), store.toString())
                .redirectError(stderr.toFile()).start();
    }
}
