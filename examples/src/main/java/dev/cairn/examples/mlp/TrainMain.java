package dev.cairn.examples.mlp;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.examples.FlightRecording;
import dev.cairn.examples.QuietLogging;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Trains {@link MlpSpec#standard()} with a memory tier (every step, keep 2), a disk tier under
 * {@code <dir>/disk} (every K steps, keep 3) and, with {@code --s3-bucket}, an object-storage tier "s3" (every
 * M steps, keep 2). Each step is written to the memory tier and promoted from its stored chunks to the slower
 * tiers that take it. Memory dies with the process, so a resumed process restores from disk, or from S3 when the
 * node's disk is gone too. S3 credentials come from the system properties {@code aws.accessKeyId} /
 * {@code aws.secretAccessKey}, else the environment ({@code AWS_ACCESS_KEY_ID} / {@code AWS_SECRET_ACCESS_KEY}),
 * else the AWS SDK's default chain; they are never printed. Arguments: see {@link TrainArgs}. Run with {@code --add-opens=java.base/java.nio=ALL-UNNAMED},
 * {@code -Dai.djl.offline=true}, {@code -DDJL_CACHE_DIR=...} and {@code -Dai.djl.pytorch.num_threads=1}.
 *
 * <p>Output, one record per line, space-separated, first word the kind:
 * <pre>
 * start step &lt;s&gt; steps &lt;N&gt; every &lt;K&gt; parameters &lt;count&gt; parameter-bytes &lt;b&gt; state-bytes &lt;b&gt;
 * tiers memory every 1 keep 2, disk every &lt;K&gt; keep 3[, s3 every &lt;M&gt; keep 2 at s3://&lt;bucket&gt;/&lt;prefix&gt;[ (endpoint &lt;url&gt;)]]
 * restored step &lt;s&gt; tier &lt;name&gt; restore-ns &lt;n&gt; read &lt;tier&gt;=&lt;bytes&gt;,... repaired &lt;chunks&gt;
 * restored none
 * step &lt;n&gt; loss &lt;float bits, 8 hex digits&gt; &lt;decimal&gt;
 * checkpoint &lt;step&gt; stall-ns &lt;n&gt; raw &lt;bytes&gt; written &lt;tier&gt;=&lt;bytes&gt;,...   (when every tier committed)
 * checkpoint &lt;step&gt; stall-ns &lt;n&gt; failed &lt;message&gt;
 * paused step &lt;s&gt; disk-committed &lt;step or -1&gt;[ s3-committed &lt;step or -1&gt;]
 * gc-failure &lt;the engine's last garbage-collection failure&gt;   (only when there was one)
 * final-param-hash &lt;SHA-256 hex&gt;
 * done step &lt;N&gt; wall-ms &lt;ms&gt;
 * error &lt;message&gt;
 * </pre>
 * {@code stall-ns} is how long the training thread waited for the save: {@code save()} itself (copying into
 * staging) and, with {@code --zero-copy}, the wait for {@code captured()} before the next update; the bytes written
 * per tier come from the {@code CommitReport}s. Exit status: 0 done, 1 error, 2 bad arguments.
 */
public final class TrainMain {
    public static final String RUN = "mlp";
    public static final String MEMORY = "memory";
    public static final String DISK = "disk";
    public static final String S3 = "s3";
    static final int MEMORY_KEEP = 2;
    static final int DISK_KEEP = 3;
    static final int S3_KEEP = 2;
    static final long MEMORY_LIMIT_BYTES = 256L << 20;
    /**
     * Fifteen times the state. Saving every step makes ~4.4 MB per ~15 ms step, more than one encoder thread
     * persists on 2 cores: once staging is full, save() waits (the stall shows it) rather than memory growing.
     */
    static final long STAGING_BYTES = 64L << 20;
    /** The largest tensor is 512 x 512 f32, 1 MiB: one chunk per tensor. */
    static final int CHUNK_BYTES = 1 << 20;
    private static final Duration PAUSE_WAIT_FOR_DISK = Duration.ofMinutes(2);
    private static final Duration PAUSE_LIMIT = Duration.ofMinutes(10);
    private static final Duration DRAIN_LIMIT = Duration.ofMinutes(3);

    private TrainMain() {
    }

    public static void main(String[] args) {
        QuietLogging.install();
        int status;
        try (FlightRecording recording = FlightRecording.fromEnvironment()) {
            status = run(TrainArgs.parse(args), System.out);
        } catch (IllegalArgumentException e) {
            System.out.println("error " + e.getMessage());
            System.err.println("usage: TrainMain --dir PATH [--steps N] [--every K] [--resume] [--pause-at S] [--marker-file PATH]"
                    + " [--zero-copy] [--s3-bucket B [--s3-endpoint URL] [--s3-prefix P] [--s3-region R] [--s3-every M]]");
            status = 2;
        } catch (Exception e) {
            System.out.println("error " + e.getMessage());
            e.printStackTrace();
            status = 1;
        }
        System.out.flush();
        // DJL and the engine may leave non-daemon threads behind; the process is done.
        System.exit(status);
    }

    /** Trains as {@code args} say, printing to {@code out}; returns the exit status. */
    public static int run(TrainArgs args, PrintStream out) throws IOException, InterruptedException {
        long started = System.nanoTime();
        Path diskRoot = args.dir().resolve(DISK);
        if (!args.resume() && holdsFiles(diskRoot)) {
            throw new IllegalArgumentException(diskRoot + " already holds checkpoints: pass --resume, or use an empty --dir");
        }
        Files.createDirectories(diskRoot);
        MlpSpec spec = MlpSpec.standard();
        try (MemoryObjectStore memory = new MemoryObjectStore(MEMORY_LIMIT_BYTES);
             FileSystemObjectStore disk = new FileSystemObjectStore(diskRoot);
             S3ObjectStore s3 = args.s3() == null ? null : new S3ObjectStore(s3Config(args.s3()));
             MlpTraining training = new MlpTraining(spec)) {
            CairnConfig.Builder builder = CairnConfig.builder(RUN)
                    .tier(TierConfig.of(MEMORY, memory).everySteps(1).keepLast(MEMORY_KEEP))
                    .tier(TierConfig.of(DISK, disk).everySteps(args.every()).keepLast(DISK_KEEP));
            List<String> slowTiers = new ArrayList<>(List.of(DISK));
            String tiers = MEMORY + " every 1 keep " + MEMORY_KEEP + ", " + DISK + " every " + args.every()
                    + " keep " + DISK_KEEP;
            if (s3 != null) {
                builder.tier(TierConfig.of(S3, s3).everySteps(args.s3().every()).keepLast(S3_KEEP));
                slowTiers.add(S3);
                tiers += ", " + S3 + " every " + args.s3().every() + " keep " + S3_KEEP + " at " + args.s3().describe();
            }
            if (args.persistOnShutdown() != null) {
                // On SIGTERM the newest memory step goes to disk (and S3) before the JVM exits.
                builder.persistOnShutdown(args.persistOnShutdown());
            }
            CairnConfig config = builder
                    .chunkBytes(CHUNK_BYTES)
                    .encoderThreads(1)
                    .stagingBytes(STAGING_BYTES)
                    // Only this process writes these tiers, and the engine pins the steps it has in flight: chunks
                    // of retired steps can go at once. The 10-minute default would keep ~4 MB per step in memory.
                    .gcGrace(Duration.ZERO)
                    .build();
            CheckpointLog log = new CheckpointLog(out, slowTiers);
            try (Checkpointer checkpointer = Checkpointer.open(config)) {
                if (args.resume()) {
                    resume(checkpointer, training, out);
                }
                out.println("start step " + training.step() + " steps " + args.steps() + " every " + args.every()
                        + " parameters " + spec.parameterCount() + " parameter-bytes " + training.parameterBytes()
                        + " state-bytes " + training.state().byteSize());
                out.println("tiers " + tiers);
                train(args, training, checkpointer, log, out);
                log.awaitAll(DRAIN_LIMIT);
                // The engine collects garbage after each commit and keeps going when that fails; say so, since a tier
                // that is never collected fills up.
                if (checkpointer instanceof dev.cairn.tiers.CairnCheckpointer engine && engine.lastGcFailure() != null) {
                    out.println("gc-failure " + String.valueOf(engine.lastGcFailure()).replace('\n', ' '));
                }
            }
            out.println("final-param-hash " + training.parameterHash());
            out.println("done step " + training.step() + " wall-ms " + (System.nanoTime() - started) / 1_000_000);
        }
        return 0;
    }

    private static void resume(Checkpointer checkpointer, MlpTraining training, PrintStream out) {
        long t0 = System.nanoTime();
        RestoreResult restored;
        try {
            restored = checkpointer.restore(RestoreRequest.latest().into(training.restoreTargets()));
        } catch (CheckpointException e) {
            if (e.reason() == CheckpointException.Reason.NOT_FOUND) {
                out.println("restored none");
                return;
            }
            throw e;
        }
        long nanos = System.nanoTime() - t0;
        training.resumeFrom(restored.state());
        if (training.step() != restored.step()) {
            throw new CheckpointException(CheckpointException.Reason.CORRUPT, "checkpoint " + restored.step()
                    + " holds " + MlpTraining.TRAIN_STEP + " = " + training.step());
        }
        out.println("restored step " + restored.step() + " tier " + restored.tier() + " restore-ns " + nanos
                + " read " + pairs(restored.bytesReadByTier()) + " repaired " + restored.chunksRepaired());
    }

    private static void train(TrainArgs args, MlpTraining training, Checkpointer checkpointer, CheckpointLog log,
                              PrintStream out) throws IOException, InterruptedException {
        CheckpointHandle uncaptured = null;
        long uncapturedSaveNanos = 0;
        for (long step = training.step() + 1; step <= args.steps(); step++) {
            // Forward and backward only read the parameters and leave the moments alone, so they may overlap a
            // zero-copy capture of the previous step; the update must not.
            float loss = training.forwardBackward();
            out.println("step " + step + " loss " + String.format("%08x", Float.floatToRawIntBits(loss)) + " " + loss);
            if (args.pauseAt().isPresent() && args.pauseAt().getAsLong() == step) {
                pauseUntilKilled(step, args.markerFile(), log, out);
            }
            if (uncaptured != null) {
                log.track(uncaptured, uncapturedSaveNanos + awaitCaptured(uncaptured));
                uncaptured = null;
            }
            training.applyUpdate();
            TrainingState state = training.state();
            long t0 = System.nanoTime();
            CheckpointHandle handle = checkpointer.save(step, state, args.saveMode());
            long saveNanos = System.nanoTime() - t0;
            if (args.saveMode() == SaveMode.COPY) {
                log.track(handle, saveNanos);
            } else {
                uncaptured = handle;
                uncapturedSaveNanos = saveNanos;
            }
        }
        if (uncaptured != null) {
            log.track(uncaptured, uncapturedSaveNanos + awaitCaptured(uncaptured));
        }
    }

    /** Waits until the engine has copied the live tensors; returns how long the training thread waited. */
    private static long awaitCaptured(CheckpointHandle handle) throws InterruptedException {
        long t0 = System.nanoTime();
        try {
            handle.captured().get(DRAIN_LIMIT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            // The save failed; done() fails too and its line says why. The buffers are released either way.
        } catch (TimeoutException e) {
            throw new CheckpointException(CheckpointException.Reason.TIMEOUT, "step " + handle.step()
                    + " was not captured within " + DRAIN_LIMIT + ": the engine did not complete captured()");
        }
        return System.nanoTime() - t0;
    }

    /**
     * Stops mid-step (gradients computed, update not applied) once the disk tier, and the s3 tier if there is one,
     * each committed a checkpoint, for a crash test.
     */
    private static void pauseUntilKilled(long step, Path marker, CheckpointLog log, PrintStream out)
            throws IOException, InterruptedException {
        Map<String, Long> committed = log.awaitCommitIn(PAUSE_WAIT_FOR_DISK);
        StringBuilder line = new StringBuilder("paused step ").append(step);
        committed.forEach((tier, newest) -> line.append(' ').append(tier).append("-committed ").append(newest));
        out.println(line);
        out.flush();
        Path temp = marker.resolveSibling(marker.getFileName() + ".tmp");
        Files.writeString(temp, step + "\n");
        Files.move(temp, marker, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Thread.sleep(PAUSE_LIMIT.toMillis());
        throw new IllegalStateException("paused at step " + step + " and nobody killed this process within " + PAUSE_LIMIT);
    }

    /** The S3 tier's store config: credentials as the class comment says, never printed. */
    static S3StoreConfig s3Config(S3Target target) {
        S3StoreConfig.Builder b = S3StoreConfig.builder(target.bucket()).prefix(target.prefix()).region(target.region());
        if (target.endpoint() != null) {
            b.endpoint(target.endpoint());
        }
        String id = System.getProperty("aws.accessKeyId");
        String secret = System.getProperty("aws.secretAccessKey");
        if (isBlank(id) || isBlank(secret)) {
            id = System.getenv("AWS_ACCESS_KEY_ID");
            secret = System.getenv("AWS_SECRET_ACCESS_KEY");
        }
        if (!isBlank(id) && !isBlank(secret)) {
            b.credentials(id, secret);
        }
        return b.build();
    }

    private static boolean isBlank(String s) {
        return s == null || s.isBlank();
    }

    private static boolean holdsFiles(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.anyMatch(Files::isRegularFile);
        }
    }

    private static String pairs(Map<String, Long> byTier) {
        if (byTier.isEmpty()) {
            return "none";
        }
        return new TreeMap<>(byTier).entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining(","));
    }
}
