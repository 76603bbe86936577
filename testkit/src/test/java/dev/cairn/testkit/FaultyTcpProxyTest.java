package dev.cairn.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.testkit.FaultyTcpProxy.Direction;
import dev.cairn.testkit.FaultyTcpProxy.Fault;
import dev.cairn.testkit.FaultyTcpProxy.Plan;
import dev.cairn.testkit.FaultyTcpProxy.Schedule;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The proxy against a tiny request-answer server on loopback: each request is a length and its bytes; the answer is
 * {@value #ANSWER_BYTES} bytes of a known pattern. Waits are on events; the only clocks are lower bounds (a stall or
 * a slow link takes at least so long), which a slow machine cannot break, and "nothing arrives" checks, which a slow
 * machine only makes easier to pass.
 */
class FaultyTcpProxyTest {

    private static final int ANSWER_BYTES = 8 * 1024;
    /** Long enough that a healthy answer on loopback always arrives first, even on a loaded machine. */
    private static final int GENEROUS_MILLIS = 30_000;
    /** How long a client listens to conclude that nothing comes; longer only makes the check stronger. */
    private static final int QUIET_MILLIS = 300;

    private ServerSocket upstream;
    private final BlockingQueue<byte[]> requests = new LinkedBlockingQueue<>();
    private final CountDownLatch serverSawClose = new CountDownLatch(1);

    @BeforeEach
    void startServer() throws IOException {
        upstream = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(() -> {
            while (!upstream.isClosed()) {
                try {
                    Socket s = upstream.accept();
                    Thread t = new Thread(() -> serve(s), "answer-server");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "answer-server-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    @AfterEach
    void stopServer() throws IOException {
        upstream.close();
    }

    private void serve(Socket s) {
        try (s) {
            DataInputStream in = new DataInputStream(s.getInputStream());
            while (true) {
                byte[] request = new byte[in.readInt()];
                in.readFully(request);
                requests.add(request);
                s.getOutputStream().write(answer());
                s.getOutputStream().flush();
            }
        } catch (IOException e) {
            serverSawClose.countDown();
        }
    }

    private static byte[] answer() {
        byte[] a = new byte[ANSWER_BYTES];
        for (int i = 0; i < a.length; i++) {
            a[i] = (byte) (i * 31 + 7);
        }
        return a;
    }

    private static byte[] request(int size) {
        byte[] r = new byte[size];
        for (int i = 0; i < r.length; i++) {
            r[i] = (byte) (i ^ 0x5A);
        }
        return r;
    }

    private FaultyTcpProxy proxy(Schedule schedule) throws IOException {
        return FaultyTcpProxy.inFrontOf(upstream.getLocalPort(), schedule);
    }

    private static Socket connect(FaultyTcpProxy proxy) throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
        s.setSoTimeout(GENEROUS_MILLIS);
        return s;
    }

    private static void send(Socket s, byte[] request) throws IOException {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.writeInt(request.length);
        out.write(request);
        out.flush();
    }

    /** Reads until {@code n} bytes or the end of the stream. */
    private static byte[] readUpTo(Socket s, int n) throws IOException {
        InputStream in = s.getInputStream();
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        while (got.size() < n) {
            int k = in.read(buffer, 0, Math.min(buffer.length, n - got.size()));
            if (k < 0) {
                break;
            }
            got.write(buffer, 0, k);
        }
        return got.toByteArray();
    }

    @Test
    void withoutFaultsEveryByteGoesThroughBothWays() throws IOException, InterruptedException {
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(1)); Socket s = connect(proxy)) {
            for (int i = 0; i < 3; i++) {
                send(s, request(1000 + i));
                assertArrayEquals(answer(), readUpTo(s, ANSWER_BYTES));
                assertArrayEquals(request(1000 + i), requests.poll(GENEROUS_MILLIS, TimeUnit.MILLISECONDS));
            }
            assertEquals(0, proxy.injected());
            assertEquals(List.of(), proxy.struck());
        }
    }

    @Test
    void theSameSeedGivesTheSamePlanToEveryWindowOfEveryConnection() {
        Schedule schedule = everyFault(42);
        Schedule again = everyFault(42);
        Schedule other = everyFault(43);
        int differ = 0;
        int healthy = 0;
        int[] kinds = new int[Fault.values().length];
        for (long c = 0; c < 100; c++) {
            for (Direction direction : Direction.values()) {
                for (long w = 0; w < 20; w++) {
                    Plan plan = schedule.plan(c, direction, w);
                    assertEquals(plan, again.plan(c, direction, w));
                    differ += plan.equals(other.plan(c, direction, w)) ? 0 : 1;
                    assertTrue(plan.atByte() >= w * 1000 && plan.atByte() < (w + 1) * 1000, plan.toString());
                    if (plan.healthy()) {
                        healthy++;
                    } else {
                        assertTrue(plan.fault().strikesIn(direction), plan.toString());
                        kinds[plan.fault().ordinal()]++;
                    }
                }
            }
            assertEquals(schedule.slow(c), again.slow(c));
        }
        assertTrue(differ > 3950, "another seed gives other plans: " + differ);
        // Deterministic for this seed; the bounds only document that the rates are followed: towards the server 3 faults
        // can strike (70% of windows healthy), towards the client 5 (50% healthy).
        assertTrue(healthy > 2250 && healthy < 2550, "about 60% healthy: " + healthy);
        for (Fault fault : List.of(Fault.HALF_OPEN, Fault.TRUNCATE, Fault.FLIP, Fault.LOSE_RESPONSE)) {
            assertTrue(kinds[fault.ordinal()] > 150 && kinds[fault.ordinal()] < 250, fault + ": " + kinds[fault.ordinal()]);
        }
        for (Fault fault : List.of(Fault.RESET, Fault.STALL)) {
            assertTrue(kinds[fault.ordinal()] > 330 && kinds[fault.ordinal()] < 470, fault + ": " + kinds[fault.ordinal()]);
        }
    }

    private static Schedule everyFault(long seed) {
        Schedule s = Schedule.seeded(seed).withWindow(1000);
        for (Fault fault : Fault.values()) {
            s = s.with(fault, 0.1);
        }
        return s;
    }

    @Test
    void aScheduleRefusesRatesThatAreNotProbabilities() {
        assertThrows(IllegalArgumentException.class, () -> Schedule.seeded(1).with(Fault.RESET, 1.5));
        assertThrows(IllegalArgumentException.class, () -> Schedule.seeded(1).with(Fault.RESET, 0.6).with(Fault.FLIP, 0.6));
        assertThrows(IllegalArgumentException.class, () -> Schedule.seeded(1).withWindow(0));
    }

    @Test
    void aFlipInvertsOneBitOfTheChosenAnswerByte() throws IOException {
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(2).with(Fault.FLIP, 1).withWindow(ANSWER_BYTES));
             Socket s = connect(proxy)) {
            send(s, request(10));
            byte[] got = readUpTo(s, ANSWER_BYTES);
            Plan plan = proxy.struck().get(0);
            byte[] expected = answer();
            expected[(int) plan.atByte()] ^= (byte) (1 << plan.bit());
            assertArrayEquals(expected, got, plan.toString());
            assertEquals(1, proxy.injected(Fault.FLIP));
        }
    }

    @Test
    void aTruncatedAnswerEndsCleanlyAfterTheChosenByte() throws IOException {
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(3).with(Fault.TRUNCATE, 1).withWindow(ANSWER_BYTES));
             Socket s = connect(proxy)) {
            send(s, request(10));
            byte[] got = readUpTo(s, ANSWER_BYTES);
            Plan plan = proxy.struck().get(0);
            assertEquals(plan.atByte(), got.length, plan.toString());
            byte[] expected = java.util.Arrays.copyOf(answer(), got.length);
            assertArrayEquals(expected, got);
        }
    }

    @Test
    void aLostAnswerReachesTheServerButNeverTheClient() throws IOException, InterruptedException {
        Schedule schedule = Schedule.seeded(4).with(Fault.LOSE_RESPONSE, 1).withWindow(100);
        boolean sawReset = false;
        boolean sawHeld = false;
        try (FaultyTcpProxy proxy = proxy(schedule)) {
            for (int c = 0; c < 8 && !(sawReset && sawHeld); c++) {
                try (Socket s = connect(proxy)) {
                    s.setSoTimeout(QUIET_MILLIS);
                    send(s, request(500));
                    assertArrayEquals(request(500), requests.poll(GENEROUS_MILLIS, TimeUnit.MILLISECONDS),
                            "the whole request reached the server");
                    long connection = c;
                    Plan plan = proxy.struck().stream().filter(p -> p.connection() == connection).findFirst().orElseThrow();
                    if (plan.resetAfterLoss()) {
                        s.setSoTimeout(GENEROUS_MILLIS);
                        assertThrows(IOException.class, () -> s.getInputStream().read(), plan.toString());
                        sawReset = true;
                    } else {
                        assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read(), plan.toString());
                        sawHeld = true;
                    }
                }
            }
        }
        assertTrue(sawReset && sawHeld, "seed 4 gives both kinds within 8 connections");
    }

    @Test
    void aHalfOpenConnectionClosesTheServerSideAndNeverTellsTheClient() throws Exception {
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(5).with(Fault.HALF_OPEN, 1).withWindow(1));
             Socket s = connect(proxy)) {
            send(s, request(10));
            assertTrue(serverSawClose.await(GENEROUS_MILLIS, TimeUnit.MILLISECONDS), "the server side was closed");
            s.setSoTimeout(QUIET_MILLIS);
            assertThrows(SocketTimeoutException.class, () -> s.getInputStream().read(), "no FIN, no reset, no byte");
            send(s, request(10)); // the client can still write into the void

            proxy.setEnabled(false);
            s.setSoTimeout(GENEROUS_MILLIS);
            assertThrows(IOException.class, () -> s.getInputStream().read(), "healing resets the held client");
            assertEquals(1, proxy.injected(Fault.HALF_OPEN));
        }
    }

    @Test
    void aResetBreaksTheConnectionWithoutTheWholeAnswer() throws IOException {
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(6).with(Fault.RESET, 1).withWindow(3000))) {
            for (int c = 0; c < 4; c++) {
                try (Socket s = connect(proxy)) {
                    int got;
                    try {
                        send(s, request(3000));
                        got = readUpTo(s, ANSWER_BYTES).length;
                    } catch (IOException reset) {
                        got = -1;
                    }
                    assertTrue(got < ANSWER_BYTES, "got " + got + " bytes: " + proxy.struck());
                }
            }
            assertEquals(4, proxy.injected(Fault.RESET));
        }
    }

    @Test
    void aStallHoldsEveryByteForItsDurationThenTheConnectionGoesOn() throws IOException {
        Duration stall = Duration.ofMillis(400);
        // A window larger than the whole exchange: one stall each way at most, in the answer for this seed.
        long seed = 7;
        while (Schedule.seeded(seed).withWindow(64 * 1024).plan(0, Direction.TO_CLIENT, 0).atByte() >= ANSWER_BYTES) {
            seed++;
        }
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(seed).with(Fault.STALL, 1).withWindow(64 * 1024).withStall(stall));
             Socket s = connect(proxy)) {
            long start = System.nanoTime();
            send(s, request(10));
            assertArrayEquals(answer(), readUpTo(s, ANSWER_BYTES));
            long elapsed = System.nanoTime() - start;
            assertTrue(elapsed >= stall.toNanos(), "a lower bound only: " + elapsed / 1_000_000 + " ms");
            assertTrue(proxy.injected(Fault.STALL) >= 1, proxy.summary());
        }
    }

    @Test
    void aSlowConnectionMovesNoFasterThanItsBandwidth() throws IOException {
        long bytesPerSecond = 16 * 1024;
        try (FaultyTcpProxy proxy = proxy(Schedule.seeded(8).with(Fault.SLOW, 1).withBandwidth(bytesPerSecond));
             Socket s = connect(proxy)) {
            long start = System.nanoTime();
            send(s, request(10));
            assertArrayEquals(answer(), readUpTo(s, ANSWER_BYTES));
            long elapsedMillis = (System.nanoTime() - start) / 1_000_000;
            // 8 KiB at 16 KiB/s: at least 500 ms less the first step (a twentieth of a second) sent at once.
            assertTrue(elapsedMillis >= 400, "a lower bound only: " + elapsedMillis + " ms");
        }
    }

    @Test
    void turningFaultsOffLetsNewConnectionsThroughAndOnAgainResumesTheSchedule() throws IOException {
        Schedule schedule = Schedule.seeded(9).with(Fault.TRUNCATE, 1).withWindow(100);
        try (FaultyTcpProxy proxy = proxy(schedule)) {
            proxy.setEnabled(false);
            try (Socket s = connect(proxy)) {
                send(s, request(10));
                assertArrayEquals(answer(), readUpTo(s, ANSWER_BYTES));
            }
            proxy.setEnabled(true);
            try (Socket s = connect(proxy)) {
                send(s, request(10));
                assertEquals(schedule.plan(1, Direction.TO_CLIENT, 0).atByte(), readUpTo(s, ANSWER_BYTES).length);
            }
            assertEquals(1, proxy.injected(Fault.TRUNCATE));
            assertEquals(List.of(schedule.plan(1, Direction.TO_CLIENT, 0)), proxy.struck());
        }
    }
}
