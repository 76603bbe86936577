package dev.cairn.bench;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointDescription;
import dev.cairn.StoreRef;
import dev.cairn.backend.flight.PeerMemoryConfig;
import dev.cairn.backend.flight.PeerMemoryStore;
import dev.cairn.examples.sharded.RankProcess;
import dev.cairn.examples.sharded.ShardedModel;
import dev.cairn.testkit.EmbeddedS3;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The multi-rank benchmark ({@code cairn bench --ranks}): four ranks of {@code ShardedRank} in four JVMs on loopback,
 * each with the peer-memory tier (Arrow Flight, ring replication to one peer), a shared disk tier and an S3 tier
 * (S3Proxy in this JVM), peer memory taking every step and
 * disk and S3 one step in {@value #SLOW_EVERY}, promoted in the background.
 * <ol>
 * <li><b>Save</b>: every rank saves its slices each step; the aggregate throughput of a step is the four ranks' raw
 *     bytes over the slowest rank's time from {@code save()} to its commit in the peer tier (the commit needs all four
 *     indexes), beside one memory copy of the same bytes in this JVM.</li>
 * <li><b>Restore of a lost rank</b>: rank 2 is killed (SIGKILL) and a replacement restores its slices of the newest
 *     step three times from each of peer memory, disk and S3 (only that tier configured), timed inside the
 *     replacement around {@code restore()}; beside reads of the same stored chunks without decoding or hashing: from
 *     the three surviving peers (PeerMemoryStore reads: the bulk lane beside Flight), from the disk files, and by the
 *     AWS SDK's GETs.</li>
 * </ol>
 */
public final class ShardedBenchmark {
    private static final int WORLD = 4;
    /** Disk and S3 take every third step (promoted from peer memory in the background); peer memory every step. */
    private static final int SLOW_EVERY = 3;
    private static final int LOST = 2;
    private static final String RUN = "bench-ranks";
    private static final String BUCKET = "cairn-bench";
    private static final Duration WAIT = Duration.ofMinutes(5);
    private static final Pattern COMMITTED = Pattern.compile("committed (\\d+) ms=(\\d+) first-tier-us=(\\d+) capture-us=(\\d+) bytes=(\\d+)");
    private static final Pattern RESTORED = Pattern.compile("restored (\\d+) tier=(\\S+) bytes=(\\S+) ms=(\\d+)");

    private ShardedBenchmark() {
    }

    /** Goal 4 of the fast-recovery work: the 4-rank save until committed at most 3x one process saving it all. */
    static final double SAVE_GOAL = 1.0 / 3;
    /** A lost rank's warm restore from peer memory: at most 1.5x the warm restore from disk... */
    static final double PEER_OVER_DISK_GOAL = 1.5;
    /** ... and at least 5x faster than the warm restore from S3. */
    static final double PEER_OVER_S3_GOAL = 0.2;
    /** A replacement's first restore (fresh JVM) at most 2x its warm restore from the same tier. */
    static final double COLD_OVER_WARM_GOAL = 2.0;

    /**
     * What a run measured: {@code setup} holds the lines that describe the state and the tiers.
     */
    public record Results(Instant date, MachineInfo machine, List<String> setup, List<Figure> figures,
                          List<Comparison> comparisons, boolean transportRateMet, double loadBefore, double loadAfter)
            implements MeasuredRun {
        public Results {
            setup = List.copyOf(setup);
            figures = List.copyOf(figures);
            comparisons = List.copyOf(comparisons);
        }

        @Override
        public boolean goalsMet() {
            return transportRateMet && MeasuredRun.super.goalsMet();
        }
    }

    /** Runs it with {@code scale} (1 = about 6 MiB of global state; 16 = about 96 MiB), printing progress to {@code log}. */
    public static Results run(int scale, int steps, int reps, Path parent, PrintStream log) throws Exception {
        MachineInfo machine = MachineInfo.probe(parent == null ? Path.of(".") : parent);
        double loadBefore = MachineInfo.loadAverage();
        // Goal 1 first, while only this JVM runs: one 64 MiB peer read beside raw loopback TCP of the same bytes.
        log.println("peer transport: one 64 MiB peer read beside raw loopback TCP");
        PeerTransportBenchmark.Results transport = PeerTransportBenchmark.run(PeerTransportBenchmark.DEFAULT_OBJECT_MIB << 20,
                Math.max(reps, 5), PeerTransportBenchmark.DEFAULT_WARMUP, log);
        try (WorkDirectory work = WorkDirectory.create(parent, "cairn-bench-ranks-");
             EmbeddedS3 s3 = EmbeddedS3.start(BUCKET, work.path().resolve("s3"))) {
            Path disk = Files.createDirectories(work.path().resolve("disk"));
            Map<String, String> env = Map.of("AWS_ACCESS_KEY_ID", s3.accessKey(), "AWS_SECRET_ACCESS_KEY", s3.secretKey());
            List<String> common = List.of("--run", RUN, "--scale", Integer.toString(scale), "--disk", disk.toString(),
                    "--s3-endpoint", s3.endpoint().toString(), "--s3-bucket", BUCKET, "--s3-every", "" + SLOW_EVERY,
                    "--disk-every", "" + SLOW_EVERY, "--deadline-seconds", "120", "--full-every", "1");
            // The same global state saved by one process into its own peer memory (no peers, no replication): what the
            // four ranks would take if coordination, replication and sharing two cores cost nothing.
            Path archive = writeArchive(work.path(), common, env);
            Figure single;
            try (RankProcess one = start(List.of(), common, List.of("--rank", "0", "--world", "1", "--peers", "127.0.0.1:" + RankProcess.freeLoopbackAddresses(1).get(0).getPort(),
                    "--tiers", "peer", "--steps", "" + steps, "--wait-commit", "--run", RUN + "-single"),
                    work.path().resolve("single.log"), env)) {
                one.awaitLine("done", WAIT).orElseThrow(() -> new IllegalStateException("single-process save failed: " + one.lines()));
                List<Long> times = new ArrayList<>();
                long bytes = 0;
                for (int s = 2; s <= steps; s++) {
                    Matcher m = COMMITTED.matcher(one.awaitLine("committed " + s + " ", WAIT).orElseThrow());
                    if (m.matches()) {
                        times.add(Long.parseLong(m.group(3)) * 1000);
                        bytes = Long.parseLong(m.group(5));
                    }
                }
                single = new Figure("ranks.single", "1 process saving all of it into its peer memory", bytes, longs(times));
                one.await(WAIT);
            }
            List<InetSocketAddress> peers = RankProcess.freeLoopbackAddresses(WORLD);
            String peerList = RankProcess.peersArgument(peers);
            List<RankProcess> ranks = new ArrayList<>();
            try {
                for (int r = 0; r < WORLD; r++) {
                    ranks.add(start(shared(archive), common, List.of("--rank", "" + r, "--world", "" + WORLD, "--peers", peerList,
                            "--steps", "" + steps, "--pause-at", "" + steps, "--wait-commit"), work.path().resolve("rank" + r + ".log"), env));
                }
                for (RankProcess p : ranks) {
                    p.awaitLine("paused " + steps, WAIT).orElseThrow(() -> new IllegalStateException("rank did not finish saving: " + p.lines()));
                }
                // Save figures, steps 2.. (step 1 faults in staging and warms the JIT).
                List<Long> aggregate = new ArrayList<>();
                List<Long> synced = new ArrayList<>(); // from the last rank's save() to the commit known to every rank
                List<Long> capture = new ArrayList<>();
                // Where the synced window goes: until the last rank's capture ended, and until the first rank learned of
                // the commit (the rest of the window is telling the other ranks).
                List<Long> lastCaptured = new ArrayList<>();
                List<Long> firstCommitted = new ArrayList<>();
                long stepBytes = 0;
                for (int s = 2; s <= steps; s++) {
                    long slowest = 0;
                    long bytes = 0;
                    long captureEnd = 0;
                    for (RankProcess p : ranks) {
                        Matcher m = COMMITTED.matcher(p.awaitLine("committed " + s + " ", WAIT).orElseThrow());
                        if (!m.matches()) {
                            throw new IllegalStateException("unexpected line from a rank");
                        }
                        slowest = Math.max(slowest, Long.parseLong(m.group(3)) * 1000);
                        capture.add(Long.parseLong(m.group(4)) * 1000);
                        captureEnd = Math.max(captureEnd, atMillis(p, "saving " + s + " ") + Long.parseLong(m.group(4)) / 1000);
                        bytes += Long.parseLong(m.group(5));
                    }
                    aggregate.add(slowest);
                    stepBytes = bytes;
                    long lastSave = 0;
                    long lastCommit = 0;
                    long firstCommit = Long.MAX_VALUE;
                    for (RankProcess p : ranks) {
                        lastSave = Math.max(lastSave, atMillis(p, "saving " + s + " "));
                        long committed = atMillis(p, "committed-first " + s + " ");
                        lastCommit = Math.max(lastCommit, committed);
                        firstCommit = Math.min(firstCommit, committed);
                    }
                    synced.add(TimeUnit.MILLISECONDS.toNanos(lastCommit - lastSave));
                    lastCaptured.add(TimeUnit.MILLISECONDS.toNanos(Math.max(0, captureEnd - lastSave)));
                    firstCommitted.add(TimeUnit.MILLISECONDS.toNanos(firstCommit - lastSave));
                }
                List<Figure> figures = new ArrayList<>(transport.figures());
                Figure save = new Figure("ranks.save", "4-rank save until committed in peer memory", stepBytes, longs(aggregate));
                figures.add(save);
                figures.add(new Figure("ranks.capture", "capture stall per rank (save() call)", stepBytes / WORLD, longs(capture)));
                Figure copy = memoryCopy(stepBytes, reps);
                figures.add(single);
                figures.add(copy);

                dumpRecordings(ranks, work.path());
                ranks.get(LOST).kill();
                CheckpointDescription manifest = readManifest(disk, steps - steps % SLOW_EVERY);
                List<String> keys = List.copyOf(rawLengthsOf(manifest, LOST).keySet());
                long storedBytes = 0;
                List<Comparison> comparisons = new ArrayList<>(transport.comparisons());
                // The ranks of this example train without talking to each other, so they reach save() up to a few hundred
                // milliseconds apart and the first one waits for the last: the slowest rank's own figure above counts
                // that wait. A job's ranks reach save() together (each step ends in collectives), so goal 4 is measured
                // from the last rank's save() to the commit known to every rank; both are printed.
                Figure savedTogether = new Figure("ranks.saveSynced", "4-rank save from the last rank's save() to committed on all",
                        stepBytes, longs(synced));
                figures.add(figures.indexOf(save) + 1, savedTogether);
                figures.add(figures.indexOf(savedTogether) + 1, new Figure("ranks.saveSynced.captured",
                        "  of which until the last rank's capture ended", stepBytes, longs(lastCaptured)));
                figures.add(figures.indexOf(savedTogether) + 2, new Figure("ranks.saveSynced.firstCommitted",
                        "  of which until the first rank knew it committed", stepBytes, longs(firstCommitted)));
                comparisons.add(new Comparison("ranks.saveSyncedOverSingle", "4-rank save (from the last save()) vs 1 process",
                        savedTogether, single, Comparison.Measure.THROUGHPUT, SAVE_GOAL));
                comparisons.add(new Comparison("ranks.saveOverSingle", "4-rank save (slowest rank's own) vs 1 process", save, single,
                        Comparison.Measure.THROUGHPUT, Double.NaN));
                comparisons.add(new Comparison("ranks.saveOverCopy", "4-rank save vs one memory copy", save, copy,
                        Comparison.Measure.THROUGHPUT, Double.NaN));
                long newest = steps - steps % SLOW_EVERY; // the newest step every tier holds
                for (String tier : List.of("peer", "disk", "s3")) {
                    // One replacement process per tier: its first restore is the real one (cold JVM), then repeats.
                    RankProcess p = start(shared(archive), common, List.of("--rank", "" + LOST, "--world", "" + WORLD, "--peers", peerList,
                            "--verify", "--no-finish-barrier", "--tiers", tier, "--restore-reps", "" + (reps + 1)),
                            work.path().resolve("restore-" + tier + ".log"), env);
                    p.awaitLine("done", WAIT).orElseThrow(() -> new IllegalStateException("replacement did not restore from "
                            + tier + ": " + p.lines()));
                    long[] warm = new long[reps];
                    long cold = 0;
                    int i = -1;
                    for (String line : p.lines()) {
                        Matcher m = RESTORED.matcher(line.replace("restored-again ", "restored "));
                        if (!line.startsWith("restored") || !m.matches()) {
                            continue;
                        }
                        long expected = tier.equals("peer") ? steps : newest;
                        if (Long.parseLong(m.group(1)) != expected || !m.group(2).equals(tier)) {
                            throw new IllegalStateException("replacement restored " + m.group(0) + ", not step " + expected + " from " + tier);
                        }
                        long nanos = Long.parseLong(m.group(4)) * 1_000_000;
                        if (i < 0) {
                            cold = nanos;
                        } else {
                            warm[i] = nanos;
                        }
                        i++;
                        storedBytes = Long.parseLong(m.group(3).replaceAll(".*=", ""));
                    }
                    p.await(WAIT);
                    checkBitExact(p, tier, ShardedModel.reference(WORLD, scale, tier.equals("peer") ? steps : newest));
                    long rankRaw = stepBytes / WORLD;
                    Figure coldFigure = new Figure("ranks.restoreCold." + tier, "first restore of the lost rank from " + tier
                            + " (cold JVM)", rankRaw, new long[] {cold});
                    figures.add(coldFigure);
                    Figure restore = new Figure("ranks.restore." + tier, "restore of the lost rank from " + tier + " (warm)", rankRaw, warm);
                    comparisons.add(new Comparison("ranks.restoreCold." + tier + "OverWarm", "first restore from " + tier
                            + " vs warm restore", coldFigure, restore, Comparison.Measure.TIME, COLD_OVER_WARM_GOAL));
                    Figure limit = switch (tier) {
                        case "peer" -> peerReads(keys, peers, reps, rankRaw);
                        case "disk" -> diskReads(disk, rawLengthsOf(manifest, LOST), reps, rankRaw);
                        default -> s3Reads(s3, keys, reps, rankRaw);
                    };
                    figures.add(restore);
                    figures.add(limit);
                    comparisons.add(new Comparison("ranks.restore." + tier + "OverReads", "restore from " + tier + " vs " + limit.label(),
                            restore, limit, Comparison.Measure.TIME, Double.NaN));
                }
                Figure peer = Figure.find(figures, "ranks.restore.peer");
                comparisons.add(new Comparison("ranks.restorePeerOverDisk", "restore from peer memory vs from disk (warm)", peer,
                        Figure.find(figures, "ranks.restore.disk"), Comparison.Measure.TIME, PEER_OVER_DISK_GOAL));
                comparisons.add(new Comparison("ranks.restorePeerOverS3", "restore from peer memory vs from S3 (warm)", peer,
                        Figure.find(figures, "ranks.restore.s3"), Comparison.Measure.TIME, PEER_OVER_S3_GOAL));
                List<String> setup = List.of(
                        String.format(java.util.Locale.ROOT, "peer     one 64 MiB peer read at %s (goal >= %s: %s); %s",
                                ReportTable.rate(transport.figure(PeerTransportBenchmark.PEER_READ).bytesPerSecond()),
                                ReportTable.rate(PeerTransportBenchmark.GOAL_BYTES_PER_SECOND),
                                transport.rateGoalMet() ? "met" : "MISSED", "reads, replicas and metadata calls go over the bulk TCP lane beside Flight"),
                        "state    " + ByteSize.format(stepBytes) + " of fp32 per step across the ranks (ShardedModel scale " + scale
                                + ": rows and columns split, one replicated tensor), " + ByteSize.format(stepBytes / WORLD)
                                + " on the lost rank, stored as " + ByteSize.format(storedBytes) + " in the tier read",
                        "tiers    peer memory every step (ring replication to 1 peer; barriers over Arrow Flight); shared disk and S3Proxy (in this JVM)"
                                + " every " + SLOW_EVERY + " steps, promoted in the background; differential off (every value changes); each rank"
                                + " waits for its save's peer commit before its next step",
                        "jvms     every rank JVM -Xmx512m -XX:+UseSerialGC, " + (shared(archive).isEmpty() ? "no class-data-sharing archive"
                                : "started from a class-data-sharing archive written at exit by a rank of its own run that restored and saved into every tier"));
                return new Results(Instant.now(), machine, setup, figures, comparisons, transport.rateGoalMet(), loadBefore,
                        MachineInfo.loadAverage());
            } finally {
                for (RankProcess p : ranks) {
                    p.close();
                }
            }
        }
    }

    /** Fails unless the replacement's tensors, as it printed their digests after its restores, are the reference's slices. */
    private static void checkBitExact(RankProcess p, String tier, ShardedModel reference) {
        for (String name : reference.tensorNames()) {
            String expected = "digest " + name + " " + reference.digestOfSlice(name, reference.shardOf(name, LOST, WORLD));
            if (!p.lines().contains(expected)) {
                throw new IllegalStateException("the replacement's restore from " + tier + " is not bit-exact: no line '"
                        + expected + "' in " + p.lines());
            }
        }
    }

    /**
     * A class-data-sharing archive of the classes a rank loads, as a job would ship one in its image, which every rank
     * JVM of the run, the replacements included, starts from: written at exit by a short rank of its own run that
     * restores (from disk: its peer memory went with the first process) and saves into all three tiers, after a first
     * process saved the steps it restores. An archive of a run that used peer memory alone (as this benchmark wrote
     * before) lacks the S3 client's and the restore's classes, which a replacement then loaded from the jars inside its
     * first restore. Returns where it is (absent if the JVM could not write one: the ranks then start without it).
     */
    private static Path writeArchive(Path work, List<String> common, Map<String, String> env) throws IOException, InterruptedException {
        Path archive = work.resolve("cairn-rank.jsa");
        for (boolean second : new boolean[] {false, true}) {
            List<String> args = new ArrayList<>(List.of("--rank", "0", "--world", "1", "--peers",
                    "127.0.0.1:" + RankProcess.freeLoopbackAddresses(1).get(0).getPort(), "--run", RUN + "-archive",
                    "--wait-commit", "--steps", second ? "" + 2 * SLOW_EVERY : "" + SLOW_EVERY));
            if (second) {
                args.add("--restore");
            }
            try (RankProcess p = start(second ? List.of("-XX:ArchiveClassesAtExit=" + archive) : List.of(), common, args,
                    work.resolve(second ? "archive.log" : "archive-saved.log"), env)) {
                p.awaitLine("done", WAIT).orElseThrow(() -> new IllegalStateException("the archive's run failed: " + p.lines()));
                p.await(WAIT); // let it exit by itself: the JVM writes the archive on a normal exit only
            }
        }
        return archive;
    }

    private static RankProcess start(List<String> jvm, List<String> common, List<String> args, Path log, Map<String, String> env)
            throws IOException {
        List<String> all = new ArrayList<>(common);
        all.addAll(args);
        List<String> options = new ArrayList<>(jvm);
        String recordings = System.getenv("CAIRN_BENCH_RANK_JFR");
        if (recordings != null && !recordings.isBlank()) {
            // Profiling the rank JVMs (a directory for one JFR recording per rank log): how RESULTS.md's profiles are made.
            String name = log.getFileName().toString().replaceFirst("\\.log$", "");
            options.add("-XX:StartFlightRecording=name=cairn,settings=profile,filename=" + Path.of(recordings).resolve(name + ".jfr"));
        }
        return RankProcess.start(options, all, log, env);
    }

    /**
     * With recordings asked for ({@code CAIRN_BENCH_RANK_JFR}), has every saving rank write its recording now: they are
     * killed, not stopped, so they would not write it at exit.
     */
    private static void dumpRecordings(List<RankProcess> ranks, Path work) throws IOException, InterruptedException {
        String recordings = System.getenv("CAIRN_BENCH_RANK_JFR");
        if (recordings == null || recordings.isBlank()) {
            return;
        }
        for (int r = 0; r < ranks.size(); r++) { // and their output so far, for a timeline across the ranks
            Files.write(Path.of(recordings).resolve("rank" + r + ".log"), ranks.get(r).lines());
        }
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        for (int r = 0; r < ranks.size(); r++) {
            Process p = new ProcessBuilder(jcmd.toString(), Long.toString(ranks.get(r).pid()), "JFR.dump", "name=cairn",
                    "filename=" + Path.of(recordings).resolve("rank" + r + ".jfr")).redirectErrorStream(true)
                    .redirectOutput(work.resolve("jcmd-rank" + r + ".log").toFile()).start();
            p.waitFor();
        }
    }

    /** The option to start from {@code archive}, or none if the single process could not write one. */
    private static List<String> shared(Path archive) {
        return Files.isRegularFile(archive) ? List.of("-XX:SharedArchiveFile=" + archive) : List.of();
    }

    private static CheckpointDescription readManifest(Path disk, long step) throws IOException {
        try (dev.cairn.backend.fs.FileSystemObjectStore store = new dev.cairn.backend.fs.FileSystemObjectStore(disk)) {
            StoreRef ref = new StoreRef("disk", disk.toString(), store);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                return admin.describe(ref, RUN, step);
            }
        }
    }

    /** The keys of the chunks rank {@code rank}'s slices are read from (its own, and the replicated tensor's). */
    private static Map<String, Integer> rawLengthsOf(CheckpointDescription m, int rank) {
        Map<String, Integer> keys = new java.util.LinkedHashMap<>();
        for (CheckpointDescription.Entry e : m.entries()) {
            if (e.rank() == rank) {
                e.chunks().forEach(c -> keys.put(c.key(), (int) c.rawLength()));
            }
        }
        return keys;
    }

    private static Figure memoryCopy(long bytes, int reps) {
        ByteBuffer src = ByteBuffer.allocateDirect((int) Math.min(bytes, Integer.MAX_VALUE - 8));
        ByteBuffer dst = ByteBuffer.allocateDirect(src.capacity());
        long[] t = new long[Math.max(reps, 3)];
        for (int i = 0; i < t.length; i++) {
            t[i] = Baselines.copy(List.of(src), List.of(dst));
        }
        return new Figure("ranks.copy", "memory copy of the same bytes (1 thread)", src.capacity(), t);
    }

    /** Reads the chunks from the surviving peers (their bulk lanes), as a fresh member in the lost rank's place. */
    private static Figure peerReads(List<String> keys, List<InetSocketAddress> peers, int reps, long rankRaw) throws Exception {
        long[] t = new long[reps];
        for (int i = 0; i < reps; i++) {
            try (PeerMemoryStore client = PeerMemoryStore.start(PeerMemoryConfig.builder(LOST, WORLD)
                    .listen("127.0.0.1", peers.get(LOST).getPort()).peers(peers).build())) {
                t[i] = readAll(keys, (key, off, dst) -> client.read(key, off, dst));
            }
        }
        return new Figure("ranks.reads.peer", "peer reads of its chunks (PeerMemoryStore)", rankRaw, t);
    }

    /** Reads each chunk file whole and decodes it with the codec alone (no hash, no placement), on one thread. */
    private static Figure diskReads(Path disk, Map<String, Integer> rawLengths, int reps, long rankRaw) throws IOException {
        long[] t = new long[reps];
        ByteBuffer stored = ByteBuffer.allocateDirect(32 << 20);
        ByteBuffer raw = ByteBuffer.allocateDirect(32 << 20);
        try (dev.cairn.tiers.Kernels.ChunkCodec codec = new dev.cairn.tiers.Kernels.ChunkCodec(1)) {
            for (int i = 0; i < reps; i++) {
                long start = System.nanoTime();
                for (Map.Entry<String, Integer> c : rawLengths.entrySet()) {
                    stored.clear();
                    try (FileChannel ch = FileChannel.open(disk.resolve(c.getKey()), StandardOpenOption.READ)) {
                        while (ch.read(stored) > 0) {
                            // whole file
                        }
                    }
                    codec.decode(stored, 0, stored.position(), raw, 0, c.getValue());
                }
                t[i] = System.nanoTime() - start;
            }
        }
        return new Figure("ranks.reads.disk", "file reads + decode of its chunks (1 thread)", rankRaw, t);
    }

    private static Figure s3Reads(EmbeddedS3 s3, List<String> keys, int reps, long rankRaw) {
        long[] t = new long[reps];
        try (S3Transfers sdk = new S3Transfers(s3.endpoint(), EmbeddedS3.REGION, s3.accessKey(), s3.secretKey(), BUCKET, 8L << 20, 8)) {
            List<String> objectKeys = keys.stream().map(k -> "sharded/" + k).toList();
            for (int i = 0; i < reps; i++) {
                t[i] = sdk.getAll(objectKeys, 16);
            }
        }
        return new Figure("ranks.reads.s3", "AWS SDK GETs of its chunks (16 in flight)", rankRaw, t);
    }

    /** Reads one object at an offset into a buffer, returning the bytes read (0 or less at the end). */
    @FunctionalInterface
    private interface Reader {
        int read(String key, long offset, ByteBuffer dst) throws IOException;
    }

    private static long readAll(List<String> keys, Reader reader) throws IOException {
        ByteBuffer dst = ByteBuffer.allocateDirect(16 << 20);
        long start = System.nanoTime();
        for (String key : keys) {
            dst.clear();
            long off = 0;
            int n;
            while ((n = reader.read(key, off, dst)) > 0) {
                off += n;
                if (!dst.hasRemaining()) {
                    dst.clear();
                }
            }
        }
        return System.nanoTime() - start;
    }


    /** The epoch milliseconds of the {@code at-ms=} field of {@code p}'s first line starting with {@code prefix}. */
    private static long atMillis(RankProcess p, String prefix) {
        for (String line : p.lines()) {
            if (line.startsWith(prefix) && line.contains("at-ms=")) {
                return Long.parseLong(line.substring(line.indexOf("at-ms=") + "at-ms=".length()).trim());
            }
        }
        throw new IllegalStateException("rank printed no line '" + prefix + "...': " + p.lines());
    }

    private static long[] longs(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).toArray();
    }
}
