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
 * <p>Each accepted connection gets a {@link Plan} that is a function of the seed and the connection's number alone
 * ({@link Schedule#plan}): at most one fault, the direction and byte count at which it strikes, and its details. The
 * same seed and the same sequence of connections give the same faults at the same bytes, so a failure can be
 * replayed; {@link #plans()} lists what each connection got, for failure messages.
 *
 * <ul>
 *   <li>{@link Fault#RESET}: at the chosen byte, both sides get a TCP reset;</li>
 *   <li>{@link Fault#STALL}: at the chosen byte, nothing moves either way for {@link Schedule#stall()}, then the
 *       connection goes on;</li>
 *   <li>{@link Fault#HALF_OPEN}: at the chosen byte of the server's answer (or when the server closes, if earlier),
 *       the server side is closed but the client is not told: no FIN, no reset; what the client sends is dropped;</li>
 *   <li>{@link Fault#SLOW}: the whole connection moves at most {@link Schedule#bytesPerSecond()} each way;</li>
 *   <li>{@link Fault#TRUNCATE}: after the chosen number of bytes towards the client, both sides are closed (a FIN,
 *       as if the answer had ended there);</li>
 *   <li>{@link Fault#FLIP}: one bit of the chosen byte towards the client is inverted;</li>
 *   <li>{@link Fault#LOSE_RESPONSE}: once the chosen number of request bytes has gone towards the server, the
 *       request still reaches the server whole, but nothing the server answers reaches the client; the client is
 *       reset when the first answer byte is dropped, or held (seeded coin).</li>
 * </ul>
 *
 * <p>{@link #setEnabled setEnabled(false)} heals the proxy at once: faults not yet struck never strike, stalls end,
 * and connections held open by a fault are reset, so that a client retries on a fresh, healthy connection and a test
 * can end healthy and verify. Plans keep being drawn while disabled, so turning faults back on resumes the schedule.
 */
public final class FaultyTcpProxy implements AutoCloseable {

    /** What a connection can suffer; at most one per connection. */
    public enum Fault { RESET, STALL, HALF_OPEN, SLOW, TRUNCATE, FLIP, LOSE_RESPONSE }

    /** Which way bytes move. */
    public enum Direction { TO_SERVER, TO_CLIENT }

    private static final int BUFFER_BYTES = 16 * 1024;
    private static final int CONNECT_TIMEOUT_MILLIS = 10_000;

    private final InetSocketAddress upstream;
    private final Schedule schedule;
    private final ServerSocket listener;
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLongArray injected = new AtomicLongArray(Fault.values().length);
    private final List<Plan> plans = Collections.synchronizedList(new ArrayList<>());
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

    /** How often {@code fault} has struck. */
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

    /** The plan of every connection accepted so far, in order; a fault in a plan may not have struck. */
    public List<Plan> plans() {
        synchronized (plans) {
            return List.copyOf(plans);
        }
    }

    /** Struck faults by kind, for messages: {@code {RESET=2, FLIP=1}}. */
    public String summary() {
        Map<Fault, Long> struck = new EnumMap<>(Fault.class);
        for (Fault fault : Fault.values()) {
            if (injected(fault) > 0) {
                struck.put(fault, injected(fault));
            }
        }
        return struck + " in " + connections() + " connections, seed " + schedule.seed();
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
            Plan plan = schedule.plan(accepted.getAndIncrement());
            plans.add(plan);
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
            Link link = new Link(plan, client, server);
            links.add(link);
            if (closed) {
                link.reset();
            }
            link.start();
        }
    }

    /** One proxied connection: a pump each way, and the state of its one fault. */
    private final class Link {
        private final Plan plan;
        private final Socket client;
        private final Socket server;
        private final long[] moved = new long[2];
        /** When each direction of a {@link Fault#SLOW} link may send again. */
        private final long[] freeAtNanos = new long[2];
        private boolean struck;
        private long stallUntilNanos;
        /** Nothing more reaches the client (a lost answer, or half-open). */
        private boolean deaf;
        /** The server side is gone but the client was not told; what it sends is dropped. */
        private boolean halfOpen;
        private boolean ended;
        private int pumpsRunning = 2;

        Link(Plan plan, Socket client, Socket server) {
            this.plan = plan;
            this.client = client;
            this.server = server;
        }

        void start() {
            startPump(Direction.TO_SERVER, client, server);
            startPump(Direction.TO_CLIENT, server, client);
        }

        private void startPump(Direction direction, Socket from, Socket to) {
            Thread pump = new Thread(() -> pump(direction, from, to),
                    "faulty-tcp-" + plan.connection() + "-" + direction.name().toLowerCase(java.util.Locale.ROOT));
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

        /** Forwards {@code n} bytes, striking the fault at its byte; false when the link ended. */
        private boolean forward(Direction direction, byte[] buffer, int n, OutputStream out) throws IOException {
            int off = 0;
            while (off < n) {
                awaitStallEnd();
                int len = n - off;
                long at = moved[direction.ordinal()];
                if (armed(direction) && at + len > plan.atByte()) {
                    int before = (int) (plan.atByte() - at);
                    write(direction, buffer, off, before, out);
                    off += before;
                    if (!strike(buffer, off)) {
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
            return !struck && plan.fault() != null && plan.fault() != Fault.SLOW && plan.direction() == direction
                    && enabled;
        }

        /** Strikes the plan's fault at {@code buffer[off]}; false when the link ended. */
        private boolean strike(byte[] buffer, int off) {
            synchronized (this) {
                struck = true;
                if (!enabled || ended) {
                    return !ended;
                }
                injected.incrementAndGet(plan.fault().ordinal());
                switch (plan.fault()) {
                    case STALL -> stallUntilNanos = System.nanoTime() + schedule.stall().toNanos();
                    case FLIP -> buffer[off] ^= (byte) (1 << plan.bit());
                    case LOSE_RESPONSE -> deaf = true; // this and every later request byte still reach the server
                    case HALF_OPEN -> {
                        deaf = true;
                        halfOpen = true;
                    }
                    case RESET, TRUNCATE -> {
                        // below, outside the lock
                    }
                    default -> throw new IllegalStateException(plan.fault().toString());
                }
            }
            switch (plan.fault()) {
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
            boolean resetNow = false;
            synchronized (this) {
                moved[direction.ordinal()] += len;
                drop = direction == Direction.TO_CLIENT ? deaf : halfOpen;
                if (drop && direction == Direction.TO_CLIENT && plan.fault() == Fault.LOSE_RESPONSE
                        && plan.resetAfterLoss()) {
                    resetNow = true; // the answer came and was lost: the client sees its connection reset
                }
            }
            if (resetNow) {
                reset();
                return;
            }
            if (drop) {
                return;
            }
            if (plan.fault() == Fault.SLOW) {
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
                    injectedSlowOnce();
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

        private synchronized void injectedSlowOnce() {
            if (!struck) {
                struck = true;
                injected.incrementAndGet(Fault.SLOW.ordinal());
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

        /** The sender closed its side cleanly: pass the FIN on, unless the fault keeps the client from hearing it. */
        private void endOfStream(Direction direction, Socket to) {
            if (direction == Direction.TO_CLIENT) {
                boolean hold;
                synchronized (this) {
                    if (plan.fault() == Fault.HALF_OPEN && !struck && enabled && !ended) {
                        struck = true;
                        injected.incrementAndGet(Fault.HALF_OPEN.ordinal());
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
     * What one connection gets.
     *
     * @param connection     the connection's number, from 0 in the order accepted
     * @param fault          the fault, or null for a healthy connection
     * @param direction      the direction whose byte count {@code atByte} counts
     * @param atByte         the number of bytes that pass in {@code direction} before the fault strikes (for
     *                       {@link Fault#FLIP}, the index of the flipped byte); unused for {@link Fault#SLOW}
     * @param bit            the bit a {@link Fault#FLIP} inverts, 0 to 7
     * @param resetAfterLoss whether a {@link Fault#LOSE_RESPONSE} resets the client once the answer is lost, rather
     *                       than holding it
     */
    public record Plan(long connection, Fault fault, Direction direction, long atByte, int bit, boolean resetAfterLoss) {

        /** Whether this connection runs without a fault. */
        public boolean healthy() {
            return fault == null;
        }

        @Override
        public String toString() {
            if (fault == null) {
                return "#" + connection + " healthy";
            }
            String where = switch (fault) {
                case SLOW -> "";
                case FLIP -> " bit " + bit + " of byte " + atByte + " " + direction;
                case LOSE_RESPONSE -> " after " + atByte + " bytes " + direction
                        + (resetAfterLoss ? ", then reset" : ", then held");
                default -> " after " + atByte + " bytes " + direction;
            };
            return "#" + connection + " " + fault + where;
        }
    }

    /**
     * Which faults strike how often: each rate is the probability that a connection gets that fault (they add up to
     * at most 1; a connection gets one fault at most). The byte at which a fault strikes is uniform in
     * [0, {@code window}) of its direction ({@link Fault#LOSE_RESPONSE}: [1, {@code window}], so that the request has
     * begun); a connection that ends earlier escapes it, except a {@link Fault#HALF_OPEN}, which then strikes at the
     * server's close.
     *
     * @param seed           seeds every choice
     * @param rates          the probability of each fault per connection; missing kinds never strike
     * @param window         the range of byte counts at which faults strike
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
            double sum = 0;
            for (Map.Entry<Fault, Double> rate : rates.entrySet()) {
                double p = rate.getValue();
                if (!(p >= 0 && p <= 1)) {
                    throw new IllegalArgumentException("the rate of " + rate.getKey() + " is not in [0, 1]: " + p);
                }
                sum += p;
            }
            if (sum > 1 + 1e-9) {
                throw new IllegalArgumentException("a connection gets one fault at most: rates add up to " + sum);
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

        /** No faults, with {@code seed}; a 4 KiB window, 2 s stalls, 64 KiB/s slow connections. */
        public static Schedule seeded(long seed) {
            return new Schedule(seed, Map.of(), 4096, Duration.ofSeconds(2), 64 * 1024);
        }

        /** This schedule with {@code fault} striking a connection with probability {@code rate}. */
        public Schedule with(Fault fault, double rate) {
            Map<Fault, Double> next = new EnumMap<>(Fault.class);
            next.putAll(rates);
            next.put(fault, rate);
            return new Schedule(seed, next, window, stall, bytesPerSecond);
        }

        /** This schedule with every fault in {@code faults} at {@code rate} each. */
        public Schedule withEach(double rate, Fault... faults) {
            Schedule s = this;
            for (Fault fault : faults) {
                s = s.with(fault, rate);
            }
            return s;
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

        /**
         * The plan of connection number {@code connection}: a function of the seed and the number alone. Every draw is
         * made whatever the outcome, so a rate changed for one fault does not move the bytes of the others.
         */
        public Plan plan(long connection) {
            SplittableRandom random = new SplittableRandom(seed + GOLDEN_GAMMA * (connection + 1));
            double u = random.nextDouble();
            boolean towardsServer = random.nextBoolean();
            long atByte = random.nextLong(window);
            int bit = random.nextInt(8);
            boolean resetAfterLoss = random.nextBoolean();
            Fault chosen = null;
            double sum = 0;
            for (Fault fault : Fault.values()) {
                sum += rate(fault);
                if (u < sum) {
                    chosen = fault;
                    break;
                }
            }
            if (chosen == null) {
                return new Plan(connection, null, Direction.TO_CLIENT, 0, 0, false);
            }
            Direction direction = switch (chosen) {
                case RESET, STALL -> towardsServer ? Direction.TO_SERVER : Direction.TO_CLIENT;
                case LOSE_RESPONSE -> Direction.TO_SERVER;
                default -> Direction.TO_CLIENT;
            };
            long at = chosen == Fault.LOSE_RESPONSE ? atByte + 1 : atByte;
            return new Plan(connection, chosen, direction, at, bit, resetAfterLoss);
        }
    }
}
