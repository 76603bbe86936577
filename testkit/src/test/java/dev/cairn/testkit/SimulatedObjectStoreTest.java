package dev.cairn.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import dev.cairn.testkit.SimulatedObjectStore.Latency;
import dev.cairn.testkit.SimulatedObjectStore.PayloadDroppedException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class SimulatedObjectStoreTest {
    private static final long MS = 1_000_000L;
    private static final long SECOND = 1_000_000_000L;
    private static final String CHUNK = "run/chunks/ab/abcdef";
    private static final String MANIFEST = "run/steps/1/MANIFEST";

    // ---- counting ------------------------------------------------------------------------------------------

    @Test
    void countsEachRequestByKindAndByPrefixAsS3ObjectStoreWouldSendThem() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            store.put(CHUNK, bytes(100));
            assertTrue(store.putIfAbsent(MANIFEST, bytes(10)));
            assertFalse(store.putIfAbsent(MANIFEST, bytes(10)));
            assertEquals(40, store.read(CHUNK, 60, ByteBuffer.allocate(50)));
            assertEquals(0, store.read(CHUNK, 0, ByteBuffer.allocate(0)), "no room: a HEAD, as S3ObjectStore sends");
            store.stat(CHUNK);
            assertThrows(NoSuchFileException.class, () -> store.stat("run/chunks/cd/missing"));
            assertEquals(2, store.statAll(List.of(CHUNK, MANIFEST, "run/chunks/ab/other")).size());
            assertEquals(1, store.list("run/steps/").size());
            assertEquals(10, store.readAll(MANIFEST).remaining(), "the SPI's default: a HEAD, then a GET");
            store.delete(CHUNK);
            store.delete(CHUNK);

            RequestStats stats = store.stats();
            assertEquals(1, stats.requests(RequestKind.PUT));
            assertEquals(2, stats.requests(RequestKind.PUT_IF_ABSENT));
            assertEquals(2, stats.requests(RequestKind.GET));
            assertEquals(7, stats.requests(RequestKind.HEAD));
            assertEquals(1, stats.requests(RequestKind.LIST));
            assertEquals(2, stats.requests(RequestKind.DELETE));
            assertEquals(15, stats.totalRequests());
            assertEquals(0, stats.totalSlowDowns());
            assertEquals(110, stats.bytesWritten(), "the create that lost wrote nothing");
            assertEquals(50, stats.bytesRead());

            assertEquals(List.of("run/chunks/ab/", "run/chunks/cd/", "run/steps/", "run/steps/1/"),
                    List.copyOf(stats.prefixes().keySet()));
            RequestStats.PrefixStats chunks = stats.prefix("run/chunks/ab/");
            assertEquals(Map.of(RequestKind.PUT, 1L, RequestKind.GET, 1L, RequestKind.HEAD, 4L,
                    RequestKind.DELETE, 2L), chunks.requests());
            assertEquals(3, chunks.peakWritesPerSecond());
            assertEquals(5, chunks.peakReadsPerSecond());
            assertEquals(1, stats.prefix("run/steps/").requests(RequestKind.LIST), "a LIST counts on what it lists");
            assertEquals(Map.of(RequestKind.PUT_IF_ABSENT, 2L, RequestKind.GET, 1L, RequestKind.HEAD, 2L),
                    stats.prefix("run/steps/1/").requests());
        }
    }

    @Test
    void aBatchDeleteIsOneRequestPerThousandKeysCountedOnThePrefixTheyShare() throws IOException {
        try (SimulatedObjectStore store = instant().requestRates(2, 5500).build()) {
            List<String> keys = new ArrayList<>();
            for (int i = 0; i < 2002; i++) { // the last batch two keys, under two folders of run/chunks/
                keys.add(String.format("run/chunks/%02x/c%05d", i % 256, i));
                if (i % 2 == 0) {
                    store.clock().setNow(i * SECOND); // a second of its own: within 2 writes a second
                    store.put(keys.get(i), bytes(10));
                }
            }
            store.put("run/steps/1/MANIFEST", bytes(10));
            store.resetStats();
            store.clock().setNow(10_000 * SECOND); // every batch below starts in this second (no latency)

            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.deleteAll(keys),
                    "the third batch is beyond 2 writes a second");
            store.deleteAll(List.of());

            RequestStats stats = store.stats();
            assertEquals(3, stats.requests(RequestKind.DELETE_BATCH), "2,002 keys: three DeleteObjects requests");
            assertEquals(3, stats.totalRequests());
            assertEquals(Map.of(RequestKind.DELETE_BATCH, 3L), stats.prefix("run/chunks/").requests(),
                    "counted on the prefix every key of the batch shares");
            assertEquals(1, stats.slowDowns(RequestKind.DELETE_BATCH), "the third is beyond 2 writes a second");
            assertTrue(RequestKind.DELETE_BATCH.isWrite());
            assertEquals(List.of("run/chunks/d0/c02000", "run/steps/1/MANIFEST"),
                    store.list("run/").stream().map(ObjectInfo::key).toList(),
                    "the two batches served removed their keys; the third's key is still there");
        }
    }

    @Test
    void thePrefixDepthSaysHowManySegmentsOfAKeyShareARate() throws IOException {
        try (SimulatedObjectStore shallow = instant().prefixDepth(1).build();
             SimulatedObjectStore whole = instant().prefixDepth(0).build()) {
            assertEquals("run/", shallow.prefixOf(CHUNK));
            assertEquals("", shallow.prefixOf("top"));
            assertEquals("", whole.prefixOf(CHUNK));
            assertEquals("run/chunks/ab/", instant().build().prefixOf(CHUNK));
            assertEquals("run/steps/", instant().build().prefixOf("run/steps/"));
            assertEquals("run/", instant().build().prefixOf("run/steps"));

            shallow.put(CHUNK, bytes(1));
            shallow.put(MANIFEST, bytes(1));
            shallow.put("top", bytes(1));
            assertEquals(Map.of(RequestKind.PUT, 2L), shallow.stats().prefix("run/").requests());
            assertEquals(Map.of(RequestKind.PUT, 1L), shallow.stats().prefix("").requests());
        }
    }

    @Test
    void resettingZeroesEveryCounterAndPeak() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            store.put(CHUNK, bytes(10));
            store.readAll(CHUNK);
            store.resetStats();
            RequestStats stats = store.stats();
            assertEquals(0, stats.totalRequests());
            assertEquals(0, stats.bytesWritten() + stats.bytesRead());
            assertEquals(Map.of(), stats.prefixes());
            assertEquals(List.of(), stats.hottestKeys());
            assertEquals(0, store.peakRate(CHUNK));
            assertEquals(10, store.stat(CHUNK).size(), "objects stay");
            assertEquals(0, new RequestStats(Map.of(), Map.of(), Map.of(), List.of(), 0, 0).totalRequests());
            assertEquals(1, store.stats().requests(RequestKind.HEAD));
        }
    }

    @Test
    void aKeyAskedByManyCallersPlayedOneAfterAnotherKeepsThePeakOfItsBusiestSimulatedSecond() throws IOException {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().latency(Latency.fixed(Duration.ofMillis(300),
                Long.MAX_VALUE)).build()) {
            store.put(MANIFEST, bytes(10));
            store.resetStats();
            SimulatedClock clock = store.clock();
            // 100 ranks each poll the MANIFEST 5 times, 300 ms apart; the driver plays them one after another, so
            // rank 1's second 0 arrives after rank 0's second 1.
            for (int rank = 0; rank < 100; rank++) {
                clock.setNow(0);
                for (int poll = 0; poll < 5; poll++) {
                    store.stat(MANIFEST);
                }
            }
            assertEquals(400, store.peakRate(MANIFEST), "4 polls a rank start in second 0 (0, 0.3, 0.6, 0.9 s)");
            RequestStats.KeyRate hottest = store.stats().hottestKeys().get(0);
            assertEquals(new RequestStats.KeyRate(MANIFEST, 400, 0), hottest);
            assertEquals(0, store.peakRate("run/steps/2/MANIFEST"));
        }
    }

    @Test
    void theHottestKeysComeHighestFirstWithTiesByKey() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            for (String key : List.of("a/3", "a/1", "a/2")) {
                store.put(key, bytes(1));
            }
            for (int i = 0; i < 3; i++) {
                store.stat("a/2");
            }
            store.stat("a/1");
            assertEquals(List.of(new RequestStats.KeyRate("a/2", 4, 0), new RequestStats.KeyRate("a/1", 2, 0)),
                    store.hottestKeys(2));
            assertEquals(List.of("a/2", "a/1", "a/3"),
                    store.hottestKeys(10).stream().map(RequestStats.KeyRate::key).toList());
        }
    }

    // ---- listing -------------------------------------------------------------------------------------------

    @Test
    void aListingReturnsEveryKeySortedAndCostsOneListRequestPerThousandKeys() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            for (int i = 2499; i >= 0; i--) {
                store.put(String.format("run/chunks/%02x/c%05d", i % 3, i), bytes(1));
            }
            for (int i = 0; i < 1001; i++) {
                store.put("thousand/k" + i, bytes(1));
            }
            store.resetStats();

            List<ObjectInfo> all = store.list("run/");
            assertEquals(2500, all.size());
            List<String> keys = all.stream().map(ObjectInfo::key).toList();
            assertEquals(keys.stream().sorted().toList(), keys);
            assertEquals(3, store.stats().requests(RequestKind.LIST));

            assertEquals(834, store.list("run/chunks/00/").size());
            assertEquals(4, store.stats().requests(RequestKind.LIST));
            assertEquals(0, store.list("nothing/").size());
            assertEquals(5, store.stats().requests(RequestKind.LIST), "an empty listing is one request");
            store.delete("thousand/k1000");
            assertEquals(1000, store.list("thousand/").size());
            assertEquals(6, store.stats().requests(RequestKind.LIST), "exactly a thousand keys: one page");
            store.put("thousand/k1000", bytes(1));
            assertEquals(1001, store.list("thousand/").size());
            assertEquals(8, store.stats().requests(RequestKind.LIST));
            assertEquals(3, store.stats().prefix("run/").requests(RequestKind.LIST));
        }
    }

    /**
     * A listing of the step folders costs a LIST_FOLDERS page per 1,000 folders, however many keys each holds: 1,500
     * ranks' indexes of 3 steps are 5 pages of a LIST of every key, one page of folders.
     */
    @Test
    void aListingOfFoldersCostsOnePagePerThousandFoldersNotPerThousandKeys() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            for (int step = 1; step <= 3; step++) {
                for (int rank = 0; rank < 1500; rank++) {
                    store.put("run/steps/" + step + "/rank-" + rank + ".index", bytes(1));
                }
            }
            for (int i = 0; i < 1001; i++) {
                store.put("many/" + i + "/k", bytes(1));
            }
            store.resetStats();

            assertEquals(List.of("run/steps/1/", "run/steps/2/", "run/steps/3/"), store.listFolders("run/steps/"));
            RequestStats stats = store.stats();
            assertEquals(1, stats.requests(RequestKind.LIST_FOLDERS));
            assertEquals(0, stats.requests(RequestKind.LIST), "no listing of every key");
            assertEquals(1, stats.prefix("run/steps/").requests(RequestKind.LIST_FOLDERS), "counted on what it lists");
            assertEquals(1001, store.listFolders("many/").size());
            assertEquals(3, store.stats().requests(RequestKind.LIST_FOLDERS), "1,001 folders: two pages");
            assertEquals(List.of(), store.listFolders("nothing/"));
            assertEquals(4, store.stats().requests(RequestKind.LIST_FOLDERS), "an empty listing is one request");
        }
    }

    // ---- rates ---------------------------------------------------------------------------------------------

    @Test
    void beyondFiftyFiveHundredGetsAndHeadsInOneSimulatedSecondOnePrefixIsSlowedDown() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            store.put(CHUNK, bytes(8));
            store.put("run/chunks/cd/other", bytes(8));
            for (int i = 0; i < 5000; i++) {
                assertEquals(8, store.read(CHUNK, 0, ByteBuffer.allocate(8)));
            }
            for (int i = 0; i < 500; i++) {
                store.stat(CHUNK);
            }
            FaultyObjectStore.ThrottledException slowDown = assertThrows(FaultyObjectStore.ThrottledException.class,
                    () -> store.read(CHUNK, 0, ByteBuffer.allocate(8)));
            assertTrue(slowDown.getMessage().contains("503 SlowDown"), slowDown.getMessage());
            assertTrue(slowDown.getMessage().contains("run/chunks/ab/"), slowDown.getMessage());
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.stat(CHUNK));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.list("run/chunks/ab/"));

            store.stat("run/chunks/cd/other");
            store.put("run/chunks/ab/new", bytes(1));
            store.clock().setNow(SECOND);
            store.stat(CHUNK);

            RequestStats stats = store.stats();
            assertEquals(1, stats.slowDowns(RequestKind.GET));
            assertEquals(1, stats.slowDowns(RequestKind.HEAD));
            assertEquals(1, stats.slowDowns(RequestKind.LIST));
            assertEquals(3, stats.totalSlowDowns());
            assertEquals(3, stats.prefix("run/chunks/ab/").slowDowns());
            assertEquals(5503, stats.prefix("run/chunks/ab/").peakReadsPerSecond(), "what was asked, not served");
            assertEquals(0, stats.prefix("run/chunks/cd/").slowDowns());
            assertEquals(5001, stats.requests(RequestKind.GET));
        }
    }

    @Test
    void fiftyFiveHundredReadsASecondFromCallersPlayedOutOfOrderAreNeverSlowedDown() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            store.put(CHUNK, bytes(8));
            SimulatedClock clock = store.clock();
            // 11 callers, each 500 reads a second for 3 seconds, played one caller after another.
            for (int caller = 0; caller < 11; caller++) {
                for (int i = 0; i < 1500; i++) {
                    clock.setNow(i * (SECOND / 500) + caller);
                    store.stat(CHUNK);
                }
            }
            assertEquals(0, store.stats().totalSlowDowns());
            assertEquals(5500, store.stats().prefix("run/chunks/ab/").peakReadsPerSecond());

            // A 12th caller with one read in each second is refused in each.
            int refused = 0;
            for (int s = 0; s < 3; s++) {
                clock.setNow(s * SECOND + 7);
                try {
                    store.stat(CHUNK);
                } catch (FaultyObjectStore.ThrottledException expected) {
                    refused++;
                }
            }
            assertEquals(3, refused);
        }
    }

    @Test
    void beyondThirtyFiveHundredPutsAndDeletesInOneSecondOnePrefixIsSlowedDownAndNothingIsWritten() throws IOException {
        try (SimulatedObjectStore store = instant().build()) {
            for (int i = 0; i < 3000; i++) {
                store.put("run/chunks/ab/c" + i, bytes(1));
            }
            for (int i = 0; i < 500; i++) {
                store.delete("run/chunks/ab/c" + i);
            }
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.putIfAbsent(CHUNK, bytes(1)));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.put("run/chunks/ab/c0", bytes(1)));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.delete("run/chunks/ab/c600"));
            assertThrows(NoSuchFileException.class, () -> store.stat(CHUNK), "reads have their own rate");
            assertThrows(NoSuchFileException.class, () -> store.stat("run/chunks/ab/c0"));
            assertEquals(1, store.stat("run/chunks/ab/c600").size());
            assertEquals(3, store.stats().totalSlowDowns());
            assertEquals(3503, store.stats().prefix("run/chunks/ab/").peakWritesPerSecond());
        }
    }

    @Test
    void configuredRatesReplaceS3s() throws IOException {
        try (SimulatedObjectStore store = instant().requestRates(2, 3).build()) {
            store.put(CHUNK, bytes(1));
            store.put(CHUNK, bytes(1));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.put(CHUNK, bytes(1)));
            for (int i = 0; i < 3; i++) {
                store.stat(CHUNK);
            }
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.stat(CHUNK));
        }
    }

    // ---- simulated time ------------------------------------------------------------------------------------

    @Test
    void aRequestTakesItsFirstByteLatencyPlusItsBytesAtTheBandwidthInSimulatedTime() throws IOException {
        Instant epoch = Instant.parse("2026-01-01T00:00:00Z");
        SimulatedClock clock = new SimulatedClock(epoch);
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().clock(clock)
                .latency(Latency.fixed(Duration.ofMillis(10), 1_000_000)).build()) {
            store.put(CHUNK, bytes(500_000));
            assertEquals(510 * MS, clock.now());
            assertEquals(epoch.plusMillis(510), store.stat(CHUNK).lastModified(), "modified when its PUT completed");
            assertEquals(520 * MS, clock.now());

            assertEquals(250_000, store.read(CHUNK, 250_000, ByteBuffer.allocate(300_000)));
            assertEquals(780 * MS, clock.now(), "only the bytes that came back take time");
            assertThrows(NoSuchFileException.class,
                    () -> store.read("run/chunks/ab/missing", 0, ByteBuffer.allocate(9)));
            assertEquals(790 * MS, clock.now());
            store.delete(CHUNK);
            store.list("run/");
            assertEquals(810 * MS, clock.now());
            assertEquals(810 * MS, clock.latest());
        }
    }

    @Test
    void perKindLatenciesApplyToTheirKindOnly() throws IOException {
        try (SimulatedObjectStore store = instant().latency(RequestKind.HEAD,
                Latency.fixed(Duration.ofMillis(7), Long.MAX_VALUE)).build()) {
            store.put(CHUNK, bytes(1000));
            store.readAll(CHUNK);
            assertEquals(7 * MS, store.clock().now());
        }
    }

    @Test
    void uniformFirstByteLatenciesStayInTheirRangeAndRepeatForTheSameRequestAtTheSameTime() throws IOException {
        List<Long> first = headDurations(42);
        assertEquals(first, headDurations(42));
        assertNotEquals(first, headDurations(43));
        for (long nanos : first) {
            assertTrue(nanos >= 20 * MS && nanos <= 60 * MS, nanos + " ns");
        }
        assertTrue(first.stream().distinct().count() > 100, "drawn, not fixed");
    }

    @Test
    void aSlowDownTakesItsFirstByteLatencyAndSendsNoBytes() throws IOException {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().requestRates(1, 1)
                .latency(Latency.fixed(Duration.ofMillis(5), 1)).build()) {
            store.put(CHUNK, bytes(0));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> store.put(CHUNK, bytes(100)));
            assertEquals(10 * MS, store.clock().now());
        }
    }

    @Test
    void threadsRunSideBySideInSimulatedTime() throws Exception {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder()
                .latency(Latency.fixed(Duration.ofMillis(10), Long.MAX_VALUE)).build()) {
            store.put(CHUNK, bytes(1));
            store.clock().setNow(0);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<Long>> ends = new ArrayList<>();
                for (int t = 0; t < 2; t++) {
                    ends.add(pool.submit(() -> {
                        for (int i = 0; i < 10; i++) {
                            store.stat(CHUNK);
                        }
                        return store.clock().now();
                    }));
                }
                for (Future<Long> end : ends) {
                    assertEquals(100 * MS, end.get(30, TimeUnit.SECONDS));
                }
            } finally {
                pool.shutdownNow();
            }
            assertEquals(0, store.clock().now(), "this thread made no request since");
            assertEquals(100 * MS, store.clock().latest());
        }
    }

    @Test
    void statAllKeepsThirtyTwoHeadsInFlightAndEndsWithEachBatchsSlowest() throws IOException {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder()
                .latency(Latency.fixed(Duration.ofMillis(10), Long.MAX_VALUE)).build()) {
            List<String> keys = new ArrayList<>();
            for (int i = 0; i < 65; i++) {
                keys.add("run/chunks/ab/c" + i);
            }
            store.put(keys.get(3), bytes(1));
            store.clock().setNow(0);
            Map<String, ObjectInfo> held = store.statAll(keys);
            assertEquals(List.of(keys.get(3)), List.copyOf(held.keySet()));
            assertEquals(30 * MS, store.clock().now(), "three batches: 32, 32 and 1");
            assertEquals(65, store.stats().requests(RequestKind.HEAD));
        }
    }

    // ---- payloads ------------------------------------------------------------------------------------------

    @Test
    void withoutPayloadsSmallObjectsStayWholeAndLargeOnesKeepSizeAndHashButRefuseReads() throws IOException {
        ByteBuffer chunk = ByteBuffer.wrap(seeded(5, 100_000));
        byte[] manifest = seeded(6, 2_000);
        try (SimulatedObjectStore lean = instant().dropPayloadsAbove(SimulatedObjectStore.SMALL_OBJECT_BYTES).build();
             SimulatedObjectStore full = instant().build()) {
            lean.put(MANIFEST, ByteBuffer.wrap(manifest));
            lean.put(CHUNK, chunk);
            full.put(CHUNK, chunk);

            assertArrayEquals(manifest, TestBytes.remaining(lean.readAll(MANIFEST, 1 << 20)));
            assertTrue(lean.holdsPayload(MANIFEST));
            assertFalse(lean.holdsPayload(CHUNK));
            assertEquals(100_000, lean.stat(CHUNK).size());
            assertEquals(List.of(CHUNK), lean.list("run/chunks/").stream().map(ObjectInfo::key).toList());
            assertEquals(full.contentHash(CHUNK), lean.contentHash(CHUNK));
            assertNotEquals(lean.contentHash(MANIFEST), lean.contentHash(CHUNK));

            PayloadDroppedException dropped = assertThrows(PayloadDroppedException.class,
                    () -> lean.read(CHUNK, 10, ByteBuffer.allocate(10)));
            assertTrue(dropped.getMessage().contains("kept only the size and hash"), dropped.getMessage());
            assertTrue(dropped.getMessage().contains("100000-byte"), dropped.getMessage());
            assertThrows(PayloadDroppedException.class, () -> lean.readAll(CHUNK));
            assertEquals(0, lean.read(CHUNK, 100_000, ByteBuffer.allocate(10)), "no bytes asked, none needed");
            assertEquals(4, lean.stats().requests(RequestKind.GET), "a refused read was still a GET");
            assertTrue(lean.describe().contains("payloads above 65536 bytes dropped"), lean.describe());
        }
    }

    @Test
    void aReplacedObjectGetsTheHashOfItsNewBytes() throws IOException {
        try (SimulatedObjectStore store = instant().dropPayloadsAbove(0).build()) {
            store.put(CHUNK, ByteBuffer.wrap("one".getBytes(UTF_8)));
            long one = store.contentHash(CHUNK);
            store.put(CHUNK, ByteBuffer.wrap("two".getBytes(UTF_8)));
            assertNotEquals(one, store.contentHash(CHUNK));
            store.put(CHUNK, ByteBuffer.wrap("one".getBytes(UTF_8)));
            assertEquals(one, store.contentHash(CHUNK));
            assertThrows(NoSuchFileException.class, () -> store.contentHash("run/chunks/ab/none"));
        }
    }

    @Test
    void aClosedStoreRefusesCalls() throws IOException {
        SimulatedObjectStore store = instant().build();
        store.put(CHUNK, bytes(1));
        store.close();
        assertThrows(IOException.class, () -> store.stat(CHUNK));
        assertThrows(IOException.class, () -> store.list(""));
    }

    @Test
    void optionsAreCheckedWhenSet() {
        SimulatedObjectStore.Builder builder = SimulatedObjectStore.builder();
        assertThrows(IllegalArgumentException.class, () -> builder.prefixDepth(-1));
        assertThrows(IllegalArgumentException.class, () -> builder.dropPayloadsAbove(-1));
        assertThrows(IllegalArgumentException.class, () -> builder.requestRates(0, 5500));
        assertThrows(IllegalArgumentException.class,
                () -> new Latency(Duration.ofMillis(5), Duration.ofMillis(4), 1));
        assertThrows(IllegalArgumentException.class, () -> Latency.fixed(Duration.ZERO, 0));
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** Requests that take no simulated time: for counting and rates alone. */
    // ---- what a scale simulation needs ----------------------------------------------------------------------

    @Test
    void aSizedPutIsOnePutOfItsSizeWhoseBytesAreNeverHeld() throws IOException {
        SimulatedClock clock = new SimulatedClock(Instant.EPOCH);
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().clock(clock)
                .latency(Latency.fixed(Duration.ofMillis(20), 100_000_000L)).build()) {
            store.putSized(CHUNK, 4_000_000, 42);
            assertEquals(20 * MS + 40 * MS, clock.now(), "first byte, then 4 MB at 100 MB/s");
            assertEquals(4_000_000, store.stat(CHUNK).size());
            assertEquals(42, store.contentHash(CHUNK));
            assertFalse(store.holdsPayload(CHUNK));
            assertThrows(PayloadDroppedException.class, () -> store.read(CHUNK, 0, ByteBuffer.allocate(10)));
            assertEquals(1, store.stats().requests(RequestKind.PUT));
            assertEquals(4_000_000, store.stats().bytesWritten());
            assertThrows(IOException.class, () -> store.putSized("run/chunks/ab/x", -1, 0));
        }
    }

    @Test
    void withVisibilityFromCompletionACallerBehindInSimulatedTimeDoesNotSeeALaterWrite() throws IOException {
        SimulatedClock clock = new SimulatedClock(Instant.EPOCH);
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().clock(clock)
                .latency(Latency.fixed(Duration.ofMillis(10), Long.MAX_VALUE)).visibleFromCompletion().build()) {
            clock.setNow(SECOND);
            assertTrue(store.putIfAbsent(MANIFEST, bytes(3))); // completes at 1.010 s
            clock.setNow(SECOND / 2);
            assertThrows(NoSuchFileException.class, () -> store.stat(MANIFEST));
            assertTrue(store.list("run/steps/").isEmpty());
            assertThrows(NoSuchFileException.class, () -> store.read(MANIFEST, 0, ByteBuffer.allocate(3)));
            clock.setNow(SECOND + 10 * MS);
            assertEquals(3, store.stat(MANIFEST).size());
            assertEquals(1, store.list("run/steps/").size());
        }
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().clock(clock)
                .latency(Latency.fixed(Duration.ofMillis(10), Long.MAX_VALUE)).build()) {
            clock.setNow(SECOND);
            store.put(MANIFEST, bytes(3));
            clock.setNow(SECOND / 2);
            assertEquals(3, store.stat(MANIFEST).size(), "by default an object is seen from its put on, in real time");
        }
    }

    private static SimulatedObjectStore.Builder instant() {
        return SimulatedObjectStore.builder().latency(Latency.NONE);
    }

    /** How long each of 200 HEADs took, each started at its own whole second. */
    private static List<Long> headDurations(long seed) throws IOException {
        try (SimulatedObjectStore store = SimulatedObjectStore.builder().seed(seed).build()) {
            List<Long> durations = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                store.clock().setNow(i * SECOND);
                assertThrows(NoSuchFileException.class, () -> store.stat(CHUNK));
                durations.add(store.clock().now() - i * SECOND);
            }
            return durations;
        }
    }

    private static ByteBuffer bytes(int size) {
        return ByteBuffer.allocate(size);
    }


    private static byte[] seeded(long seed, int size) {
        byte[] out = new byte[size];
        new java.util.SplittableRandom(seed).nextBytes(out);
        return out;
    }
}
