package dev.cairn.examples;

import dev.cairn.examples.mlp.TrainArgs;
import dev.cairn.examples.mlp.TrainMain;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A {@link TrainMain} in a child JVM: same java binary and class path as this one, java.nio opened for Arrow,
 * DJL offline with one PyTorch thread (determinism), the native library cache shared between children. Its
 * stdout and stderr are collected line by line, and copied to a log file.
 */
public final class TrainingProcess {
    private final Process process;
    private final Thread reader;
    private final List<String> lines = new ArrayList<>();
    private final long startedNanos = System.nanoTime();
    private volatile long endedNanos;
    private volatile boolean killed;

    private TrainingProcess(Process process, Path log) {
        this.process = process;
        this.reader = new Thread(() -> collect(log), "output of pid " + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    static TrainingProcess start(TrainArgs args, Path log) throws IOException {
        return start(args, log, Map.of());
    }

    /**
     * Starts a child with {@code env} added to this process's environment: the way secrets (S3 credentials)
     * reach it, never its command line.
     */
    static TrainingProcess start(TrainArgs args, Path log, Map<String, String> env) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of(
                "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "-Xmx1g",
                "-XX:+UseSerialGC",
                "-Dai.djl.offline=true",
                "-DDJL_CACHE_DIR=" + djlCacheDir(),
                "-Dai.djl.pytorch.num_threads=1",
                "-Dai.djl.pytorch.num_interop_threads=1",
                "-cp", System.getProperty("java.class.path"),
                TrainMain.class.getName()));
        command.addAll(args.toArgs());
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        Map<String, String> childEnv = pb.environment();
        childEnv.put("OMP_NUM_THREADS", "1");
        childEnv.put("MKL_NUM_THREADS", "1");
        childEnv.putAll(env);
        return new TrainingProcess(pb.start(), log);
    }

    /**
     * Where DJL unpacks the PyTorch native library (432 MB, once): as DJL itself decides, the environment variable
     * {@code DJL_CACHE_DIR}, else the system property, else {@code ~/.cairn/djl} (not DJL's {@code ~/.djl.ai}).
     */
    public static String djlCacheDir() {
        String env = System.getenv("DJL_CACHE_DIR");
        if (env != null && !env.isEmpty()) {
            return env;
        }
        String property = System.getProperty("DJL_CACHE_DIR");
        if (property != null && !property.isEmpty()) {
            return property;
        }
        return Path.of(System.getProperty("user.home"), ".cairn", "djl").toString();
    }

    private void collect(Path log) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter copy = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                copy.println(line);
                synchronized (lines) {
                    lines.add(line);
                }
            }
        } catch (IOException e) {
            if (!killed) { // killing the child closes its output under the reader: nothing went wrong then
                synchronized (lines) {
                    lines.add("error reading the child's output: " + e);
                }
            }
        }
    }

    /**
     * Waits up to {@code timeout} until a line starting with {@code prefix} has been read from the child. Killing a
     * child closes its output, and whatever this process had not read by then is lost: read what matters first.
     */
    boolean awaitLine(String prefix, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            synchronized (lines) {
                if (lines.stream().anyMatch(l -> l.startsWith(prefix))) {
                    return true;
                }
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(5);
        }
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the child to exit and its output to be read; kills it if it runs past {@code timeout}. */
    int await(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
        return finish();
    }

    /**
     * SIGTERM (through the process handle: {@code Process.destroy} would also close the output still being read),
     * then waits up to {@code timeout} for the JVM to run its shutdown hooks and exit; returns the exit status.
     */
    int terminate(Duration timeout) throws InterruptedException {
        process.toHandle().destroy();
        return await(timeout);
    }

    /** SIGKILL (on Linux and macOS {@code destroyForcibly} sends signal 9); returns the exit status. */
    int kill() throws InterruptedException {
        killed = true;
        process.destroyForcibly();
        process.waitFor();
        return finish();
    }

    private int finish() throws InterruptedException {
        endedNanos = System.nanoTime();
        reader.join(TimeUnit.SECONDS.toMillis(10));
        return process.exitValue();
    }

    Duration wallTime() {
        return Duration.ofNanos((endedNanos == 0 ? System.nanoTime() : endedNanos) - startedNanos);
    }

    RunTranscript transcript() {
        synchronized (lines) {
            return RunTranscript.parse(lines);
        }
    }
}
