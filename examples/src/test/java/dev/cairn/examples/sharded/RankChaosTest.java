package dev.cairn.examples.sharded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Multi-rank chaos: seeded trials, each a job of 2 or 3 ranks in their own JVMs ({@link RankChaosChild}: peer memory
 * replicated over Flight, a shared disk tier every second step) that resumes from the newest committed step and
 * trains on. One rank is killed with SIGKILL at a moment of some rank's reported progress: its own start-up and
 * restore, its save, the commit (rank 0 creates the MANIFEST once every index is in), the promotion to disk, rank 0's
 * GC, or while another rank saves and replicates to it (a peer killed mid-replication). The survivors are asked what
 * they list as committed, and then the job is torn down (SIGKILL) as a scheduler does when a rank dies.
 *
 * <p>After each trial, a fresh set of 1, 2 or 3 ranks (new checkpointers in this JVM, each restoring its own slices
 * of every global tensor and its rank's RNG blob) restores every step the disk lists, and each slice must equal the
 * same slice of {@link ShardedModel.Reference}, the same training computed in one process without checkpoints: so no
 * listed step is partial (a rank's rows missing) or wrong. No step known committed on disk (listed before, listed by
 * a survivor, or reported committed by a rank) may be gone unless retention may have taken it (at least
 * {@link RankChaosChild#KEEP} newer steps listed).
 *
 * <p>Steps a survivor lists in the peer tier live in the job's memory. Before the job is torn down, a fresh rank
 * started in the killed rank's place (as {@link ShardedRunTest}'s replacement) restores each of them whole, every
 * rank's slices, from its peers' memory (and the disk, for chunks missing there): what it restores must equal the
 * reference. A step it cannot restore is a loss when the disk holds it; when only peer memory held it, the killed
 * rank's share went with the rank before its replication to the next rank finished (replication is asynchronous),
 * and it is counted and reported, not failed; so is a step retention retired after the survivors listed it.
 *
 * <p>Two runs share the disk, one per world size (2 and 3 ranks), each continuing over what the previous trials of
 * its size left. {@code -Drank.chaos.trials=N} (the {@code chaos} profile: 100; 3 by default) and
 * {@code -Drank.chaos.seed=S}.
 */
class RankChaosTest {
    static final int TRIALS = Integer.getInteger("rank.chaos.trials", 3);
    static final long SEED = Long.getLong("rank.chaos.seed", 7);
    /** Steps each job trains past the step it resumed from; the kill comes within its first few. */
    static final int STEPS_PER_JOB = 6;
    /**
     * How long a rank's save may wait for the other ranks before it fails. The test never waits for it (it tears the
     * job down once the victim is dead), so it is set far above a save on a loaded machine (10 s seen for a first
     * save at a load of 16-36, see ShardedRunTest): a save that fails before any kill is reported as a problem. GC
     * grace is twice this (a multi-rank run's rule).
     */
    static final long RANK_DEADLINE_SECONDS = 60;
    /**
     * Longest wait for any one line of a rank. Starting three JVMs with Flight servers on 2 cores loaded by other
     * builds took tens of seconds; only a rank that stopped making progress reaches this.
     */
    static final Duration WAIT = Duration.ofMinutes(5);

    /** Where the victim may be killed: right after the trigger rank prints the line that starts the phase. */
    enum Moment {
        READY("ready", 1), RESTORING("restoring", 1), SAVING("saving", 5), CAPTURED("captured", 5),
        COMMITTED_FIRST("committed-first", 5), PROMOTING("promoting", 3), COMMITTED("committed", 5), GC_START("gc-start", 2);

        final String word;
        final int maxOccurrence;

        Moment(String word, int maxOccurrence) {
            this.word = word;
            this.maxOccurrence = maxOccurrence;
        }
    }

    /** Jobs a rank started again because another process took its port first; at most this many tries per job. */
    static final int PORT_ATTEMPTS = 5;

    private final List<RankProcess> processes = new ArrayList<>();
    private int portRetries;
    private int replacementsWithoutPort;
    @TempDir
    Path dir;

    @AfterEach
    void killAll() throws InterruptedException {
        for (RankProcess p : processes) {
            p.close();
        }
    }

    /** One run (one world size) across the trials: what the disk is known to hold and the reference training. */
    private static final class Run {
        final String name;
        final int world;
        final TreeSet<Long> known = new TreeSet<>();
        ShardedModel.Reference reference;
        /** Expected slice digests ("V/r/tensor") and RNG blobs ("rng/r") of steps listed so far, by step. */
        final Map<Long, Map<String, String>> expected = new HashMap<>();

        Run(int world) {
            this.name = "w" + world;
            this.world = world;
            this.reference = new ShardedModel.Reference(world, RankChaosChild.SCALE);
        }

        Map<String, String> expectedAt(long step) {
            Map<String, String> e = expected.get(step);
            if (e != null) {
                return e;
            }
            if (reference.model().currentStep() > step) {
                reference = new ShardedModel.Reference(world, RankChaosChild.SCALE); // not expected: steps only go up
            }
            while (reference.model().currentStep() < step) {
                reference.step();
            }
            ShardedModel m = reference.model();
            e = new HashMap<>();
            for (int v = 1; v <= 3; v++) {
                for (int r = 0; r < v; r++) {
                    for (String name : m.tensorNames()) {
                        e.put(v + "/" + r + "/" + name, m.digestOfSlice(name, m.shardOf(name, r, v)));
                    }
                }
            }
            for (int r = 0; r < world; r++) {
                e.put("rng/" + r, Long.toString(reference.rngOf(r)));
            }
            expected.put(step, e);
            return e;
        }
    }

    @Test
    void everyListedStepRestoresBitExactOnFreshRanksAfterRanksAreKilledAtRandomMoments() throws Exception {
        Path disk = Files.createDirectories(dir.resolve("disk"));
        Random random = new Random(SEED);
        Map<Integer, Run> runs = Map.of(2, new Run(2), 3, new Run(3));
        Map<String, Integer> kills = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        int ok = 0;
        int lost = 0;
        int wrong = 0;
        int peerOnly = 0;
        int peerRestored = 0;
        int peerLost = 0;
        int peerRetired = 0;
        List<String> peerLostNotes = new ArrayList<>();
        List<Moment> round = List.of();
        long started = System.nanoTime();
        for (int trial = 0; trial < TRIALS; trial++) {
            Run run = runs.get(random.nextInt(3) == 0 ? 3 : 2);
            // Every moment once per round of eight trials, in a seeded order.
            if (trial % Moment.values().length == 0) {
                round = new ArrayList<>(List.of(Moment.values()));
                java.util.Collections.shuffle(round, random);
            }
            Moment moment = round.get(trial % round.size());
            if (moment == Moment.RESTORING && run.known.isEmpty()) {
                moment = Moment.SAVING;
            }
            int victim = random.nextInt(run.world);
            // GC runs on rank 0; otherwise half the kills are triggered by another rank's progress (a peer lost while
            // that rank saves and replicates to it), half by the victim's own.
            int trigger = moment == Moment.GC_START ? 0 : random.nextBoolean() ? victim : random.nextInt(run.world);
            int occurrence = 1 + random.nextInt(moment.maxOccurrence);
            int freshRanks = 1 + random.nextInt(3);
            String kill = moment.word + (trigger == victim ? " of the victim" : " of another rank");
            kills.merge(kill, 1, Integer::sum);

            Job job = runJob(disk, trial, run, moment, victim, trigger, occurrence);
            List<String> found = new ArrayList<>();
            found.addAll(job.problems);
            run.known.addAll(job.committedOnDisk);
            peerOnly += job.peerOnly.size();

            Check c = check(disk, run, freshRanks);
            lost += c.lost.size();
            wrong += c.wrong.size();
            found.addAll(c.lost);
            found.addAll(c.wrong);
            for (String line : job.replacement) {
                String[] f = line.split(" ");
                if (f[0].equals("failed")) {
                    found.add("the replacement failed: " + line);
                    continue;
                }
                long s = Long.parseLong(f[1]);
                if (f[0].equals("unrestorable")) {
                    if (f[2].equals("NOT_FOUND")) {
                        peerRetired++; // rank 0 committed newer steps after the listing, and retention took this one
                    } else if (c.listed.contains(s) || job.committedOnDisk.contains(s)) {
                        lost++;
                        found.add("step " + s + " is on disk, yet the replacement could not restore it: " + line);
                    } else {
                        peerLost++;
                        peerLostNotes.add(run.name + " step " + s + " (" + job.killedAfter + "): " + line);
                    }
                    continue;
                }
                peerRestored++;
                Map<String, String> want = run.expectedAt(s);
                Map<String, String> got = new HashMap<>();
                for (String kv : f) {
                    int eq = kv.indexOf('=');
                    if (eq > 0) {
                        got.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                }
                boolean same = got.get("step").equals(Long.toString(s)) && got.get("rng").equals(want.get("rng/" + victim));
                for (String name : new ShardedModel(0, 1, RankChaosChild.SCALE).tensorNames()) {
                    same &= want.get("1/0/" + name).equals(got.get(name));
                }
                if (!same) {
                    wrong++;
                    found.add("the replacement restored step " + s + " wrong: " + line + "; the reference: " + want);
                }
            }
            if (found.isEmpty()) {
                ok++;
            }
            int n = trial;
            String where = "trial " + n + " (" + run.name + ", rank " + victim + " killed after '" + job.killedAfter + "' of rank "
                    + trigger + ", verified on " + freshRanks + " fresh ranks): ";
            found.forEach(f -> problems.add(where + f));
            run.known.clear();
            run.known.addAll(c.listed);
            if (TRIALS > 10 && (trial + 1) % 10 == 0) {
                System.out.println("RankChaosTest progress: " + (trial + 1) + " of " + TRIALS + " trials, ok " + ok + ", lost committed "
                        + lost + ", wrong bytes " + wrong + ", " + (System.nanoTime() - started) / 1_000_000_000L + " s");
            }
        }
        long seconds = (System.nanoTime() - started) / 1_000_000_000L;
        System.out.println("rank trials " + TRIALS + ", ok " + ok + ", lost committed " + lost + ", wrong bytes " + wrong);
        System.out.println("RankChaosTest: " + TRIALS + " trials in " + seconds + " s (seed " + SEED + "), kills: " + kills
                + "; steps on disk at the end: " + runs.get(2).known + " (2 ranks), " + runs.get(3).known
                + " (3 ranks); steps survivors listed in peer memory: restored whole by a replacement rank " + peerRestored
                + ", retired by retention since they were listed " + peerRetired + ", not restorable (the killed rank's share"
                + " not replicated yet) " + peerLost + " " + peerLostNotes.subList(0, Math.min(5, peerLostNotes.size()))
                + "; of those listed, " + peerOnly + " were in peer memory only, and went with the job; jobs started again because"
                + " another process took a port: " + portRetries + ", replacements that could not bind the killed rank's port: "
                + replacementsWithoutPort);
        assertEquals(List.of(), problems.subList(0, Math.min(20, problems.size())), "lost or wrong after a rank was killed");
    }

    /**
     * What a job did: steps committed on disk as its ranks reported them, what survivors listed, what the replacement
     * for the killed rank restored of the steps they listed in peer memory, and the job's own problems.
     */
    private record Job(String killedAfter, List<Long> committedOnDisk, List<Long> peerOnly, List<String> replacement,
                       List<String> problems) {
    }

    private Job runJob(Path disk, int trial, Run run, Moment moment, int victim, int trigger, int occurrence) throws Exception {
        long resumeFrom = run.known.isEmpty() ? 0 : run.known.last();
        String peers;
        List<RankProcess> ranks;
        String killedAfter;
        for (int attempt = 1; ; attempt++) {
            peers = RankProcess.peersArgument(RankProcess.freeLoopbackAddresses(run.world));
            ranks = new ArrayList<>();
            for (int r = 0; r < run.world; r++) {
                ranks.add(start(disk, trial, run, r, peers, resumeFrom + STEPS_PER_JOB));
            }
            killedAfter = awaitTrigger(ranks.get(trigger), ranks, moment, occurrence);
            if (killedAfter != null || attempt == PORT_ATTEMPTS) {
                break;
            }
            // Another process on this shared machine took a port between our choosing it and a rank binding it. That
            // rank never got to its first save, so the others cannot have committed anything: start the job again.
            portRetries++;
            for (RankProcess p : ranks) {
                p.kill();
            }
            processes.removeAll(ranks);
        }
        if (killedAfter == null) {
            killedAfter = "a rank could not bind its port " + PORT_ATTEMPTS + " times";
        }
        List<String> problems = new ArrayList<>();
        // Until a rank dies, every rank saves, commits and collects without a failure.
        for (int r = 0; r < run.world; r++) {
            RankProcess p = ranks.get(r);
            if (!p.isAlive()) {
                problems.add("rank " + r + " exited by itself before the kill: " + last(p));
            }
            int rank = r;
            p.lines().stream().filter(l -> l.startsWith("failed ")).findFirst()
                    .ifPresent(l -> problems.add("rank " + rank + " failed before any rank was killed: " + l));
        }
        ranks.get(victim).kill();

        // The survivors' view, then the job is torn down.
        List<Long> onDisk = new ArrayList<>();
        List<Long> peerOnly = new ArrayList<>();
        for (int r = 0; r < run.world; r++) {
            RankProcess p = ranks.get(r);
            if (r == victim) {
                continue;
            }
            if (!p.isAlive()) {
                problems.add("rank " + r + " exited by itself: " + last(p));
                continue;
            }
            p.send("list " + trial);
            Optional<String> listed = p.awaitLine("listed " + trial, WAIT);
            if (listed.isEmpty()) {
                problems.add("rank " + r + " did not answer 'list': " + last(p));
                continue;
            }
            TreeSet<Long> disks = new TreeSet<>();
            TreeSet<Long> peersListed = new TreeSet<>();
            for (String entry : listed.get().split(" ")) {
                if (entry.startsWith("disk:")) {
                    disks.add(Long.parseLong(entry.substring(5)));
                } else if (entry.startsWith("peer:")) {
                    peersListed.add(Long.parseLong(entry.substring(5)));
                }
            }
            onDisk.addAll(disks);
            peersListed.removeAll(disks);
            peerOnly.addAll(peersListed);
        }
        // A fresh rank in the killed one's place restores, whole, every step the survivors list in peer memory, while
        // the survivors still hold it: from its peers' memory, repaired from the disk where a chunk is missing.
        TreeSet<Long> peerListed = new TreeSet<>(peerOnly);
        List<String> replacement = new ArrayList<>();
        for (RankProcess p : ranks) {
            if (p != ranks.get(victim)) {
                p.lines().stream().filter(l -> l.startsWith("listed " + trial + " ")).findFirst().ifPresent(l -> {
                    for (String entry : l.split(" ")) {
                        if (entry.startsWith("peer:")) {
                            peerListed.add(Long.parseLong(entry.substring(5)));
                        }
                    }
                });
            }
        }
        if (!peerListed.isEmpty()) {
            RankProcess fresh = start(disk, trial, run, victim, peers, 0, "replacement",
                    String.join(",", peerListed.stream().map(String::valueOf).toList()));
            if (fresh.awaitLine("idle", WAIT).isEmpty() && !lostItsPort(fresh)) {
                problems.add("the replacement for rank " + victim + " did not finish: " + last(fresh));
            }
            fresh.kill();
            if (lostItsPort(fresh)) {
                replacementsWithoutPort++; // another process took the killed rank's port: nothing to check this time
                peerListed.clear();
            }
            fresh.lines().stream().filter(l -> l.startsWith("verified ") || l.startsWith("unrestorable ")
                    || l.startsWith("failed ")).forEach(replacement::add);
            for (long s : peerListed) {
                if (replacement.stream().noneMatch(l -> l.startsWith("verified " + s + " ") || l.startsWith("unrestorable " + s + " "))) {
                    problems.add("the replacement for rank " + victim + " said nothing of step " + s + ": " + last(fresh));
                }
            }
            processes.remove(fresh);
        }
        for (RankProcess p : ranks) {
            p.kill();
            for (String line : p.lines()) {
                // "committed S": every tier the step goes to has it, so a disk step is on disk.
                if (line.startsWith("committed ")) {
                    long s = Long.parseLong(line.substring(10));
                    if (s % RankChaosChild.DISK_EVERY == 0) {
                        onDisk.add(s);
                    }
                }
            }
        }
        processes.removeAll(ranks);
        return new Job(killedAfter, onDisk, peerOnly, replacement, problems);
    }

    /** Whether {@code p} died at start-up because its Flight port was taken (by another process on this machine). */
    private static boolean lostItsPort(RankProcess p) {
        return !p.isAlive() && p.lines().stream().anyMatch(l -> l.contains("Failed to bind to address"));
    }

    /**
     * Waits until {@code trigger} prints its {@code occurrence}-th line of {@code moment} (or, if the job finishes or
     * fails first, until every rank is idle) and returns that line; null when a rank could not bind its port.
     */
    private static String awaitTrigger(RankProcess trigger, List<RankProcess> ranks, Moment moment, int occurrence) throws Exception {
        long until = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < until) {
            int seen = 0;
            for (String line : trigger.lines()) {
                if (line.split(" ", 2)[0].equals(moment.word) && ++seen == occurrence) {
                    return line;
                }
            }
            if (ranks.stream().anyMatch(RankChaosTest::lostItsPort)) {
                return null;
            }
            if (ranks.stream().allMatch(p -> p.lines().contains("idle") || !p.isAlive())) {
                return "idle (no " + occurrence + " '" + moment.word + "' lines)";
            }
            // The rank's output arrives on its reader thread; this only decides how soon after the line the kill comes.
            trigger.awaitLine("\u0000never", Duration.ofMillis(1));
        }
        throw new AssertionError("no progress within " + WAIT + ": " + ranks.stream().map(RankChaosTest::last).toList());
    }

    private record Check(List<Long> listed, List<String> lost, List<String> wrong) {
    }

    /** The fresh ranks' restore of every listed step, and the known steps that are gone. */
    private static Check check(Path diskDir, Run run, int freshRanks) throws Exception {
        List<String> lost = new ArrayList<>();
        List<String> wrong = new ArrayList<>();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(diskDir);
             Checkpointer cp = Checkpointer.open(RankChaosChild.config(run.name, 0, 1, RANK_DEADLINE_SECONDS)
                     .tier(TierConfig.of("disk", disk).keepLast(RankChaosChild.KEEP)).build())) {
            List<Long> listed = cp.list().stream().map(CheckpointInfo::step).sorted().toList();
            for (long s : run.known) {
                long newer = listed.stream().filter(l -> l > s).count();
                if (!listed.contains(s) && newer < RankChaosChild.KEEP) {
                    lost.add("step " + s + " was committed on disk and is gone with only " + newer + " newer steps listed: " + listed);
                }
            }
            for (long s : listed) {
                Map<String, String> expected = run.expectedAt(s);
                for (int r = 0; r < freshRanks; r++) {
                    int rank = r;
                    ShardedModel model = new ShardedModel(r, freshRanks, RankChaosChild.SCALE);
                    RestoreResult result;
                    try {
                        result = cp.restore(RestoreRequest.step(s).into(model.targets())
                                .onRankBlobs((name, saved, savedWorld, me, w) -> saved.get(rank % savedWorld)));
                    } catch (CheckpointException e) {
                        lost.add("step " + s + " is listed but rank " + r + " of " + freshRanks + " cannot restore it: " + e.getMessage());
                        continue;
                    }
                    model.restored(result.state());
                    for (Map.Entry<String, String> d : model.digests().entrySet()) {
                        String want = expected.get(freshRanks + "/" + r + "/" + d.getKey());
                        if (!want.equals(d.getValue())) {
                            wrong.add("step " + s + ": rank " + r + " of " + freshRanks + " restored '" + d.getKey() + "' as " + d.getValue()
                                    + ", the reference is " + want);
                        }
                    }
                    long rng = ByteBuffer.wrap(result.state().blob("rng").toByteArray()).getLong();
                    if (model.currentStep() != s || !Long.toString(rng).equals(expected.get("rng/" + (r % run.world)))) {
                        wrong.add("step " + s + ": rank " + r + " of " + freshRanks + " restored step blob " + model.currentStep()
                                + " and RNG " + rng + ", expected " + s + " and " + expected.get("rng/" + (r % run.world)));
                    }
                }
            }
            return new Check(listed, lost, wrong);
        }
    }

    private RankProcess start(Path disk, int trial, Run run, int rank, String peers, long steps) throws Exception {
        return start(disk, trial, run, rank, peers, steps, "rank" + rank, null);
    }

    private RankProcess start(Path disk, int trial, Run run, int rank, String peers, long steps, String name, String verifySteps)
            throws Exception {
        Path logs = Files.createDirectories(Path.of("target", "rank-chaos-logs"));
        List<String> args = new ArrayList<>(List.of("--run", run.name, "--rank", Integer.toString(rank), "--world",
                Integer.toString(run.world), "--peers", peers, "--disk", disk.toString(), "--steps", Long.toString(steps),
                "--deadline-seconds", Long.toString(RANK_DEADLINE_SECONDS)));
        if (verifySteps != null) {
            args.addAll(List.of("--verify-steps", verifySteps));
        }
        RankProcess p = RankProcess.start(RankChaosChild.class.getName(), List.of("-XX:TieredStopAtLevel=1"), args,
                logs.resolve("trial" + trial + "-" + name + ".log"), Map.of());
        processes.add(p);
        return p;
    }

    private static String last(RankProcess p) {
        List<String> lines = p.lines();
        return String.join(" | ", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
    }
}
