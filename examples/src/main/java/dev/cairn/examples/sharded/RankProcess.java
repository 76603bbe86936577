package dev.cairn.examples.sharded;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A {@link ShardedRank} in a child JVM (same java and class path as this one), its output collected line by line and
 * copied to a log file, its stdin open for commands. Killing it is SIGKILL.
 */
public final class RankProcess implements AutoCloseable {
    private final Process process;
    private final Thread reader;
    private final Writer stdin;
    private final List<String> lines = new ArrayList<>();
    private volatile boolean killed;

    private RankProcess(Process process, Path log) {
        this.process = process;
        this.stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        this.reader = new Thread(() -> collect(log), "rank output " + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts a rank with {@code args} (see {@link ShardedRank}); {@code env} carries secrets, never the command line. */
    public static RankProcess start(List<String> args, Path log, Map<String, String> env) throws IOException {
        return start(List.of(), args, log, env);
    }

    /**
     * {@link #start(List, Path, Map)} with extra JVM options, such as a class-data-sharing archive to write at exit
     * ({@code -XX:ArchiveClassesAtExit=F}) or to start from ({@code -XX:SharedArchiveFile=F}; a JVM that cannot use
     * it starts without it).
     */
    public static RankProcess start(List<String> jvmOptions, List<String> args, Path log, Map<String, String> env) throws IOException {
        return start(ShardedRank.class.getName(), jvmOptions, args, log, env);
    }

    /** {@link #start(List, List, Path, Map)} of another main class on the same class path (a test's own rank). */
    public static RankProcess start(String mainClass, List<String> jvmOptions, List<String> args, Path log, Map<String, String> env)
            throws IOException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of("--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx512m", "-XX:+UseSerialGC"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        return new RankProcess(pb.start(), log);
    }

    /**
     * {@code n} loopback addresses on ports free right now (bound, noted, released), for the ranks' peer tiers. The
     * ports are drawn below the kernel's ephemeral range ({@code /proc/sys/net/ipv4/ip_local_port_range}), which the
     * kernel never hands to a connection's local end: a port from that range (what {@code new ServerSocket(0)} gives)
     * can be taken by any outgoing connection on the machine between this call and the rank's bind seconds later, or
     * between a rank's kill and its replacement's bind, and the rank then fails with "Failed to bind" (seen on a busy
     * machine). Another process choosing the same port at random is the one case left, and far rarer.
     */
    public static List<java.net.InetSocketAddress> freeLoopbackAddresses(int n) throws IOException {
        int below = ephemeralLow();
        int low = 10_000;
        java.util.SplittableRandom random = new java.util.SplittableRandom();
        List<java.net.ServerSocket> held = new ArrayList<>();
        List<java.net.InetSocketAddress> out = new ArrayList<>();
        try {
            for (int tries = 0; out.size() < n; tries++) {
                java.net.ServerSocket s;
                if (below - low < 1_000 || tries > 1_000) {
                    s = new java.net.ServerSocket(0); // no room below the range: as before
                } else {
                    s = new java.net.ServerSocket();
                    s.setReuseAddress(false);
                    try {
                        s.bind(new java.net.InetSocketAddress("127.0.0.1", low + random.nextInt(below - low)));
                    } catch (IOException taken) {
                        s.close();
                        continue;
                    }
                }
                held.add(s);
                out.add(new java.net.InetSocketAddress("127.0.0.1", s.getLocalPort()));
            }
        } finally {
            for (java.net.ServerSocket s : held) {
                s.close();
            }
        }
        return out;
    }

    /** The first port of the kernel's ephemeral range, or 32768 (Linux's default) where it cannot be read. */
    private static int ephemeralLow() {
        try {
            String[] range = Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim().split("\\s+");
            return Integer.parseInt(range[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768;
        }
    }

    /** {@link #freeLoopbackAddresses} as {@link ShardedRank}'s {@code --peers} value. */
    public static String peersArgument(List<java.net.InetSocketAddress> addresses) {
        return String.join(",", addresses.stream().map(a -> "127.0.0.1:" + a.getPort()).toList());
    }

    private void collect(Path log) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter copy = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true)) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                copy.println(line);
                synchronized (lines) {
                    lines.add(line);
                    lines.notifyAll();
                }
            }
        } catch (IOException e) {
            if (!killed) {
                synchronized (lines) {
                    lines.add("error reading the child's output: " + e);
                }
            }
        }
    }

    /** The first line starting with {@code prefix}, waiting up to {@code timeout}; empty if none came (or the child died). */
    public Optional<String> awaitLine(String prefix, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (true) {
                for (String l : lines) {
                    if (l.startsWith(prefix)) {
                        return Optional.of(l);
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || (!process.isAlive() && !reader.isAlive())) {
                    return Optional.empty();
                }
                lines.wait(Math.max(1, Math.min(100, left / 1_000_000)));
            }
        }
    }

    /** Every line read so far. */
    public List<String> lines() {
        synchronized (lines) {
            return List.copyOf(lines);
        }
    }

    /** Sends one line to the child's stdin. */
    public void send(String line) throws IOException {
        stdin.write(line + "\n");
        stdin.flush();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL, then waits for it to be gone. */
    /** The child's process id (to attach diagnostic tools such as {@code jcmd}). */
    public long pid() {
        return process.pid();
    }

    public void kill() throws InterruptedException {
        killed = true;
        process.destroyForcibly();
        process.waitFor();
        reader.join(5_000);
    }

    /** Waits for the child to exit; kills it past {@code timeout}. Returns its exit status. */
    public int await(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill();
        }
        reader.join(5_000);
        return process.exitValue();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
    }
}
