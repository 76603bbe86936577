package dev.cairn.djl;

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
import java.util.concurrent.TimeUnit;

/**
 * A main class of the tests in a child JVM, set up like the examples' {@code TrainingProcess}: the same java binary
 * and class path, java.nio opened for Arrow, DJL offline with one PyTorch thread, the native library cache of this
 * build. Its output is collected line by line and copied to a log file.
 */
final class ChildJvm {
    private final Process process;
    private final Thread reader;
    private final List<String> lines = new ArrayList<>();
    private volatile boolean killed;

    private ChildJvm(Process process, Path log) {
        this.process = process;
        this.reader = new Thread(() -> collect(log), "output of pid " + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    static ChildJvm start(Class<?> main, Path log, String... args) throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of(
                "--add-opens=java.base/java.nio=ALL-UNNAMED",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-Dai.djl.offline=true",
                "-DDJL_CACHE_DIR=" + djlCacheDir(),
                "-Dai.djl.pytorch.num_threads=1",
                "-Dai.djl.pytorch.num_interop_threads=1",
                "-cp", System.getProperty("java.class.path"),
                main.getName()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().put("OMP_NUM_THREADS", "1");
        pb.environment().put("MKL_NUM_THREADS", "1");
        return new ChildJvm(pb.start(), log);
    }

    /** As DJL decides: the environment variable, else the system property (surefire sets it), else under target/. */
    private static String djlCacheDir() {
        String env = System.getenv("DJL_CACHE_DIR");
        if (env != null && !env.isEmpty()) {
            return env;
        }
        String property = System.getProperty("DJL_CACHE_DIR");
        return property != null && !property.isEmpty() ? property : Path.of("target", "djl-cache").toAbsolutePath().toString();
    }

    private void collect(Path log) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter copy = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                copy.println(line);
                copy.flush();
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

    /** Waits up to {@code timeout} for a line equal to {@code line}; false if the child exits or time runs out first. */
    boolean awaitLine(String line, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            synchronized (lines) {
                if (lines.contains(line)) {
                    return true;
                }
            }
            if (!process.isAlive() && !reader.isAlive() || System.nanoTime() > deadline) {
                synchronized (lines) {
                    return lines.contains(line);
                }
            }
            Thread.sleep(5);
        }
    }

    /** Waits for the child to exit and its output to be read; kills it if it runs past {@code timeout}. */
    int await(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
        reader.join(TimeUnit.SECONDS.toMillis(10));
        return process.exitValue();
    }

    /** SIGKILL (on Linux {@code destroyForcibly} sends signal 9); returns the exit status, 137. */
    int kill() throws InterruptedException {
        killed = true;
        process.destroyForcibly();
        process.waitFor();
        reader.join(TimeUnit.SECONDS.toMillis(10));
        return process.exitValue();
    }

    List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }
}
