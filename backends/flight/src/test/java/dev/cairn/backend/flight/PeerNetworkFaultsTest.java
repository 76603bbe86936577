package dev.cairn.backend.flight;

import dev.cairn.testkit.TestBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cairn.ObjectInfo;
import dev.cairn.testkit.FaultyTcpProxy;
import dev.cairn.testkit.FaultyTcpProxy.Fault;
import dev.cairn.testkit.FaultyTcpProxy.Schedule;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A reader peer and a holder peer, with {@link FaultyTcpProxy}s in front of the holder's Flight port and of its bulk
 * lane (the holder announces the lane's proxy as its lane): the reader's address book and the holder's BULK answer
 * are the only places a peer's address is given. The reader reads, stats, lists and creates while the proxies reset,
 * stall, half-open, slow, truncate and lose answers; then faults are turned off and the same reader must be served
 * again, and both peers close without leaking Arrow memory.
 *
 * <p>Bit flips are left out of the property: neither the bulk lane nor Flight (gRPC over plain TCP) carries a checksum,
 * so a flipped byte of an answer reaches the reader ({@link #aBitFlippedOnTheBulkLaneReachesTheReaderUnchecked}); the
 * engine above checks every chunk by its content hash and every MANIFEST and index by its rows digest.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PeerNetworkFaultsTest {

    private static final Duration PEER_TIMEOUT = Duration.ofMillis(500);
    private static final Duration CALL_TIMEOUT = Duration.ofMillis(1500);
    /**
     * The longest a call may run: a read may ask the lane's port over Flight, read over the lane, and fall back to
     * Flight, each within the call timeout, after connects within the peer timeout.
     */
    private static final Duration CALL_BOUND = CALL_TIMEOUT.multipliedBy(3).plus(PEER_TIMEOUT.multipliedBy(2));
    /**
     * What a call may take beyond {@link #CALL_BOUND} before the test calls it hung: a loaded 2-core machine delays
     * timers and threads by seconds (GC, the servers' threads, other builds).
     */
    private static final Duration SLACK = Duration.ofSeconds(15);
    /** How long the healed reader is given to be served again: its link to the holder comes back 500 ms after a failure. */
    private static final Duration RECOVERY = Duration.ofSeconds(60);
    private static final int OBJECTS = 6;
    private static final int CALLS = 40;

    /** Which of the holder's ports carries the reads: the bulk lane (Flight only for its port), or Flight alone. */
    enum Path { LANE, FLIGHT_ONLY }

    @ParameterizedTest(name = "seed {0}, {1}")
    @CsvSource({"301, LANE", "302, LANE", "303, FLIGHT_ONLY"})
    void underTransportFaultsEveryReadIsRightOrFailsInTimeAndTheHealedPeerServesAgain(long seed, Path path)
            throws Exception {
        Schedule schedule = Schedule.seeded(seed)
                .with(Fault.RESET, 0.06).with(Fault.STALL, 0.02).with(Fault.HALF_OPEN, 0.02).with(Fault.SLOW, 0.2)
                .with(Fault.TRUNCATE, 0.06).with(Fault.LOSE_RESPONSE, 0.04)
                .withWindow(16 * 1024).withStall(CALL_TIMEOUT.multipliedBy(2)).withBandwidth(512 * 1024);
        SplittableRandom random = new SplittableRandom(seed);
        try (Pair pair = Pair.start(schedule)) {
            if (path == Path.FLIGHT_ONLY) {
                pair.holder.service().announceBulkPort(0); // "no lane": the reader goes over Flight for everything
            }
            Map<String, byte[]> held = new TreeMap<>();
            for (int i = 0; i < OBJECTS; i++) {
                byte[] content = TestBytes.random(random, 1 + random.nextInt(96 * 1024));
                held.put("chunks/k" + i, content);
                pair.holder.put("chunks/k" + i, ByteBuffer.wrap(content));
            }
            List<String> log = new ArrayList<>();
            for (int i = 0; i < CALLS; i++) {
                String key = "chunks/k" + random.nextInt(OBJECTS);
                int op = random.nextInt(7);
                long offset = random.nextInt(64 * 1024);
                int length = 1 + random.nextInt(64 * 1024);
                long start = System.nanoTime();
                String outcome;
                try {
                    outcome = call(pair.reader, held, op, key, offset, length, i);
                } catch (IOException e) {
                    outcome = "failed: " + e;
                } catch (AssertionError wrong) {
                    throw new AssertionError("seed " + seed + ", call " + i + ": " + wrong.getMessage() + "\ncalls:\n"
                            + String.join("\n", log) + "\n" + pair.faults(), wrong);
                }
                long millis = (System.nanoTime() - start) / 1_000_000;
                log.add(i + " " + outcome + " (" + millis + " ms)");
                assertTrue(millis <= CALL_BOUND.plus(SLACK).toMillis(),
                        "seed " + seed + ", call " + i + " took " + millis + " ms: " + outcome + "\n" + pair.faults());
                if (outcome.startsWith("failed") || outcome.startsWith("not reachable")) {
                    // A failed peer is skipped for PeerLink.DOWN_NANOS: let the next call reach it again.
                    Thread.sleep(TimeUnit.NANOSECONDS.toMillis(PeerLink.DOWN_NANOS) + 10);
                }
            }
            assertTrue(pair.flight.injected() + pair.lane.injected() > 0, "faults struck: " + pair.faults());
            System.out.println("seed " + seed + ": " + log.stream().filter(l -> l.contains("failed") || l.contains("not reachable")).count()
                    + " of " + CALLS + " calls failed; " + pair.faults().replace('\n', ';'));

            pair.heal();
            awaitServed(() -> {
                for (Map.Entry<String, byte[]> e : held.entrySet()) {
                    assertArrayEquals(e.getValue(), TestBytes.remaining(pair.reader.readAll(e.getKey())), e.getKey());
                    assertEquals(e.getValue().length, pair.reader.stat(e.getKey()).size(), e.getKey());
                }
                java.util.Set<String> listed = keys(pair.reader.list("chunks/"));
                assertTrue(held.keySet().containsAll(listed), "listed " + listed);
                if (!listed.equals(held.keySet())) {
                    // the union of the peers that answered: the holder's call may have missed its timeout
                    throw new IOException("the listing is not whole yet: " + listed);
                }
            });
        }
    }

    /**
     * What the peer store does not check, pinned down: a bit flipped in a read's answer on the bulk lane reaches the
     * reader as data. The first window of the lane's first connection flips a bit inside the object's bytes (the answer's
     * header is 9 bytes). If this starts failing, the lane learned to check its answers: make the property above
     * include flips.
     */
    @Test
    void aBitFlippedOnTheBulkLaneReachesTheReaderUnchecked() throws Exception {
        byte[] content = TestBytes.random(new SplittableRandom(5), 32 * 1024);
        long seed = 1;
        while (!(flipAt(seed) >= 64 && flipAt(seed) < content.length)) {
            seed++;
        }
        // Timeouts far above a healthy call's time on a loaded machine: a read that ran past a short one would fall
        // back to Flight before the lane's flip reached it.
        try (Pair pair = Pair.start(Schedule.seeded(0), Schedule.seeded(seed).with(Fault.FLIP, 1).withWindow(1 << 20),
                Duration.ofSeconds(10), Duration.ofSeconds(60))) {
            pair.holder.put("chunks/flipped", ByteBuffer.wrap(content));
            byte[] got = TestBytes.remaining(pair.reader.readAll("chunks/flipped"));
            assertEquals(1, pair.lane.injected(Fault.FLIP), pair.faults());
            int differing = 0;
            for (int i = 0; i < content.length; i++) {
                differing += Integer.bitCount((content[i] ^ got[i]) & 0xFF);
            }
            assertEquals(1, differing, "one bit of the answer differs: the reader got it unchecked");
        }
    }

    /**
     * gRPC has no keepalive here, so a Flight connection that goes half-open (the holder's side gone, no FIN, no reset)
     * looked alive forever: every later call to that peer timed out on it. The first Flight connection goes half-open a
     * few KiB into its answers, the next connections are healthy; after the first call that times out, the reader must
     * be served again without the proxy's help.
     */
    @Test
    void aFlightConnectionThatStopsAnsweringIsReplacedAfterATimeout() throws Exception {
        long seed = 1;
        while (!halfOpenFirstOnly(seed)) {
            seed++;
        }
        Schedule schedule = Schedule.seeded(seed).with(Fault.HALF_OPEN, 0.5).withWindow(1 << 20);
        // Timeouts far above a healthy call's time on a loaded machine: here every failure should be the fault's.
        try (Pair pair = Pair.start(schedule, Schedule.seeded(0), Duration.ofSeconds(2), Duration.ofSeconds(4))) {
            pair.holder.service().announceBulkPort(0); // Flight alone
            pair.holder.put("chunks/k", ByteBuffer.wrap(new byte[] {1, 2, 3}));
            for (int calls = 0; pair.flight.injected(Fault.HALF_OPEN) == 0; calls++) {
                assertTrue(calls < 10_000, "the fault strikes within a few KiB of answers: " + pair.faults());
                try {
                    assertEquals(3, pair.reader.stat("chunks/k").size(), "healthy before the fault");
                } catch (IOException e) {
                    // the call that met the dead connection (or, on a loaded machine, one that ran past its timeout)
                    Thread.sleep(TimeUnit.NANOSECONDS.toMillis(PeerLink.DOWN_NANOS) + 10); // the link is skipped meanwhile
                }
            }
            int failures = 0;
            while (true) {
                try {
                    assertEquals(3, pair.reader.stat("chunks/k").size());
                    break;
                } catch (IOException e) {
                    assertTrue(++failures < 5, "still not served after " + failures + " failures: " + e + "\n"
                            + pair.faults());
                    Thread.sleep(TimeUnit.NANOSECONDS.toMillis(PeerLink.DOWN_NANOS) + 10);
                }
            }
            assertTrue(pair.flight.connections() >= 2, "served over a new connection: " + pair.faults());
        }
    }

    /**
     * A read of more than one round on the bulk lane (64 MiB each) whose second round fails: the first round's bytes
     * had moved the buffer's position, and a failed read left it there, so the next peer asked (or the caller's retry)
     * wrote the object 64 MiB too far in. A read that fails leaves the buffer as it found it.
     */
    @Test
    void aReadWhoseSecondRoundFailsLeavesTheBufferWhereItWas() throws Exception {
        int size = (64 << 20) + (1 << 20);
        long seed = 1;
        while (!resetInSecondRound(seed, size)) {
            seed++;
        }
        Schedule lane = Schedule.seeded(seed).with(Fault.RESET, 0.5).withWindow(32 << 20);
        // Timeouts far above a healthy call's time on a loaded machine: the first round (64 MiB through the proxy)
        // must not time out before the second round's scripted reset, which is the failure this test is about.
        try (Pair pair = Pair.start(Schedule.seeded(0), lane, Duration.ofSeconds(10), Duration.ofSeconds(60))) {
            ByteBuffer content = ByteBuffer.allocateDirect(size);
            pair.holder.put("chunks/large", content);
            ByteBuffer dst = ByteBuffer.allocateDirect(size);
            dst.position(3);
            assertThrows(IOException.class, () -> pair.reader.read("chunks/large", 0, dst), pair.faults());
            assertEquals(1, pair.lane.injected(Fault.RESET), pair.faults());
            assertEquals(3, dst.position(), "a failed read leaves the buffer's position where it was");
        }
    }

    /** Whether the lane's first connection resets inside the second round's answer and nowhere before it. */
    private static boolean resetInSecondRound(long seed, int size) {
        Schedule s = Schedule.seeded(seed).with(Fault.RESET, 0.5).withWindow(32 << 20);
        FaultyTcpProxy.Plan third = s.plan(0, FaultyTcpProxy.Direction.TO_CLIENT, 2);
        return s.plan(0, FaultyTcpProxy.Direction.TO_SERVER, 0).healthy()
                && s.plan(0, FaultyTcpProxy.Direction.TO_CLIENT, 0).healthy()
                && s.plan(0, FaultyTcpProxy.Direction.TO_CLIENT, 1).healthy()
                && third.fault() == Fault.RESET && third.atByte() >= (64 << 20) + 4096 && third.atByte() < size - 4096;
    }

    /** Whether the first Flight connection goes half-open between 4 and 8 KiB of answers and the next three never. */
    private static boolean halfOpenFirstOnly(long seed) {
        Schedule s = Schedule.seeded(seed).with(Fault.HALF_OPEN, 0.5).withWindow(1 << 20);
        FaultyTcpProxy.Direction toClient = FaultyTcpProxy.Direction.TO_CLIENT;
        FaultyTcpProxy.Plan first = s.plan(0, toClient, 0);
        return first.fault() == Fault.HALF_OPEN && first.atByte() >= 4096 && first.atByte() < 8192
                && s.plan(1, toClient, 0).healthy() && s.plan(2, toClient, 0).healthy() && s.plan(3, toClient, 0).healthy();
    }

    private static long flipAt(long seed) {
        return Schedule.seeded(seed).withWindow(1 << 20).plan(0, FaultyTcpProxy.Direction.TO_CLIENT, 0).atByte();
    }

    /** One call from the reader; returns what it did. Wrong answers fail an assertion. */
    private static String call(PeerMemoryStore reader, Map<String, byte[]> held, int op, String key, long offset,
                               int length, int i) throws IOException {
        byte[] truth = held.get(key);
        try {
            switch (op) {
                case 0 -> {
                    ByteBuffer dst = ByteBuffer.allocate(truth.length + 10);
                    int n = reader.read(key, 0, dst);
                    assertArrayEquals(truth, Arrays.copyOf(dst.array(), n), "read whole " + key);
                    return "read whole " + key + " -> " + n;
                }
                case 1 -> {
                    ByteBuffer dst = ByteBuffer.allocate(length);
                    int n = reader.read(key, offset, dst);
                    int from = (int) Math.min(offset, truth.length);
                    int expected = Math.min(length, truth.length - from);
                    assertEquals(expected, n, "read " + key + " @" + offset + "+" + length);
                    assertArrayEquals(Arrays.copyOfRange(truth, from, from + n), Arrays.copyOf(dst.array(), n),
                            "read " + key + " @" + offset);
                    return "read " + key + " @" + offset + "+" + length + " -> " + n;
                }
                case 2 -> {
                    assertArrayEquals(truth, TestBytes.remaining(reader.readAll(key)), "readAll " + key);
                    return "readAll " + key;
                }
                case 3 -> {
                    assertEquals(truth.length, reader.stat(key).size(), "stat " + key);
                    return "stat " + key;
                }
                case 4 -> {
                    Map<String, ObjectInfo> infos = reader.statAll(held.keySet());
                    for (ObjectInfo info : infos.values()) { // a peer that failed is left out; what is there is right
                        assertEquals(held.get(info.key()).length, info.size(), "statAll " + info.key());
                    }
                    return "statAll -> " + infos.size();
                }
                case 5 -> {
                    List<ObjectInfo> listed = reader.list("chunks/");
                    for (ObjectInfo info : listed) { // the union of the peers that answered: never a wrong entry
                        assertTrue(held.containsKey(info.key()), "listed " + info.key());
                        assertEquals(held.get(info.key()).length, info.size(), "listed " + info.key());
                    }
                    return "list -> " + listed.size();
                }
                default -> {
                    // A create asks the holder first; an unreachable holder cannot object, and it holds no such key.
                    String manifest = "steps/" + i + "/MANIFEST";
                    assertTrue(reader.putIfAbsent(manifest, ByteBuffer.wrap(truth)), "create " + manifest);
                    assertArrayEquals(truth, TestBytes.remaining(reader.readAll(manifest)), manifest);
                    return "putIfAbsent " + manifest;
                }
            }
        } catch (NoSuchFileException e) {
            // The holder holds every key read here: absence may only be claimed when it could not be reached.
            assertTrue(String.valueOf(e.getMessage()).contains("unreachable"), "claimed missing: " + e);
            return "not reachable: " + e.getMessage();
        }
    }

    /** Calls made by the healed reader; an {@link IOException} is retried, a wrong answer fails at once. */
    @FunctionalInterface
    private interface HealedCalls {
        void run() throws IOException;
    }

    /**
     * Runs {@code calls} until they pass without an {@link IOException}: the link to the holder comes back
     * {@link PeerLink#DOWN_NANOS} after its last failure, and a loaded machine can make a healthy call miss its timeout.
     */
    private static void awaitServed(HealedCalls calls) throws InterruptedException {
        long deadline = System.nanoTime() + RECOVERY.toNanos();
        IOException last = null;
        while (System.nanoTime() - deadline < 0) {
            try {
                calls.run();
                return;
            } catch (IOException e) {
                last = e;
                Thread.sleep(50);
            }
        }
        fail("the healed reader was not served within " + RECOVERY + ": " + last);
    }

    /** A reader (peer 0) and a holder (peer 1) that the reader reaches only through the proxies. */
    private static final class Pair implements AutoCloseable {
        final PeerMemoryStore holder;
        final PeerMemoryStore reader;
        final FaultyTcpProxy flight;
        final FaultyTcpProxy lane;

        private Pair(PeerMemoryStore holder, PeerMemoryStore reader, FaultyTcpProxy flight, FaultyTcpProxy lane) {
            this.holder = holder;
            this.reader = reader;
            this.flight = flight;
            this.lane = lane;
        }

        /** The same schedule on both proxies, each with its own seed. */
        static Pair start(Schedule schedule) throws IOException {
            Schedule other = new Schedule(schedule.seed() + 1_000_003, schedule.rates(), schedule.window(),
                    schedule.stall(), schedule.bytesPerSecond());
            return start(schedule, other);
        }

        static Pair start(Schedule flightFaults, Schedule laneFaults) throws IOException {
            return start(flightFaults, laneFaults, PEER_TIMEOUT, CALL_TIMEOUT);
        }

        static Pair start(Schedule flightFaults, Schedule laneFaults, Duration peerTimeout, Duration callTimeout)
                throws IOException {
            PeerMemoryStore holder = null;
            PeerMemoryStore reader = null;
            FaultyTcpProxy flight = null;
            FaultyTcpProxy lane = null;
            try {
                holder = PeerMemoryStore.start(config(1, peerTimeout, callTimeout));
                reader = PeerMemoryStore.start(config(0, peerTimeout, callTimeout));
                flight = FaultyTcpProxy.inFrontOf(holder.address().getPort(), flightFaults);
                lane = FaultyTcpProxy.inFrontOf(holder.bulkPort(), laneFaults);
                holder.service().announceBulkPort(lane.port());
                reader.connect(List.of(reader.address(), new InetSocketAddress("127.0.0.1", flight.port())));
                return new Pair(holder, reader, flight, lane);
            } catch (IOException | RuntimeException e) {
                for (AutoCloseable c : new AutoCloseable[] {reader, holder, flight, lane}) {
                    try {
                        if (c != null) {
                            c.close();
                        }
                    } catch (Exception suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                throw e;
            }
        }

        private static PeerMemoryConfig config(int index, Duration peerTimeout, Duration callTimeout) {
            // Connections in the order the test's calls make them: the fault schedules count a lane's connections.
            return PeerGroup.defaults(index, 2).replicationFactor(0).peerTimeout(peerTimeout).callTimeout(callTimeout)
                    .connectAhead(false).build();
        }

        void heal() {
            flight.setEnabled(false);
            lane.setEnabled(false);
        }

        String faults() {
            return "flight proxy: " + flight.summary() + " " + flight.struck() + "\nlane proxy: " + lane.summary() + " "
                    + lane.struck();
        }

        /** Closes the peers first (each checks that no Arrow memory leaked), then the proxies. */
        @Override
        public void close() throws Exception {
            heal();
            try (FaultyTcpProxy f = flight; FaultyTcpProxy l = lane; PeerMemoryStore h = holder) {
                reader.close();
            }
        }
    }

    private static List<String> keysOf(List<ObjectInfo> infos) {
        return infos.stream().map(ObjectInfo::key).toList();
    }

    private static java.util.Set<String> keys(List<ObjectInfo> infos) {
        return new java.util.TreeSet<>(keysOf(infos));
    }
}
