package dev.cairn.bench;

import dev.cairn.backend.flight.PeerMemoryConfig;
import dev.cairn.backend.flight.PeerMemoryStore;
import dev.cairn.examples.QuietLogging;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;

/**
 * The peer-transport benchmark: one read of a {@value #DEFAULT_OBJECT_MIB} MiB object from another peer's memory
 * over loopback (two {@link PeerMemoryStore}s in this JVM, a put on peer 0 and a read of that key on peer 1, no
 * replication, so every byte crosses the network), beside the machine's limit for moving the same bytes: one
 * {@link SocketChannel} on 127.0.0.1 writing them from a direct buffer into a direct buffer. The two are
 * interleaved (order alternating) so that a noisy neighbour hits both.
 *
 * <p>Two goals: the peer read at {@value #GOAL_BYTES_PER_SECOND} bytes/s or more, and at least
 * {@value #GOAL_RATIO}x the raw TCP transfer of the same run. Run as a plain main class:
 * {@code java --add-opens=java.base/java.nio=ALL-UNNAMED -cp ... dev.cairn.bench.PeerTransportBenchmark [reps]
 * [--json]}.
 */
public final class PeerTransportBenchmark {
    public static final String TCP = "transport.tcp";
    public static final String PEER_READ = "transport.peerRead";
    public static final String READ_OVER_TCP = "transport.peerReadOverTcp";
    /** Goal 1: a peer read of one object at this rate or more. */
    public static final double GOAL_BYTES_PER_SECOND = 1e9;
    /** Goal 2: a peer read at this fraction of raw loopback TCP or more. */
    public static final double GOAL_RATIO = 0.3;
    static final int DEFAULT_OBJECT_MIB = 64;
    private static final String KEY = "bench/transport/object";
    /**
     * Warm-ups of each, at least this many and for at least {@link #DEFAULT_WARMUP}: connections, first touch of
     * every buffer, and the JIT, which on a busy machine takes seconds to compile the read path.
     */
    private static final int WARMUP = 8;
    public static final Duration DEFAULT_WARMUP = Duration.ofSeconds(10);
    private static final int MAX_WARMUP = 100;

    private PeerTransportBenchmark() {
    }

    /**
     * Everything one run measured.
     *
     * @param objectBytes size of the object read (and of each TCP transfer)
     * @param warmup      the least time spent warming up before the repetitions
     * @param bitExact    whether every peer read and every TCP transfer delivered exactly the source bytes
     */
    public record Results(Instant date, MachineInfo machine, long objectBytes, int repetitions, Duration warmup,
                          List<Figure> figures, List<Comparison> comparisons, boolean bitExact, double loadBefore,
                          double loadAfter)
            implements MeasuredRun {
        public Results {
            figures = List.copyOf(figures);
            comparisons = List.copyOf(comparisons);
        }

        /** Goal 1: the peer read's median rate reached {@link #GOAL_BYTES_PER_SECOND}. */
        public boolean rateGoalMet() {
            return figure(PEER_READ).bytesPerSecond() >= GOAL_BYTES_PER_SECOND;
        }

        @Override
        public boolean goalsMet() {
            return rateGoalMet() && MeasuredRun.super.goalsMet();
        }
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        QuietLogging.install(); // unconfigured Logback would log every HTTP/2 frame at DEBUG, and time that
        int reps = 7;
        boolean json = false;
        for (String arg : args) {
            if (arg.equals("--json")) {
                json = true;
            } else {
                reps = Integer.parseInt(arg);
            }
        }
        Results r = run(DEFAULT_OBJECT_MIB << 20, reps, DEFAULT_WARMUP, System.err);
        if (json) {
            System.out.println(json(r));
        } else {
            printText(r, System.out);
        }
    }

    /**
     * Runs {@code repetitions} of each figure on an object of {@code objectBytes}, after at least 8 warm-ups of each
     * and at least {@code warmup} of them; progress to {@code log}.
     */
    public static Results run(int objectBytes, int repetitions, Duration warmup, PrintStream log)
            throws IOException, InterruptedException {
        if (objectBytes <= 0 || repetitions <= 0) {
            throw new IllegalArgumentException("object size and repetitions must be positive");
        }
        MachineInfo machine = MachineInfo.probe(Path.of("."));
        double loadBefore = MachineInfo.loadAverage();
        ByteBuffer source = ByteBuffer.allocateDirect(objectBytes);
        fill(source);
        ByteBuffer target = ByteBuffer.allocateDirect(objectBytes);
        long[] tcp = new long[repetitions];
        long[] peer = new long[repetitions];
        boolean exact = true;
        try (LoopbackTcp raw = LoopbackTcp.start(source);
             PeerMemoryStore owner = PeerMemoryStore.start(config(0, objectBytes));
             PeerMemoryStore reader = PeerMemoryStore.start(config(1, objectBytes))) {
            List<InetSocketAddress> addresses = List.of(owner.address(), reader.address());
            owner.connect(addresses);
            reader.connect(addresses);
            owner.put(KEY, source.duplicate());
            long warmStart = System.nanoTime();
            int warmups = 0;
            while (warmups < MAX_WARMUP && (warmups < WARMUP || System.nanoTime() - warmStart < warmup.toNanos())) {
                raw.transfer(target);
                peerRead(reader, target);
                warmups++;
            }
            log.printf("%d warm-ups of each in %s%n", warmups, ReportTable.time(System.nanoTime() - warmStart));
            for (int i = 0; i < repetitions; i++) {
                boolean tcpFirst = i % 2 == 0;
                if (tcpFirst) {
                    tcp[i] = raw.transfer(target);
                    exact &= target.flip().equals(source.duplicate());
                }
                peer[i] = peerRead(reader, target);
                exact &= target.flip().equals(source.duplicate());
                if (!tcpFirst) {
                    tcp[i] = raw.transfer(target);
                    exact &= target.flip().equals(source.duplicate());
                }
                log.printf("repetition %d: tcp %s, peer read %s%n", i + 1, ReportTable.time(tcp[i]), ReportTable.time(peer[i]));
            }
        }
        Figure tcpFigure = new Figure(TCP, "raw loopback TCP, one SocketChannel, direct to direct", objectBytes, tcp);
        Figure peerFigure = new Figure(PEER_READ, "peer read of one object (PeerMemoryStore, 2 peers)", objectBytes, peer);
        Comparison ratio = new Comparison(READ_OVER_TCP, "peer read vs raw loopback TCP", peerFigure, tcpFigure,
                Comparison.Measure.THROUGHPUT, GOAL_RATIO);
        return new Results(Instant.now(), machine, objectBytes, repetitions, warmup, List.of(tcpFigure, peerFigure),
                List.of(ratio), exact, loadBefore, MachineInfo.loadAverage());
    }

    /** The table: machine, load, both figures with their spread, then both goals with their verdicts. */
    public static void printText(Results r, PrintStream out) {
        ReportTable.heading(out, "Cairn peer-transport benchmark", r.date(), r.machine());
        out.println("object   " + ByteSize.format(r.objectBytes()) + " of random bytes, put on peer 0 and read by peer 1"
                + " (2 PeerMemoryStores in this JVM on 127.0.0.1, no replication); TCP: the same bytes through one"
                + " SocketChannel, direct buffer to direct buffer");
        ReportTable.load(out, r.loadBefore(), r.loadAfter(), r.machine().cores());
        out.println("method   " + r.repetitions() + " repetitions after at least " + WARMUP + " warm-ups and "
                + r.warmup().toSeconds() + " s of them, medians [min .. max]; TCP and peer read"
                + " interleaved, order alternating");
        ReportTable.figures(out, 56, r.figures());
        ReportTable.comparisons(out, "peer read vs the machine's limit", "tcp", 40, 11, r.comparisons());
        double rate = r.figure(PEER_READ).bytesPerSecond();
        out.printf("%-40s %11s %11s %8s %9s  %s%n", "peer read rate (goal 1)", ReportTable.rate(rate),
                "", "", ">= " + ByteSize.rate(GOAL_BYTES_PER_SECOND), r.rateGoalMet() ? "met" : "MISSED");
        out.println("bytes exact: " + r.bitExact());
        out.flush();
    }

    /** The same figures as one JSON object (times in nanoseconds, rates in bytes per second). */
    public static String json(Results r) {
        StringBuilder b = new StringBuilder(2048);
        b.append("{\n");
        b.append("  \"benchmark\": \"peer-transport\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, r.machine());
        b.append("  \"setup\": {\"objectBytes\": ").append(r.objectBytes()).append(", \"repetitions\": ")
                .append(r.repetitions()).append(", \"minWarmups\": ").append(WARMUP).append(", \"minWarmupNanos\": ")
                .append(r.warmup().toNanos()).append("},\n");
        JsonText.figures(b, r.figures());
        JsonText.comparisons(b, r.comparisons());
        b.append("  \"peerReadRateGoal\": {\"bytesPerSecond\": ").append(JsonText.number(GOAL_BYTES_PER_SECOND))
                .append(", \"met\": ").append(r.rateGoalMet()).append("},\n");
        JsonText.end(b, r.goalsMet(), r.bitExact(), r.loadBefore(), r.loadAfter());
        return b.toString();
    }

    private static PeerMemoryConfig config(int index, int objectBytes) {
        return PeerMemoryConfig.builder(index, 2)
                .replicationFactor(0) // the reader must not hold a replica: every byte comes over the network
                .memoryLimitBytes(Math.max(256L << 20, 2L * objectBytes))
                .build();
    }

    private static long peerRead(PeerMemoryStore reader, ByteBuffer target) throws IOException {
        target.clear();
        long start = System.nanoTime();
        int n = reader.read(KEY, 0, target);
        long nanos = System.nanoTime() - start;
        if (n != target.capacity()) {
            throw new IllegalStateException("peer read returned " + n + " of " + target.capacity() + " bytes");
        }
        return nanos;
    }

    private static void fill(ByteBuffer buffer) {
        SplittableRandom random = new SplittableRandom(11);
        while (buffer.remaining() >= Long.BYTES) {
            buffer.putLong(random.nextLong());
        }
        while (buffer.hasRemaining()) {
            buffer.put((byte) random.nextInt());
        }
        buffer.flip();
    }

    /**
     * One loopback TCP connection kept open across repetitions (as the peer stores keep theirs): a sender thread
     * writes the whole source buffer each time it is asked; the caller times until the last byte is read.
     */
    private static final class LoopbackTcp implements AutoCloseable {
        private final ServerSocketChannel server;
        private final SocketChannel in;
        private final Thread sender;
        private final SynchronousQueue<Boolean> go = new SynchronousQueue<>();

        private LoopbackTcp(ServerSocketChannel server, SocketChannel in, Thread sender) {
            this.server = server;
            this.in = in;
            this.sender = sender;
        }

        static LoopbackTcp start(ByteBuffer source) throws IOException {
            ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
            SocketChannel out = SocketChannel.open(server.getLocalAddress());
            SocketChannel in = server.accept();
            LoopbackTcp[] self = new LoopbackTcp[1];
            Thread sender = new Thread(() -> self[0].send(out, source), "bench-tcp-sender");
            sender.setDaemon(true);
            self[0] = new LoopbackTcp(server, in, sender);
            sender.start();
            return self[0];
        }

        private void send(SocketChannel out, ByteBuffer source) {
            try (out) {
                while (go.take()) {
                    ByteBuffer bytes = source.duplicate();
                    while (bytes.hasRemaining()) {
                        out.write(bytes);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /** Nanoseconds from asking the sender until {@code target} is full. */
        long transfer(ByteBuffer target) throws IOException, InterruptedException {
            target.clear();
            long start = System.nanoTime();
            go.put(Boolean.TRUE);
            while (target.hasRemaining()) {
                if (in.read(target) < 0) {
                    throw new IOException("loopback sender closed after " + target.position() + " bytes");
                }
            }
            return System.nanoTime() - start;
        }

        @Override
        public void close() throws IOException, InterruptedException {
            go.offer(Boolean.FALSE, 1, TimeUnit.SECONDS);
            sender.join(TimeUnit.SECONDS.toMillis(5));
            in.close();
            server.close();
        }
    }
}
