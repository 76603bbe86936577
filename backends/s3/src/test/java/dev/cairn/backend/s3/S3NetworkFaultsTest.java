package dev.cairn.backend.s3;

import dev.cairn.testkit.TestBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cairn.ObjectInfo;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.testkit.FaultyTcpProxy;
import dev.cairn.testkit.FaultyTcpProxy.Fault;
import dev.cairn.testkit.FaultyTcpProxy.Schedule;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The S3 store behind {@link FaultyTcpProxy} in front of a real S3 server on loopback: each trial runs a seeded
 * sequence of calls on a few keys while the proxy resets, stalls, half-opens, slows, truncates, corrupts and loses
 * answers, and checks every call against a model of what the bucket may hold. The property: every call either returns
 * what the bucket holds (given what the failed calls before may or may not have done) or throws an
 * {@link IOException} within its deadline; nothing wrong is ever returned. Then faults are turned off, and every key
 * reads back as the model allows, through the same proxy and straight from the server.
 *
 * <p>A trial is replayable from its seed: the calls are made one at a time from one thread, so the proxy numbers the
 * connections in the same order (a connection the SDK closes while idle can still shift the numbering).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3NetworkFaultsTest {

    private static final int KEYS = 5;
    private static final int CALLS = 40;
    private static final int MAX_OBJECT = 3000;
    /**
     * The store's own deadline per call. Short, so that stalls and held connections cost little; a call that misses it
     * fails, which the property allows.
     */
    private static final Duration DEADLINE = Duration.ofSeconds(6);
    private static final Duration ATTEMPT = Duration.ofMillis(800);
    /**
     * What a call may take beyond its deadline before the test calls it hung: the store completes at the deadline, but
     * a loaded 2-core machine can delay the timer and the waiting thread by seconds (GC, the server's threads).
     */
    private static final Duration SLACK = Duration.ofSeconds(15);

    private EmbeddedS3 s3;
    private int prefixes;

    @BeforeAll
    void startServer() throws IOException {
        s3 = EmbeddedS3.start();
    }

    @AfterAll
    void stopServer() throws IOException {
        if (s3 != null) {
            s3.close();
        }
    }

    /** Faults of the transport: every answer that arrives whole is what the server sent. Every call is checked. */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {101, 102})
    void underTransportFaultsEveryCallIsRightOrFailsInTime(long seed) throws Exception {
        Schedule schedule = Schedule.seeded(seed)
                .with(Fault.RESET, 0.06).with(Fault.STALL, 0.03).with(Fault.HALF_OPEN, 0.03).with(Fault.SLOW, 0.05)
                .with(Fault.TRUNCATE, 0.08).with(Fault.LOSE_RESPONSE, 0.08)
                .withWindow(2048).withStall(Duration.ofMillis(1500)).withBandwidth(64 * 1024);
        runTrial(seed, schedule);
    }

    /**
     * Bytes corrupted on the way back, besides resets and truncation. Reads of a whole object, stats and creates are
     * checked in full; a read of part of an object only for its length (S3 keeps no checksum of an arbitrary range), and
     * a listing not at all (nothing in a listing's XML can be checked over plain HTTP).
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {201, 202})
    void underCorruptedAnswersNothingWrongIsReturned(long seed) throws Exception {
        Schedule schedule = Schedule.seeded(seed)
                .with(Fault.FLIP, 0.3).with(Fault.TRUNCATE, 0.05).with(Fault.RESET, 0.05)
                .withWindow(1024);
        runTrial(seed, schedule);
    }

    /**
     * The regression behind the record of {@link ObjectCheck}: a ranged GET carries no checksum, so a bit flipped in
     * its body was returned as data. The first answer of the first connection gets one bit flipped inside the object's
     * bytes (its headers end well before byte 4096); the next connections are healthy.
     */
    @Test
    void aBitFlippedInAReadIsDetectedAndTheReadRetried() throws Exception {
        byte[] content = TestBytes.random(new SplittableRandom(7), 64 * 1024);
        firstAnswerFaulted(Fault.FLIP, 4096, content.length, store -> store.put("object", ByteBuffer.wrap(content)),
                store -> {
                    ByteBuffer dst = ByteBuffer.allocate(content.length);
                    assertEquals(content.length, store.read("object", 0, dst));
                    assertArrayEquals(content, dst.array());
                });
    }

    /**
     * The same for a body cut short; the SDK already saw it (fewer bytes than Content-Length): kept as a guard. A read
     * into a buffer of the object's size, not {@code readAll}: its HEAD would go first, and the client may send the GET
     * on a second connection before the first is back in its pool, so the fault meant for the GET would never strike.
     */
    @Test
    void aReadCutShortIsDetectedAndTheReadRetried() throws Exception {
        byte[] content = TestBytes.random(new SplittableRandom(8), 64 * 1024);
        firstAnswerFaulted(Fault.TRUNCATE, 4096, content.length, store -> store.put("object", ByteBuffer.wrap(content)),
                store -> {
                    ByteBuffer dst = ByteBuffer.allocate(content.length);
                    assertEquals(content.length, store.read("object", 0, dst));
                    assertArrayEquals(content, dst.array());
                });
    }

    /**
     * The SDK takes an answer whose connection closed inside its headers (after the status line) for a whole 200 with
     * an empty body: a listing came back empty while the objects were there. Bytes 20 to 120 are inside the headers.
     */
    @Test
    void aListingCutInsideItsHeadersFailsAndIsRetriedInsteadOfComingBackEmpty() throws Exception {
        firstAnswerFaulted(Fault.TRUNCATE, 20, 120, store -> {
            for (String key : List.of("a", "b", "c")) {
                store.put(key, ByteBuffer.wrap(TestBytes.random(new SplittableRandom(key.hashCode()), 100)));
            }
        }, store -> assertEquals(List.of("a", "b", "c"), store.list("").stream().map(ObjectInfo::key).toList()));
    }

    /** The same for a read: it came back as 0 bytes, as if the object were empty. */
    @Test
    void aReadCutInsideItsHeadersFailsAndIsRetriedInsteadOfComingBackEmpty() throws Exception {
        byte[] content = TestBytes.random(new SplittableRandom(9), 1000);
        firstAnswerFaulted(Fault.TRUNCATE, 20, 120, store -> store.put("object", ByteBuffer.wrap(content)), store -> {
            ByteBuffer dst = ByteBuffer.allocate(2000);
            assertEquals(content.length, store.read("object", 0, dst));
            assertArrayEquals(content, Arrays.copyOf(dst.array(), content.length));
        });
    }

    private interface StoreCalls {
        void run(S3ObjectStore store) throws Exception;
    }

    /**
     * Writes with {@code setUp} straight to the server, then runs {@code check} through a proxy whose first connection
     * gets {@code fault} once in its first answer, between bytes {@code from} and {@code to}, and whose next connections
     * are healthy; checks that the fault struck.
     */
    private void firstAnswerFaulted(Fault fault, long from, long to, StoreCalls setUp, StoreCalls check) throws Exception {
        long seed = seedWhere(fault, plan -> plan.atByte() >= from && plan.atByte() < to);
        String prefix = "regression-" + fault + "-" + prefixes++;
        try (S3ObjectStore direct = new S3ObjectStore(config(null, prefix).build())) {
            setUp.run(direct);
        }
        try (FaultyTcpProxy proxy = FaultyTcpProxy.inFrontOf(s3.endpoint(),
                Schedule.seeded(seed).with(fault, 0.5).withWindow(1 << 20));
             S3ObjectStore store = new S3ObjectStore(config(proxy, prefix)
                     .retries(4, Duration.ofMillis(5), Duration.ofMillis(50)).build())) {
            try {
                check.run(store);
            } catch (AssertionError | IOException e) {
                throw new AssertionError("seed " + seed + ": " + proxy.struck() + ": " + e, e);
            }
            assertEquals(1, proxy.injected(fault), proxy.summary());
        }
    }

    /**
     * The first seed from 1 whose first connection's answer gets {@code fault} where {@code where} says, at rate 0.5 in
     * 1 MiB windows, and whose next three connections get nothing in their first window.
     */
    private static long seedWhere(Fault fault, java.util.function.Predicate<FaultyTcpProxy.Plan> where) {
        FaultyTcpProxy.Direction toClient = FaultyTcpProxy.Direction.TO_CLIENT;
        for (long seed = 1; ; seed++) {
            Schedule s = Schedule.seeded(seed).with(fault, 0.5).withWindow(1 << 20);
            FaultyTcpProxy.Plan first = s.plan(0, toClient, 0);
            if (first.fault() == fault && where.test(first) && s.plan(1, toClient, 0).healthy()
                    && s.plan(2, toClient, 0).healthy() && s.plan(3, toClient, 0).healthy()) {
                return seed;
            }
        }
    }

    private void runTrial(long seed, Schedule schedule) throws Exception {
        boolean corrupting = schedule.rate(Fault.FLIP) > 0;
        String prefix = "faults-" + seed + "-" + prefixes++;
        try (FaultyTcpProxy proxy = FaultyTcpProxy.inFrontOf(s3.endpoint(), schedule);
             S3ObjectStore store = new S3ObjectStore(config(proxy, prefix).deadline(DEADLINE).attemptTimeout(ATTEMPT)
                     .retries(8, Duration.ofMillis(5), Duration.ofMillis(50)).build());
             S3ObjectStore direct = new S3ObjectStore(config(null, prefix).build())) {
            Model model = new Model(schedule.rate(Fault.STALL) > 0 || schedule.rate(Fault.SLOW) > 0);
            SplittableRandom random = new SplittableRandom(seed);
            List<String> log = new ArrayList<>();
            for (int i = 0; i < CALLS; i++) {
                String key = "k" + random.nextInt(KEYS);
                int op = random.nextInt(8);
                byte[] content = TestBytes.random(random, 1 + random.nextInt(MAX_OBJECT));
                long offset = random.nextInt(MAX_OBJECT + 10);
                int length = 1 + random.nextInt(MAX_OBJECT);
                long start = System.nanoTime();
                String outcome;
                try {
                    outcome = call(store, model, op, key, content, offset, length, corrupting);
                } catch (IOException e) {
                    outcome = "failed: " + e;
                } catch (AssertionError wrong) {
                    throw new AssertionError("seed " + seed + ", call " + i + ": " + wrong.getMessage() + "\ncalls:\n"
                            + String.join("\n", log) + "\nproxy: " + proxy.summary() + "\nstruck: " + proxy.struck(), wrong);
                }
                long millis = (System.nanoTime() - start) / 1_000_000;
                log.add(i + " " + outcome + " (" + millis + " ms)");
                assertTrue(millis <= DEADLINE.plus(SLACK).toMillis(), "seed " + seed + ", call " + i + " took " + millis
                        + " ms: " + outcome);
            }

            System.out.println("seed " + seed + ": " + log.stream().filter(l -> l.contains("failed")).count() + " of " + CALLS
                    + " calls failed; " + proxy.summary());
            proxy.setEnabled(false);
            // Checked with the store's default deadlines, which a loaded machine cannot miss, through the healed proxy
            // and straight from the server.
            try (S3ObjectStore healed = new S3ObjectStore(config(proxy, prefix).build())) {
                for (int k = 0; k < KEYS; k++) {
                    String key = "k" + k;
                    model.checkSettled(key, healed, "through the healed proxy");
                    model.checkSettled(key, direct, "straight from the server");
                }
            }
            // The store that met the faults recovers: retried while a loaded machine makes it miss its short deadlines.
            byte[] after = TestBytes.random(random, 2000);
            long until = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (true) {
                try {
                    store.put("after-faults", ByteBuffer.wrap(after));
                    assertArrayEquals(after, TestBytes.remaining(store.readAll("after-faults")), "the healed proxy carries calls again");
                    break;
                } catch (IOException e) {
                    assertTrue(System.nanoTime() - until < 0, "the store was not served again within 60 s: " + e);
                }
            }
            assertTrue(proxy.injected() > 0, "faults struck: " + proxy.summary());
        }
    }

    /** One call; returns what it did, for the log. Wrong answers fail an assertion. */
    private String call(S3ObjectStore store, Model model, int op, String key, byte[] content, long offset, int length,
                        boolean corrupting) throws IOException {
        switch (op) {
            case 0 -> {
                Object attempt = model.attempt(key, content);
                store.put(key, ByteBuffer.wrap(content));
                model.wrote(key, attempt);
                return "put " + key + " " + content.length;
            }
            case 1 -> {
                boolean couldCreate = model.mayBeAbsent(key);
                Object attempt = couldCreate ? model.attempt(key, content) : null;
                boolean created = store.putIfAbsent(key, ByteBuffer.wrap(content));
                if (created) {
                    assertTrue(couldCreate, "putIfAbsent " + key + " reported a create over an object that was there");
                    model.wrote(key, attempt);
                } else {
                    model.present(key, attempt);
                }
                return "putIfAbsent " + key + " " + content.length + " -> " + created;
            }
            case 2 -> {
                ByteBuffer dst = ByteBuffer.allocate(length);
                try {
                    int n = store.read(key, offset, dst);
                    model.checkRange(key, offset, Arrays.copyOf(dst.array(), n), length, !corrupting);
                    return "read " + key + " @" + offset + "+" + length + " -> " + n;
                } catch (NoSuchFileException e) {
                    model.checkAbsent(key);
                    return "read " + key + " -> absent";
                }
            }
            case 3 -> {
                ByteBuffer dst = ByteBuffer.allocate(MAX_OBJECT + 100);
                try {
                    int n = store.read(key, 0, dst);
                    model.checkWhole(key, Arrays.copyOf(dst.array(), n));
                    return "read whole " + key + " -> " + n;
                } catch (NoSuchFileException e) {
                    model.checkAbsent(key);
                    return "read whole " + key + " -> absent";
                }
            }
            case 4 -> {
                try {
                    byte[] all = TestBytes.remaining(store.readAll(key));
                    model.checkWhole(key, all);
                    return "readAll " + key + " -> " + all.length;
                } catch (NoSuchFileException e) {
                    model.checkAbsent(key);
                    return "readAll " + key + " -> absent";
                }
            }
            case 5 -> {
                try {
                    long size = store.stat(key).size();
                    model.checkSize(key, size);
                    return "stat " + key + " -> " + size;
                } catch (NoSuchFileException e) {
                    model.checkAbsent(key);
                    return "stat " + key + " -> absent";
                }
            }
            case 6 -> {
                List<ObjectInfo> listed = store.list("");
                if (!corrupting) {
                    // A bit flipped inside a listing's XML (a key, a size) cannot be detected over plain HTTP.
                    model.checkList(listed);
                }
                return "list -> " + listed.stream().map(i -> i.key() + ":" + i.size()).toList();
            }
            default -> {
                Object attempt = model.attempt(key, null);
                store.delete(key);
                model.wrote(key, attempt);
                return "delete " + key;
            }
        }
    }

    /**
     * What each key may hold. {@code settled}: what the calls that succeeded leave there. {@code lingering}: writes
     * (and deletes) that may still take effect at any later time: those of failed calls, and, where a stall or a slow
     * link can hold a request back past its attempt's timeout while a retry succeeds, those of every call. A check
     * accepts either; since every call writes fresh random bytes, corrupted or mixed-up bytes match neither.
     */
    private static final java.util.regex.Pattern SERVER_UPLOAD_IN_PROGRESS =
            java.util.regex.Pattern.compile("k[0-9]+-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

    private static final class Model {
        /** One write's content; {@code bytes} null for a delete (or for the absence a key starts with). */
        private record Candidate(byte[] bytes) {
        }

        private final boolean everyWriteMayLinger;
        private final Map<String, List<Candidate>> settled = new HashMap<>();
        private final Map<String, List<Candidate>> lingering = new HashMap<>();

        Model(boolean everyWriteMayLinger) {
            this.everyWriteMayLinger = everyWriteMayLinger;
        }

        private List<Candidate> settled(String key) {
            return settled.computeIfAbsent(key, k -> new ArrayList<>(List.of(new Candidate(null))));
        }

        private List<Candidate> lingering(String key) {
            return lingering.computeIfAbsent(key, k -> new ArrayList<>());
        }

        private List<Candidate> of(String key) {
            List<Candidate> all = new ArrayList<>(settled(key));
            all.addAll(lingering(key));
            return all;
        }

        boolean mayBeAbsent(String key) {
            return of(key).stream().anyMatch(c -> c.bytes() == null);
        }

        /** Before a write: until it succeeds, it may or may not take effect, now or later. */
        Object attempt(String key, byte[] content) {
            Candidate c = new Candidate(content);
            lingering(key).add(c);
            return c;
        }

        /** The write succeeded. */
        void wrote(String key, Object attempt) {
            Candidate c = (Candidate) attempt;
            settled.put(key, new ArrayList<>(List.of(c)));
            if (!everyWriteMayLinger) {
                lingering(key).remove(c);
            }
        }

        /** putIfAbsent said false: an object is there, and it is not the one just offered. */
        void present(String key, Object attempt) {
            List<Candidate> there = of(key);
            there.removeIf(c -> c.bytes() == null || c == attempt);
            assertTrue(!there.isEmpty(), "putIfAbsent " + key + " reported an object that cannot be there");
            settled.put(key, there);
            if (attempt != null && !everyWriteMayLinger) {
                lingering(key).remove((Candidate) attempt);
            }
        }

        void checkAbsent(String key) {
            assertTrue(mayBeAbsent(key), key + " reported missing, but it is there");
            settled.put(key, new ArrayList<>(List.of(new Candidate(null))));
        }

        void checkWhole(String key, byte[] got) {
            for (Candidate c : of(key)) {
                if (c.bytes() != null && Arrays.equals(c.bytes(), got)) {
                    settled.put(key, new ArrayList<>(List.of(c)));
                    return;
                }
            }
            fail(key + ": " + got.length + " bytes read whole match no object it may hold (" + sizes(key) + ")");
        }

        /** A read of part of an object: its length always, its bytes when {@code bytesToo}. */
        void checkRange(String key, long offset, byte[] got, int asked, boolean bytesToo) {
            for (Candidate c : of(key)) {
                byte[] v = c.bytes();
                if (v == null) {
                    continue;
                }
                int from = (int) Math.min(offset, v.length);
                int expected = Math.min(asked, v.length - from);
                if (got.length == expected
                        && (!bytesToo || Arrays.equals(got, Arrays.copyOfRange(v, from, from + expected)))) {
                    return;
                }
            }
            fail(key + ": " + got.length + " bytes at " + offset + " match no object it may hold (" + sizes(key) + ")");
        }

        void checkSize(String key, long size) {
            for (Candidate c : of(key)) {
                if (c.bytes() != null && c.bytes().length == size) {
                    return;
                }
            }
            fail(key + ": stat says " + size + " bytes; it may hold " + sizes(key));
        }

        void checkList(List<ObjectInfo> listed) {
            Map<String, Long> sizes = new HashMap<>();
            for (ObjectInfo info : listed) {
                sizes.put(info.key(), info.size());
            }
            for (int k = 0; k < KEYS; k++) {
                String key = "k" + k;
                Long size = sizes.remove(key);
                if (size == null) {
                    assertTrue(mayBeAbsent(key), key + " is there but not listed");
                } else {
                    checkSize(key, size);
                }
            }
            // S3Proxy (its nio2 blob store, putBlob) receives a PUT into "<key>-<random UUID>" and moves it when the body is
            // whole: while the server has not yet seen that a cut connection's upload ended, a listing shows that
            // file. S3 itself never lists an upload in progress, so those names are the test server's, not the store's.
            sizes.keySet().removeIf(k -> SERVER_UPLOAD_IN_PROGRESS.matcher(k).matches());
            assertTrue(sizes.isEmpty(), "listed keys that were never written: " + sizes.keySet());
        }

        /** With faults off: the key reads as one of its candidates. */
        void checkSettled(String key, S3ObjectStore store, String how) throws IOException {
            try {
                checkWhole(key, TestBytes.remaining(store.readAll(key)));
            } catch (NoSuchFileException e) {
                assertTrue(mayBeAbsent(key), key + " missing " + how);
            }
        }

        private String sizes(String key) {
            List<String> s = new ArrayList<>();
            for (Candidate c : of(key)) {
                s.add(c.bytes() == null ? "absent" : c.bytes().length + " bytes");
            }
            return String.join(" or ", s);
        }
    }

    private S3StoreConfig.Builder config(FaultyTcpProxy proxy, String prefix) {
        return S3StoreConfig.builder(s3.bucket())
                .prefix(prefix)
                .endpoint(proxy == null ? s3.endpoint() : proxy.httpEndpoint())
                .region(EmbeddedS3.REGION)
                .credentials(s3.accessKey(), s3.secretKey());
    }
}
