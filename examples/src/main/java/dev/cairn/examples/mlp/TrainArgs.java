package dev.cairn.examples.mlp;

import dev.cairn.SaveMode;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * Command line of {@link TrainMain}.
 *
 * <pre>
 * --dir PATH          run folder; the disk tier lives in PATH/disk (required)
 * --steps N           train until step N (default 100)
 * --every K           disk checkpoint every K steps (default 10); memory takes every step
 * --resume            restore the newest committed checkpoint first, if there is one
 * --pause-at S        in step S, after backward and before the update, wait for a committed disk checkpoint,
 *                     create the marker file and block until killed (for crash tests)
 * --marker-file PATH  the file --pause-at creates (default PATH/paused)
 * --zero-copy         save in SaveMode.ZERO_COPY: the engine copies the live tensors while the next step's forward
 *                     and backward run; the update waits for captured()
 * --s3-bucket B       add an object-storage tier "s3" (slowest, keep 2) in bucket B
 * --s3-endpoint URL   an S3-compatible server for it (default: AWS S3)
 * --s3-prefix P       key prefix of the run's objects in the bucket (default: none)
 * --s3-region R       signing region (default us-east-1)
 * --s3-every M        the s3 tier takes every M-th step (default 2K)
 * --persist-on-shutdown MS  on SIGTERM, persist the newest memory step to disk and S3 within MS milliseconds
 * </pre>
 * Credentials are never arguments: see {@link S3Target}.
 */
public record TrainArgs(Path dir, long steps, long every, boolean resume, OptionalLong pauseAt, Path markerFile,
                        SaveMode saveMode, S3Target s3, java.time.Duration persistOnShutdown) {
    public static final long DEFAULT_STEPS = 100;
    public static final long DEFAULT_EVERY = 10;

    public TrainArgs {
        if (dir == null) {
            throw new IllegalArgumentException("--dir is required");
        }
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be at least 1, was " + steps);
        }
        if (every < 1) {
            throw new IllegalArgumentException("--every must be at least 1, was " + every);
        }
        if (pauseAt.isPresent() && (pauseAt.getAsLong() < 1 || pauseAt.getAsLong() > steps)) {
            throw new IllegalArgumentException("--pause-at must be in [1, " + steps + "], was " + pauseAt.getAsLong());
        }
        if (markerFile == null) {
            markerFile = dir.resolve("paused");
        }
        if (saveMode == null) {
            saveMode = SaveMode.COPY;
        }
    }

    /** Copy-mode saves, no pause. */
    public static TrainArgs of(Path dir, long steps, long every, boolean resume) {
        return new TrainArgs(dir, steps, every, resume, OptionalLong.empty(), null, SaveMode.COPY, null, null);
    }

    /** A copy that stops inside step {@code step} and creates {@code marker} (see the class comment). */
    public TrainArgs pausingAt(long step, Path marker) {
        return new TrainArgs(dir, steps, every, resume, OptionalLong.of(step), marker, saveMode, s3, persistOnShutdown);
    }

    public TrainArgs withSaveMode(SaveMode mode) {
        return new TrainArgs(dir, steps, every, resume, pauseAt, markerFile, mode, s3, persistOnShutdown);
    }

    /** A copy with an object-storage tier ({@code null}: none). */
    public TrainArgs withS3(S3Target target) {
        return new TrainArgs(dir, steps, every, resume, pauseAt, markerFile, saveMode, target, persistOnShutdown);
    }

    /** A copy that persists the newest memory step on SIGTERM within {@code grace} ({@code null}: off). */
    public TrainArgs withPersistOnShutdown(java.time.Duration grace) {
        return new TrainArgs(dir, steps, every, resume, pauseAt, markerFile, saveMode, s3, grace);
    }

    public static TrainArgs parse(String... args) {
        Path dir = null;
        Path marker = null;
        long steps = DEFAULT_STEPS;
        long every = DEFAULT_EVERY;
        boolean resume = false;
        OptionalLong pauseAt = OptionalLong.empty();
        SaveMode mode = SaveMode.COPY;
        URI s3Endpoint = null;
        String s3Bucket = null;
        String s3Prefix = null;
        String s3Region = null;
        Long s3Every = null;
        java.time.Duration persist = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--dir" -> dir = Path.of(value(args, ++i, a));
                case "--steps" -> steps = number(args, ++i, a);
                case "--every" -> every = number(args, ++i, a);
                case "--resume" -> resume = true;
                case "--pause-at" -> pauseAt = OptionalLong.of(number(args, ++i, a));
                case "--marker-file" -> marker = Path.of(value(args, ++i, a));
                case "--zero-copy" -> mode = SaveMode.ZERO_COPY;
                case "--s3-endpoint" -> s3Endpoint = uri(args, ++i, a);
                case "--s3-bucket" -> s3Bucket = value(args, ++i, a);
                case "--s3-prefix" -> s3Prefix = value(args, ++i, a);
                case "--s3-region" -> s3Region = value(args, ++i, a);
                case "--s3-every" -> s3Every = number(args, ++i, a);
                case "--persist-on-shutdown" -> persist = java.time.Duration.ofMillis(number(args, ++i, a));
                default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
            }
        }
        S3Target s3 = null;
        if (s3Bucket != null) {
            s3 = new S3Target(s3Endpoint, s3Bucket, s3Prefix, s3Region, s3Every != null ? s3Every : 2 * every);
        } else if (s3Endpoint != null || s3Prefix != null || s3Region != null || s3Every != null) {
            throw new IllegalArgumentException("--s3-endpoint, --s3-prefix, --s3-region and --s3-every need --s3-bucket");
        }
        return new TrainArgs(dir, steps, every, resume, pauseAt, marker, mode, s3, persist);
    }

    /** The arguments that {@link #parse} turns back into this record. */
    public List<String> toArgs() {
        List<String> out = new ArrayList<>(List.of("--dir", dir.toString(), "--steps", Long.toString(steps),
                "--every", Long.toString(every), "--marker-file", markerFile.toString()));
        if (resume) {
            out.add("--resume");
        }
        pauseAt.ifPresent(s -> out.addAll(List.of("--pause-at", Long.toString(s))));
        if (saveMode == SaveMode.ZERO_COPY) {
            out.add("--zero-copy");
        }
        if (s3 != null) {
            out.addAll(s3.toArgs());
        }
        if (persistOnShutdown != null) {
            out.addAll(List.of("--persist-on-shutdown", Long.toString(persistOnShutdown.toMillis())));
        }
        return out;
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }

    private static URI uri(String[] args, int i, String flag) {
        String v = value(args, i, flag);
        try {
            URI u = new URI(v);
            if (u.getScheme() == null || !u.getScheme().matches("(?i)https?") || u.getHost() == null) {
                throw new IllegalArgumentException(flag + " needs http://host:port or https://host, was '" + v + "'");
            }
            if (u.getRawUserInfo() != null) {
                throw new IllegalArgumentException(flag + " must not carry credentials; use the environment");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException(flag + " needs a URL (" + e.getReason() + ")");
        }
    }

    private static long number(String[] args, int i, String flag) {
        String v = value(args, i, flag);
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " needs a whole number, was '" + v + "'");
        }
    }
}
