package dev.cairn.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A TCP proxy on loopback in front of any TCP server (the embedded S3 server, a Flight peer, the peer bulk lane) that
 * breaks connections the way networks do, by a seeded schedule. It knows no protocol: it counts bytes.
 *
 * <p>The bytes of each direction of each connection are cut into windows of {@link Schedule#window()} bytes. For
 * every window the schedule draws, from the seed, the connection's number, the direction and the window's number
 * alone ({@link Schedule#plan}), whether a fault strikes in it, at which byte, and its details; whether a connection
 * is {@link Fault#SLOW} is drawn once per connection ({@link Schedule#slow}). The same seed and the same sequence of
 * connections and bytes give the same faults at the same bytes, so a failure can be replayed; {@link #struck()} lists
 * what struck where, for failure messages.
 *
 * <ul>
 *   <li>{@link Fault#RESET}: at the chosen byte, both sides get a TCP reset;</li>
 *   <li>{@link Fault#STALL}: at the chosen byte, nothing moves either way for {@link Schedule#stall()}, then the
 *       connection goes on (bytes held meanwhile are delivered late, as a slow network does);</li>
 *   <li>{@link Fault#HALF_OPEN}: at the chosen byte of the server's answer (or when the server closes, if earlier),
 *       the server side is closed but the client is not told: no FIN, no reset; what the client sends is dropped;</li>
 *   <li>{@link Fault#SLOW}: the whole connection moves at most {@link Schedule#bytesPerSecond()} each way;</li>
 *   <li>{@link Fault#TRUNCATE}: after the chosen byte towards the client, both sides are closed (a FIN, as if the
 *       answer had ended there);</li>
 *   <li>{@link Fault#FLIP}: one bit of the chosen byte towards the client is inverted;</li>
 *   <li>{@link Fault#LOSE_RESPONSE}: from the chosen request byte on, the request still reaches the server whole, but
 *       nothing the server answers reaches the client; the client is reset when the first answer byte is dropped, or
 *       held (a seeded coin).</li>
 * </ul>
 *
 * <p>{@link #setEnabled setEnabled(false)} heals the proxy at once: faults not yet struck never strike, stalls end,
 * and connections held open by a fault are reset, so that a client retries on a fresh, healthy connection and a test
 * can end healthy and verify. Plans are drawn by byte counts whether or not faults are on, so turning them back on
 * resumes the same schedule.
 */
public final class FaultyTcpProxy implements AutoCloseable {

    /** What a connection can suffer. */
    public enum Fault {
        RESET, STALL, HALF_OPEN, SLOW, TRUNCATE, FLIP, LOSE_RESPONSE;

        /** Whether this fault can strike at a byte moving in {@code direction}. */
        public boolean strikesIn(Direction direction) {
            return switch (this) {
                case RESET, STALL -> true;
                case LOSE_RESPONSE -> direction == Direction.TO_SERVER;
                case HALF_OPEN, TRUNCATE, FLIP -> direction == Direction.TO_CLIENT;
                case SLOW -> false; // a property of the whole connection
            };
        }
    }

    /** Which way bytes move. */
    public enum Direction { TO_SERVER, TO_CLIENT }

    private static final int BUFFER_BYTES = 16 * 1024;
    private static final int CONNECT_TIMEOUT_MILLIS = 10_000;

    private final InetSocketAddress upstream;
    private final Schedule schedule;
    private final ServerSocket listener;
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLongArray injected = new AtomicLongArray(Fault.values().length);
    private final List<Plan> struck = Collections.synchronizedList(new ArrayList<>());
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private volatile boolean enabled = true;
    private volatile boolean closed;

    /** A proxy on a free loopback port in front of {@code upstream}, faulting by {@code schedule}. */
    public FaultyTcpProxy(InetSocketAddress upstream, Schedule schedule) throws IOException {
        this.upstream = Objects.requireNonNull(upstream, "upstream");
        this.schedule = Objects.requireNonNull(schedule, "schedule");
        this.listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "faulty-tcp-accept-" + listener.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** A proxy in front of the host and port of {@code endpoint} (an {@code http://host:port} URI). */
    public static FaultyTcpProxy inFrontOf(URI endpoint, Schedule schedule) throws IOException {
        return new FaultyTcpProxy(new InetSocketAddress(endpoint.getHost(), endpoint.getPort()), schedule);
    }

    /** A proxy in front of {@code port} on loopback. */
    public static FaultyTcpProxy inFrontOf(int port, Schedule schedule) throws IOException {
        return new FaultyTcpProxy(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), schedule);
    }

    /** The port clients connect to, on 127.0.0.1. */
    public int port() {
        return listener.getLocalPort();
    }

    /** {@code http://127.0.0.1:<port>}, for HTTP clients. */
    public URI httpEndpoint() {
        return URI.create("http://127.0.0.1:" + port());
    }

    /** The schedule this proxy follows. */
    public Schedule schedule() {
        return schedule;
    }

    /**
     * Turns faults on or off. Off also ends stalls at once and resets the connections a fault holds open (half-open
     * and lost answers), so that every call in flight ends and every new one runs healthy.
     */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
        if (!enabled) {
            for (Link link : links) {
                link.heal();
            }
        }
    }

    /** Whether faults strike. */
    public boolean enabled() {
        return enabled;
    }

    /** Connections accepted so far. */
    public long connections() {
        return accepted.get();
    }

    /** How often {@code fault} has struck ({@link Fault#SLOW}: connections slowed). */
    public long injected(Fault fault) {
        return injected.get(fault.ordinal());
    }

    /** How often any fault has struck. */
    public long injected() {
        long sum = 0;
        for (Fault fault : Fault.values()) {
            sum += injected(fault);
        }
        return sum;
    }

    /** The plans that struck so far, in order. */
    public List<Plan> struck() {
        synchronized (struck) {
            return List.copyOf(struck);
        }
    }

    /** Struck faults by kind, for messages: {@code {RESET=2, FLIP=1} in 7 connections, seed 42}. */
    public String summary() {
        Map<Fault, Long> counts = new EnumMap<>(Fault.class);
        for (Fault fault : Fault.values()) {
            if (injected(fault) > 0) {
                counts.put(fault, injected(fault));
            }
        }
        return counts + " in " + connections() + " connections, seed " + schedule.seed();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        listener.close();
        for (Link link : links) {
            link.reset();
        }
    }

    @Override
    public String toString() {
        return "FaultyTcpProxy[127.0.0.1:" + port() + " -> " + upstream + ", " + summary() + "]";
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return; // closed
            }
            long number = accepted.getAndIncrement();
            Socket server = new Socket();
            try {
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                server.connect(upstream, CONNECT_TIMEOUT_MILLIS);
            } catch (IOException e) {
                resetQuietly(client);
                closeQuietly(server);
                continue;
            }
            Link link = new Link(number, client, server);
            links.add(link);
            if (closed) {
                link.reset();
            }
            link.start();
        }
    }

    /** One proxied connection: a pump each way, and the state of its faults. */
    private final class Link {
        private final long number;
        private final Socket client;
        private final Socket server;
        private final boolean slow;
        private final long[] moved = new long[2];
        /** The plan of the window each direction is in, drawn when its first byte comes. */
        private final Plan[] plan = new Plan[2];
        private final boolean[] planStruck = new boolean[2];
        /** When each direction of a slow link may send again. */
        private final long[] freeAtNanos = new long[2];
        private long stallUntilNanos;
        /** Nothing more reaches the client (a lost answer, or half-open). */
        private boolean deaf;
        /** A lost answer resets the client when its first byte is dropped. */
        private boolean resetWhenDeaf;
        /** The server side is gone but the client was not told; what it sends is dropped. */
        private boolean halfOpen;
        private boolean ended;
        private int pumpsRunning = 2;

        Link(long number, Socket client, Socket server) {
            this.number = number;
            this.client = client;
            this.server = server;
            this.slow = schedule.slow(number);
        }

        void start() {
            if (slow && enabled) {
                injected.incrementAndGet(Fault.SLOW.ordinal());
            }
            startPump(Direction.TO_SERVER, client, server);
            startPump(Direction.TO_CLIENT, server, client);
        }

        private void startPump(Direction direction, Socket from, Socket to) {
            Thread pump = new Thread(() -> pump(direction, from, to),
                    "faulty-tcp-" + number + "-" + direction.name().toLowerCase(java.util.Locale.ROOT));
            pump.setDaemon(true);
            pump.start();
        }

        private void pump(Direction direction, Socket from, Socket to) {
            byte[] buffer = new byte[BUFFER_BYTES];
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                for (int n; (n = in.read(buffer)) >= 0; ) {
                    if (!forward(direction, buffer, n, out)) {
                        return;
                    }
                }
                endOfStream(direction, to);
            } catch (IOException e) {
                sideFailed(direction);
            } finally {
                pumpEnded();
            }
        }

        /** Forwards {@code n} bytes window by window, striking each window's fault at its byte; false when ended. */
        private boolean forward(Direction direction, byte[] buffer, int n, OutputStream out) throws IOException {
            int d = direction.ordinal();
            int off = 0;
            while (off < n) {
                awaitStallEnd();
                Plan p;
                long at;
                synchronized (this) {
                    at = moved[d];
                    long window = at / schedule.window();
                    if (plan[d] == null || plan[d].window() != window) {
                        plan[d] = schedule.plan(number, direction, window);
                        planStruck[d] = false;
                    }
                    p = plan[d];
                }
                long windowEnd = (p.window() + 1) * schedule.window();
                int len = (int) Math.min(n - off, windowEnd - at);
                if (armed(direction) && at + len > p.atByte()) {
                    int before = (int) (p.atByte() - at);
                    write(direction, buffer, off, before, out);
                    off += before;
                    if (!strike(direction, p, buffer, off)) {
                        return false;
                    }
                    continue;
                }
                write(direction, buffer, off, len, out);
                off += len;
            }
            return !isEnded();
        }

        private synchronized boolean armed(Direction direction) {
            int d = direction.ordinal();
            // A client that hears nothing more has nothing more to lose.
            return enabled && !ended && !deaf && !planStruck[d] && !plan[d].healthy();
        }

        /** Strikes {@code p}'s fault at {@code buffer[off]}; false when the link ended. */
        private boolean strike(Direction direction, Plan p, byte[] buffer, int off) {
            synchronized (this) {
                planStruck[direction.ordinal()] = true;
                if (!enabled || ended) {
                    return !ended;
                }
                injected.incrementAndGet(p.fault().ordinal());
                struck.add(p);
                switch (p.fault()) {
                    case STALL -> stallUntilNanos = System.nanoTime() + schedule.stall().toNanos();
                    case FLIP -> buffer[off] ^= (byte) (1 << p.bit());
                    case LOSE_RESPONSE -> {
                        deaf = true; // this and every later request byte still reach the server
                        resetWhenDeaf = p.resetAfterLoss();
                    }
                    case HALF_OPEN -> {
                        deaf = true;
                        halfOpen = true;
                    }
                    case RESET, TRUNCATE -> {
                        // below, outside the lock
                    }
                    default -> throw new IllegalStateException(p.fault().toString());
                }
            }
            switch (p.fault()) {
                case RESET -> {
                    reset();
                    return false;
                }
                case TRUNCATE -> {
                    closeBoth();
                    return false;
                }
                case HALF_OPEN -> closeQuietly(server);
                default -> {
                    // the connection goes on
                }
            }
            return true;
        }

        private void write(Direction direction, byte[] buffer, int off, int len, OutputStream out) throws IOException {
            if (len == 0) {
                return;
            }
            boolean drop;
            boolean resetNow;
            synchronized (this) {
                moved[direction.ordinal()] += len;
                drop = direction == Direction.TO_CLIENT ? deaf : halfOpen;
                // The answer came and was lost: the client sees its connection reset.
                resetNow = drop && direction == Direction.TO_CLIENT && resetWhenDeaf;
            }
            if (resetNow) {
                reset();
                return;
            }
            if (drop) {
                return;
            }
            if (slow) {
                writeSlowly(direction, buffer, off, len, out);
            } else {
                out.write(buffer, off, len);
                out.flush();
            }
        }

        /** At most {@code bytesPerSecond}, in steps of a twentieth of a second; an idle link saves up no credit. */
        private void writeSlowly(Direction direction, byte[] buffer, int off, int len, OutputStream out)
                throws IOException {
            long rate = schedule.bytesPerSecond();
            int step = (int) Math.max(1, Math.min(BUFFER_BYTES, rate / 20));
            for (int done = 0; done < len; ) {
                int k = Math.min(step, len - done);
                if (enabled) {
                    long due;
                    synchronized (this) {
                        int d = direction.ordinal();
                        freeAtNanos[d] = Math.max(System.nanoTime(), freeAtNanos[d]) + (long) (k * 1e9 / rate);
                        due = freeAtNanos[d];
                    }
                    waitUntil(due);
                }
                out.write(buffer, off + done, k);
                out.flush();
                done += k;
            }
        }

        private void awaitStallEnd() {
            long until;
            synchronized (this) {
                until = stallUntilNanos;
            }
            if (until != 0) {
                waitUntil(until);
            }
        }

        /** Sleeps until {@code nanos}, or until the link heals or ends. */
        private synchronized void waitUntil(long nanos) {
            for (long left; (left = nanos - System.nanoTime()) > 0 && enabled && !ended; ) {
                try {
                    wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }

        /** The sender closed its side cleanly: pass the FIN on, unless the client must not hear it. */
        private void endOfStream(Direction direction, Socket to) {
            if (direction == Direction.TO_CLIENT) {
                boolean hold;
                synchronized (this) {
                    int d = Direction.TO_CLIENT.ordinal();
                    Plan p = plan[d];
                    if (p != null && p.fault() == Fault.HALF_OPEN && !planStruck[d] && enabled && !ended) {
                        // The server closed before the chosen byte: the half-open strikes at its close.
                        planStruck[d] = true;
                        injected.incrementAndGet(Fault.HALF_OPEN.ordinal());
                        struck.add(p);
                        deaf = true;
                        halfOpen = true;
                    }
                    hold = deaf;
                }
                if (hold) {
                    return; // the client is never told
                }
            }
            try {
                to.shutdownOutput();
            } catch (IOException e) {
                closeBoth();
            }
        }

        /** A socket failed under a pump: end the link, unless the fault keeps the client waiting. */
        private void sideFailed(Direction direction) {
            synchronized (this) {
                if (direction == Direction.TO_CLIENT && deaf && !ended) {
                    return; // the server side is gone; the client keeps waiting
                }
            }
            closeBoth();
        }

        private void pumpEnded() {
            boolean last;
            synchronized (this) {
                last = --pumpsRunning == 0;
            }
            if (last) {
                closeBoth();
            }
        }

        /** Faults off: stalls end, a held client is reset so that it retries elsewhere. */
        void heal() {
            boolean held;
            synchronized (this) {
                held = deaf && !ended;
                notifyAll();
            }
            if (held) {
                reset();
            }
        }

        private synchronized boolean isEnded() {
            return ended;
        }

        void reset() {
            synchronized (this) {
                ended = true;
                notifyAll();
            }
            resetQuietly(client);
            resetQuietly(server);
            links.remove(this);
        }

        private void closeBoth() {
            synchronized (this) {
                ended = true;
                notifyAll();
            }
            closeQuietly(client);
            closeQuietly(server);
            links.remove(this);
        }
    }

    private static void resetQuietly(Socket socket) {
        try {
            if (!socket.isClosed()) {
                socket.setSoLinger(true, 0);
            }
        } catch (IOException ignored) {
            // closing below anyway
        }
        closeQuietly(socket);
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    /**
     * What one window of one direction of one connection gets.
     *
     * @param connection     the connection's number, from 0 in the order accepted
     * @param direction      the direction whose bytes the window counts
     * @param window         the window's number: it holds bytes [window * size, (window + 1) * size) of the direction
     * @param fault          the fault, or null for a healthy window
     * @param atByte         the number of bytes of {@code direction} that pass before the fault strikes (for
     *                       {@link Fault#FLIP}, the index of the flipped byte), counted from the connection's start
     * @param bit            the bit a {@link Fault#FLIP} inverts, 0 to 7
     * @param resetAfterLoss whether a {@link Fault#LOSE_RESPONSE} resets the client once the answer is lost, rather
     *                       than holding it
     */
    public record Plan(long connection, Direction direction, long window, Fault fault, long atByte, int bit,
                       boolean resetAfterLoss) {

        /** Whether this window passes untouched. */
        public boolean healthy() {
            return fault == null;
        }

        @Override
        public String toString() {
            String where = "#" + connection + " " + direction + " byte " + atByte;
            if (fault == null) {
                return "#" + connection + " " + direction + " window " + window + " healthy";
            }
            return switch (fault) {
                case FLIP -> where + ": FLIP bit " + bit;
                case LOSE_RESPONSE -> where + ": LOSE_RESPONSE, then " + (resetAfterLoss ? "reset" : "held");
                default -> where + ": " + fault;
            };
        }
    }

    /**
     * Which faults strike how often. The rate of {@link Fault#SLOW} is the probability that a connection is slow. Every
     * other rate is the probability that the fault strikes in a window of {@code window} bytes of a direction where it
     * can ({@link Fault#strikesIn}); a window gets one fault at most, so the rates of the faults of one direction add
     * up to at most 1. The byte at which it strikes is uniform in the window; a connection that ends earlier escapes
     * it, except a {@link Fault#HALF_OPEN}, which then strikes at the server's close.
     *
     * @param seed           seeds every choice
     * @param rates          the rate of each fault; missing kinds never strike
     * @param window         the size in bytes of the windows in which faults are drawn
     * @param stall          how long a {@link Fault#STALL} holds the connection
     * @param bytesPerSecond the bandwidth of a {@link Fault#SLOW} connection, each way
     */
    public record Schedule(long seed, Map<Fault, Double> rates, long window, Duration stall, long bytesPerSecond) {

        private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

        /** Checks the rates and limits. */
        public Schedule {
            Map<Fault, Double> copy = new EnumMap<>(Fault.class);
            copy.putAll(Objects.requireNonNull(rates, "rates"));
            rates = Collections.unmodifiableMap(copy);
            for (Map.Entry<Fault, Double> rate : rates.entrySet()) {
                double p = rate.getValue();
                if (!(p >= 0 && p <= 1)) {
                    throw new IllegalArgumentException("the rate of " + rate.getKey() + " is not in [0, 1]: " + p);
                }
            }
            for (Direction direction : Direction.values()) {
                double sum = 0;
                for (Map.Entry<Fault, Double> rate : rates.entrySet()) {
                    sum += rate.getKey().strikesIn(direction) ? rate.getValue() : 0;
                }
                if (sum > 1 + 1e-9) {
                    throw new IllegalArgumentException("a window gets one fault at most: the rates of the faults "
                            + direction + " add up to " + sum);
                }
            }
            if (window < 1) {
                throw new IllegalArgumentException("window must be at least 1 byte: " + window);
            }
            Objects.requireNonNull(stall, "stall");
            if (stall.isNegative()) {
                throw new IllegalArgumentException("negative stall " + stall);
            }
            if (bytesPerSecond < 1) {
                throw new IllegalArgumentException("bytesPerSecond must be positive: " + bytesPerSecond);
            }
        }

        /** No faults, with {@code seed}; 4 KiB windows, 2 s stalls, 64 KiB/s slow connections. */
        public static Schedule seeded(long seed) {
            return new Schedule(seed, Map.of(), 4096, Duration.ofSeconds(2), 64 * 1024);
        }

        /** This schedule with {@code fault} at {@code rate}. */
        public Schedule with(Fault fault, double rate) {
            Map<Fault, Double> next = new EnumMap<>(Fault.class);
            next.putAll(rates);
            next.put(fault, rate);
            return new Schedule(seed, next, window, stall, bytesPerSecond);
        }

        public Schedule withWindow(long bytes) {
            return new Schedule(seed, rates, bytes, stall, bytesPerSecond);
        }

        public Schedule withStall(Duration duration) {
            return new Schedule(seed, rates, window, duration, bytesPerSecond);
        }

        public Schedule withBandwidth(long bytesPerSecond) {
            return new Schedule(seed, rates, window, stall, bytesPerSecond);
        }

        /** The rate of {@code fault}, 0 when it is not scheduled. */
        public double rate(Fault fault) {
            return rates.getOrDefault(fault, 0.0);
        }

        /** Whether connection number {@code connection} is slow: a function of the seed and the number alone. */
        public boolean slow(long connection) {
            return new SplittableRandom(mix(connection, -1, -1)).nextDouble() < rate(Fault.SLOW);
        }

        /**
         * The plan of window {@code window} of {@code direction} of connection {@code connection}: a function of the seed
         * and these numbers alone. Every draw is made whatever the outcome, so a rate changed for one fault does not
         * move the bytes of the others.
         */
        public Plan plan(long connection, Direction direction, long window) {
            SplittableRandom random = new SplittableRandom(mix(connection, direction.ordinal(), window));
            double u = random.nextDouble();
            long atByte = window * this.window + random.nextLong(this.window);
            int bit = random.nextInt(8);
            boolean resetAfterLoss = random.nextBoolean();
            double sum = 0;
            for (Fault fault : Fault.values()) {
                if (!fault.strikesIn(direction)) {
                    continue;
                }
                sum += rate(fault);
                if (u < sum) {
                    return new Plan(connection, direction, window, fault, atByte, bit, resetAfterLoss);
                }
            }
            return new Plan(connection, direction, window, null, atByte, 0, false);
        }

        private long mix(long connection, long direction, long window) {
            long h = seed;
            for (long part : new long[] {connection, direction, window}) {
                h = Long.rotateLeft(h ^ (part * GOLDEN_GAMMA), 29) * 0xBF58476D1CE4E5B9L + GOLDEN_GAMMA;
            }
            return h;
        }
    }
}
