package dev.cairn.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@link ObjectStore} contract: every backend's test extends this class and passes all of it.
 *
 * <p>Subclasses return a fresh, empty store from {@link #newStore()}; the suite closes it after each test, so a
 * backend that checks for leaks on close (the memory tier's allocator does) checks every test. Add
 * backend-specific tests in the subclass.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
public abstract class ObjectStoreContract {

    /** The store under test, fresh for each test. */
    protected ObjectStore store;

    /** A fresh, empty store. Called once before each test. */
    protected abstract ObjectStore newStore() throws Exception;

    @BeforeEach
    final void openStore() throws Exception {
        store = newStore();
    }

    @AfterEach
    final void closeStore() throws Exception {
        if (store != null) {
            store.close();
        }
    }

    // ---- put and read --------------------------------------------------------------------------------------

    /**
     * {@link ObjectStore#readAll}'s default (a stat, then reads) of an object replaced by a longer one between the two
     * fails: it never returns the new object's first bytes as the whole object (a reader writing them back, as a chunk's
     * rewrite does, would cut a live object). Made through this store's own reads, ranged ones on S3.
     */
    @Test
    void aWholeReadOfAnObjectReplacedByALongerOneMeanwhileFailsInsteadOfCuttingIt() throws IOException {
        byte[] first = randomBytes(8, 3_000);
        byte[] longer = randomBytes(9, 5_000);
        store.put("replaced", ByteBuffer.wrap(first));
        ObjectStore replacing = new ForwardingObjectStore(store) {
            private boolean replaced;

            @Override
            public dev.cairn.ObjectInfo stat(String key) throws IOException {
                dev.cairn.ObjectInfo info = super.stat(key);
                if (!replaced) {
                    replaced = true;
                    delegate.put(key, ByteBuffer.wrap(longer));
                }
                return info;
            }
        };
        IOException e = assertThrows(IOException.class, () -> replacing.readAll("replaced", 1 << 20));
        assertTrue(e.getMessage().contains("changed while read"), e.getMessage());
        assertArrayEquals(longer, bytesOf(replacing.readAll("replaced", 1 << 20)), "read again: the whole new object");
        assertEquals(longer.length, replacing.readAll("replaced").array().length, "the array holds the object alone");
    }

    @Test
    void putThenReadReturnsTheWholeObject() throws IOException {
        byte[] content = randomBytes(1, 10_000);
        store.put("a/object", ByteBuffer.wrap(content));

        ByteBuffer dst = ByteBuffer.allocate(content.length);
        assertEquals(content.length, store.read("a/object", 0, dst));
        assertEquals(content.length, dst.position(), "read advances the destination's position");
        assertArrayEquals(content, dst.array());
        assertArrayEquals(content, bytesOf(store.readAll("a/object")));
    }

    @Test
    void aWholeReadWithinItsLimitReturnsTheObjectAndOneAboveItIsRefusedUnread() throws IOException {
        byte[] content = randomBytes(3, 5_000);
        store.put("steps/1/MANIFEST", ByteBuffer.wrap(content));
        assertArrayEquals(content, bytesOf(store.readAll("steps/1/MANIFEST", content.length)));
        assertArrayEquals(content, bytesOf(store.readAll("steps/1/MANIFEST", 1L << 40)));
        dev.cairn.ObjectTooLargeException tooLarge = assertThrows(dev.cairn.ObjectTooLargeException.class,
                () -> store.readAll("steps/1/MANIFEST", content.length - 1));
        assertEquals(content.length - 1, tooLarge.limit());
        assertTrue(tooLarge.atLeast() > tooLarge.limit(), tooLarge.getMessage());
        assertThrows(NoSuchFileException.class, () -> store.readAll("steps/2/MANIFEST", 100));
        store.put("empty", ByteBuffer.allocate(0));
        assertEquals(0, store.readAll("empty", 0).remaining());
    }

    @Test
    void statAllAnswersForTheKeysHeldAndLeavesOutTheOthers() throws IOException {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            String key = "run/chunks/" + String.format("%02x", i) + "/c" + i;
            keys.add(key);
            if (i % 3 != 0) {
                store.put(key, ByteBuffer.wrap(randomBytes(i, 10 + i)));
            }
        }
        java.util.Map<String, ObjectInfo> held = store.statAll(keys);
        for (int i = 0; i < 40; i++) {
            String key = keys.get(i);
            if (i % 3 == 0) {
                assertFalse(held.containsKey(key), key);
            } else {
                assertEquals(key, held.get(key).key());
                assertEquals(10 + i, held.get(key).size(), key);
            }
        }
        assertEquals(26, held.size());
        assertEquals(java.util.Map.of(), store.statAll(List.of()));
    }

    @Test
    void readFromAnOffsetInTheMiddleReturnsThatRange() throws IOException {
        byte[] content = randomBytes(2, 1000);
        store.put("ranged", ByteBuffer.wrap(content));

        ByteBuffer dst = ByteBuffer.allocate(100);
        assertEquals(100, store.read("ranged", 450, dst));
        assertArrayEquals(slice(content, 450, 100), dst.array());
    }

    @Test
    void readIntoTheMiddleOfADestinationFillsOnlyItsRemainingSpace() throws IOException {
        byte[] content = randomBytes(3, 64);
        store.put("k", ByteBuffer.wrap(content));

        ByteBuffer dst = ByteBuffer.allocate(40);
        dst.position(10).limit(30);
        assertEquals(20, store.read("k", 5, dst));
        assertEquals(30, dst.position());
        assertArrayEquals(new byte[10], slice(dst.array(), 0, 10), "bytes before the position are untouched");
        assertArrayEquals(slice(content, 5, 20), slice(dst.array(), 10, 20));
        assertArrayEquals(new byte[10], slice(dst.array(), 30, 10), "bytes after the limit are untouched");
    }

    @Test
    void readPastTheEndReturnsOnlyTheBytesThatExist() throws IOException {
        byte[] content = randomBytes(4, 1000);
        store.put("short", ByteBuffer.wrap(content));

        ByteBuffer dst = ByteBuffer.allocate(500);
        assertEquals(100, store.read("short", 900, dst));
        assertEquals(100, dst.position());
        assertArrayEquals(slice(content, 900, 100), slice(dst.array(), 0, 100));
    }

    @Test
    void readAtOrAfterTheEndReturnsZero() throws IOException {
        store.put("k", ByteBuffer.wrap(randomBytes(5, 10)));

        ByteBuffer dst = ByteBuffer.allocate(8);
        assertEquals(0, store.read("k", 10, dst));
        assertEquals(0, store.read("k", 11, dst));
        assertEquals(0, store.read("k", Long.MAX_VALUE / 2, dst));
        assertEquals(0, dst.position());
    }

    @Test
    void directBuffersWorkAsSourceAndDestination() throws IOException {
        byte[] content = randomBytes(6, 70_000);
        ByteBuffer source = ByteBuffer.allocateDirect(content.length + 16);
        source.position(16);
        source.put(content).position(16);
        store.put("direct", source);
        assertEquals(16, source.position());

        ByteBuffer dst = ByteBuffer.allocateDirect(content.length);
        assertEquals(content.length, store.read("direct", 0, dst));
        assertArrayEquals(content, bytesOf(dst.flip()));
    }

    @Test
    void putWritesOnlyTheRemainingBytesAndLeavesTheCallersBufferAsItWas() throws IOException {
        byte[] content = randomBytes(7, 100);
        ByteBuffer source = ByteBuffer.wrap(content).position(10).limit(90);

        store.put("window", source);
        assertEquals(10, source.position());
        assertEquals(90, source.limit());
        assertTrue(store.putIfAbsent("window-created", source));
        assertEquals(10, source.position());
        assertEquals(90, source.limit());

        assertArrayEquals(slice(content, 10, 80), bytesOf(store.readAll("window")));
        assertArrayEquals(slice(content, 10, 80), bytesOf(store.readAll("window-created")));
    }

    @Test
    void aGatheredCreateStoresThePartsOneAfterTheOtherAndLeavesThemAsTheyWere() throws IOException {
        byte[] content = randomBytes(12, 300_000);
        ByteBuffer direct = ByteBuffer.allocateDirect(content.length).put(content).flip();
        // Parts of both kinds, one empty, windows of larger buffers: the object is their remaining bytes in order.
        ByteBuffer[] parts = {ByteBuffer.wrap(content, 0, 7), direct.slice(7, 131_072).position(0),
                ByteBuffer.allocate(0), ByteBuffer.wrap(content).position(131_079).limit(131_082),
                direct.duplicate().position(131_082)};
        assertTrue(store.putIfAbsentGathered("gathered", parts));
        store.syncNames(java.util.List.of("gathered"));
        assertArrayEquals(content, bytesOf(store.readAll("gathered")));
        assertEquals(content.length, store.stat("gathered").size());
        assertEquals(131_079, parts[3].position(), "positions untouched");
        assertEquals(131_082, parts[4].position(), "positions untouched");
        assertFalse(store.putIfAbsentGathered("gathered", new ByteBuffer[] {ByteBuffer.wrap(content, 0, 10)}));
        assertArrayEquals(content, bytesOf(store.readAll("gathered")), "a create never replaces the object");
    }

    @Test
    void readOnlySourceBuffersArePutAsIs() throws IOException {
        byte[] content = randomBytes(8, 5000);
        store.put("read-only", ByteBuffer.wrap(content).asReadOnlyBuffer());
        assertArrayEquals(content, bytesOf(store.readAll("read-only")));
    }

    @Test
    void theCallerMayReuseItsBufferAsSoonAsPutReturns() throws IOException {
        byte[] content = randomBytes(9, 4096);
        ByteBuffer source = ByteBuffer.allocateDirect(content.length);
        source.put(content).flip();
        store.put("copied", source);

        source.put(new byte[content.length]).flip(); // zero the caller's buffer
        assertArrayEquals(content, bytesOf(store.readAll("copied")));
    }

    @Test
    void putReplacesTheObject() throws IOException {
        store.put("k", ByteBuffer.wrap(randomBytes(10, 5000)));
        byte[] second = randomBytes(11, 300);
        store.put("k", ByteBuffer.wrap(second));

        assertArrayEquals(second, bytesOf(store.readAll("k")));
        assertEquals(300, store.stat("k").size());
        assertEquals(List.of("k"), keys(store.list("")));
    }

    @Test
    void zeroLengthObjectsExistAndReadAsEmpty() throws IOException {
        store.put("empty", ByteBuffer.allocate(0));
        assertTrue(store.putIfAbsent("empty-created", ByteBuffer.allocateDirect(0)));

        assertEquals(0, store.stat("empty").size());
        assertEquals(0, store.read("empty", 0, ByteBuffer.allocate(4)));
        assertEquals(0, store.readAll("empty-created").remaining());
        assertEquals(List.of("empty", "empty-created"), keys(store.list("")));
    }

    @Test
    void aLargeObjectRoundTripsByteForByte() throws IOException {
        int size = 20 * 1024 * 1024 + 12_345;
        byte[] content = randomBytes(12, size);
        ByteBuffer source = ByteBuffer.allocateDirect(size);
        source.put(content).flip();
        store.put("large/object", source);
        assertEquals(size, store.stat("large/object").size());

        // Whole, into a heap buffer.
        assertArrayEquals(content, bytesOf(store.readAll("large/object")));

        // In odd-sized pieces, into a reused direct buffer, as a restore streams it.
        ByteBuffer piece = ByteBuffer.allocateDirect(1_000_003);
        byte[] reassembled = new byte[size];
        long offset = 0;
        while (offset < size) {
            piece.clear();
            int n = store.read("large/object", offset, piece);
            assertTrue(n > 0, "read made progress at " + offset);
            piece.flip().get(reassembled, (int) offset, n);
            offset += n;
        }
        assertArrayEquals(content, reassembled);
    }

    @Test
    void randomRangesReadTheSameBytesAsTheSource() throws IOException {
        SplittableRandom random = new SplittableRandom(13);
        byte[] content = randomBytes(14, 100_000);
        store.put("ranges", ByteBuffer.wrap(content));
        for (int i = 0; i < 200; i++) {
            int offset = random.nextInt(content.length + 10);
            int length = random.nextInt(5000);
            ByteBuffer dst = random.nextBoolean() ? ByteBuffer.allocate(length) : ByteBuffer.allocateDirect(length);
            int expected = Math.max(0, Math.min(length, content.length - offset));
            assertEquals(expected, store.read("ranges", offset, dst), "read at " + offset + " of " + length);
            assertArrayEquals(slice(content, Math.min(offset, content.length), expected), bytesOf(dst.flip()));
        }
    }

    @Test
    void anObjectWhoseNameIsSyncedLaterIsWholeAtOnceAndListedLikeAnyOther() throws IOException {
        byte[] first = randomBytes(21, 70_000);
        byte[] second = randomBytes(22, 3_000);
        store.putSyncingNameLater("run/chunks/ab/ab01", ByteBuffer.wrap(first));
        store.putSyncingNameLater("run/chunks/cd/cd02", ByteBuffer.wrap(second));
        assertArrayEquals(first, bytesOf(store.readAll("run/chunks/ab/ab01")), "readable before its name is synced");
        store.syncNames(List.of("run/chunks/ab/ab01", "run/chunks/cd/cd02", "run/chunks/ef/never-put"));
        store.syncNames(List.of("run/chunks/ab/ab01")); // again: nothing left to do, and no error
        assertArrayEquals(first, bytesOf(store.readAll("run/chunks/ab/ab01")));
        assertArrayEquals(second, bytesOf(store.readAll("run/chunks/cd/cd02")));
        assertEquals(List.of("run/chunks/ab/ab01", "run/chunks/cd/cd02"),
                store.list("run/chunks/").stream().map(ObjectInfo::key).toList());
        store.putSyncingNameLater("run/chunks/ab/ab01", ByteBuffer.wrap(second));
        assertArrayEquals(second, bytesOf(store.readAll("run/chunks/ab/ab01")), "replaces the object, as put does");
    }

    @Test
    void aCreateWhoseNameIsSyncedLaterKeepsWhatIsStoredAndIsWholeAtOnce() throws IOException {
        byte[] first = randomBytes(23, 70_000);
        byte[] other = randomBytes(24, 3_000);
        assertTrue(store.putIfAbsentSyncingNameLater("run/chunks/ab/ab03", ByteBuffer.wrap(first)));
        assertArrayEquals(first, bytesOf(store.readAll("run/chunks/ab/ab03")), "readable before its name is synced");
        assertFalse(store.putIfAbsentSyncingNameLater("run/chunks/ab/ab03", ByteBuffer.wrap(other)));
        store.put("run/chunks/cd/cd04", ByteBuffer.wrap(other));
        assertFalse(store.putIfAbsentSyncingNameLater("run/chunks/cd/cd04", ByteBuffer.wrap(first)), "put's object is kept");
        store.syncNames(List.of("run/chunks/ab/ab03", "run/chunks/cd/cd04"));
        assertArrayEquals(first, bytesOf(store.readAll("run/chunks/ab/ab03")), "the first content stays");
        assertArrayEquals(other, bytesOf(store.readAll("run/chunks/cd/cd04")));
        assertEquals(List.of("run/chunks/ab/ab03", "run/chunks/cd/cd04"),
                store.list("run/chunks/").stream().map(ObjectInfo::key).toList());
        store.delete("run/chunks/ab/ab03");
        assertTrue(store.putIfAbsentSyncingNameLater("run/chunks/ab/ab03", ByteBuffer.wrap(other)), "created again after delete");
        assertArrayEquals(other, bytesOf(store.readAll("run/chunks/ab/ab03")));
    }

    // ---- putIfAbsent ---------------------------------------------------------------------------------------

    @Test
    void putIfAbsentCreatesOnceAndKeepsTheFirstContent() throws IOException {
        byte[] first = "first".getBytes(UTF_8);
        assertTrue(store.putIfAbsent("steps/1/MANIFEST", ByteBuffer.wrap(first)));
        assertFalse(store.putIfAbsent("steps/1/MANIFEST", ByteBuffer.wrap("second".getBytes(UTF_8))));
        assertArrayEquals(first, bytesOf(store.readAll("steps/1/MANIFEST")));
    }

    @Test
    void putIfAbsentDoesNotCreateOverAnObjectThatPutWrote() throws IOException {
        store.put("k", ByteBuffer.wrap("put".getBytes(UTF_8)));
        assertFalse(store.putIfAbsent("k", ByteBuffer.wrap("created".getBytes(UTF_8))));
        assertEquals("put", string(store.readAll("k")));
    }

    @Test
    void putIfAbsentCreatesAgainAfterDelete() throws IOException {
        assertTrue(store.putIfAbsent("k", ByteBuffer.wrap("one".getBytes(UTF_8))));
        store.delete("k");
        assertTrue(store.putIfAbsent("k", ByteBuffer.wrap("two".getBytes(UTF_8))));
        assertEquals("two", string(store.readAll("k")));
    }

    @Test
    void exactlyOneOfSixteenRacingCreatorsWinsAndItsContentIsStored() throws Exception {
        int creators = 16;
        ExecutorService pool = Executors.newFixedThreadPool(creators);
        try {
            for (int round = 0; round < 5; round++) {
                String key = "race/" + round + "/MANIFEST";
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Boolean>> outcomes = new ArrayList<>();
                for (int c = 0; c < creators; c++) {
                    byte[] content = ("creator " + c + " " + "x".repeat(c * 1000)).getBytes(UTF_8);
                    outcomes.add(pool.submit(() -> {
                        start.await();
                        return store.putIfAbsent(key, ByteBuffer.wrap(content));
                    }));
                }
                start.countDown();
                int winner = -1;
                for (int c = 0; c < creators; c++) {
                    if (outcomes.get(c).get(30, TimeUnit.SECONDS)) {
                        assertEquals(-1, winner, "creators " + winner + " and " + c + " both won " + key);
                        winner = c;
                    }
                }
                assertTrue(winner >= 0, "nobody won " + key);
                assertEquals("creator " + winner + " " + "x".repeat(winner * 1000), string(store.readAll(key)));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    // ---- stat, list, delete --------------------------------------------------------------------------------

    @Test
    void statReportsSizeAndARecentModificationTime() throws IOException {
        Instant before = Instant.now().minus(Duration.ofMinutes(1));
        store.put("sized", ByteBuffer.wrap(new byte[1234]));
        ObjectInfo info = store.stat("sized");

        assertEquals("sized", info.key());
        assertEquals(1234, info.size());
        assertNotNull(info.lastModified());
        assertTrue(info.lastModified().isAfter(before), "modified " + info.lastModified());
        assertTrue(info.lastModified().isBefore(Instant.now().plus(Duration.ofMinutes(1))), "modified " + info.lastModified());
    }

    @Test
    void listReturnsOnlyKeysUnderThePrefixSortedByKey() throws IOException {
        for (String key : List.of("run/steps/2/MANIFEST", "run/steps/10/rank-0.index", "run/steps/1/rank-1.index",
                "run/steps/1/rank-0.index", "run/steps/1/MANIFEST", "run/chunks/ab/abcdef", "other/steps/1/MANIFEST",
                "run/steps1", "runner")) {
            store.put(key, ByteBuffer.wrap(key.getBytes(UTF_8)));
        }

        assertEquals(List.of("run/steps/1/MANIFEST", "run/steps/1/rank-0.index", "run/steps/1/rank-1.index"),
                keys(store.list("run/steps/1/")));
        assertEquals(List.of("run/steps/1/MANIFEST", "run/steps/1/rank-0.index", "run/steps/1/rank-1.index",
                "run/steps/10/rank-0.index"), keys(store.list("run/steps/1")), "a prefix need not end at a '/'");
        assertEquals(List.of("run/steps/1/MANIFEST", "run/steps/1/rank-0.index", "run/steps/1/rank-1.index",
                "run/steps/10/rank-0.index", "run/steps/2/MANIFEST"), keys(store.list("run/steps/")));
        assertEquals(List.of("run/chunks/ab/abcdef", "run/steps/1/MANIFEST", "run/steps/1/rank-0.index",
                "run/steps/1/rank-1.index", "run/steps/10/rank-0.index", "run/steps/2/MANIFEST", "run/steps1",
                "runner"), keys(store.list("run")));
        assertEquals(List.of("run/steps/1/MANIFEST"), keys(store.list("run/steps/1/M")));
        assertEquals(9, store.list("").size());
        assertEquals(List.of(), store.list("nothing/here/"));
        assertEquals(List.of(), store.list("run/steps/3"));
        for (String prefix : List.of("run/steps/", "run", "", "nothing/here/")) { // every member answers here
            assertEquals(keys(store.list(prefix)), keys(store.listWhole(prefix)), "listed whole: " + prefix);
        }
    }

    @Test
    void listFoldersNamesEachFolderDirectlyUnderThePrefixOnceSortedByName() throws IOException {
        for (String key : List.of("run/steps/2/MANIFEST", "run/steps/10/rank-0.index", "run/steps/1/rank-1.index",
                "run/steps/1/rank-0.index", "run/steps/1/MANIFEST", "run/steps/9/a/b/deep", "run/chunks/ab/abcdef",
                "other/steps/1/MANIFEST", "run/steps1", "run/steps-x/1/k", "runner", "run/steps/loose")) {
            store.put(key, ByteBuffer.wrap(key.getBytes(UTF_8)));
        }

        // Sorted by name, so step 10 before step 2: a caller that wants steps in order parses them.
        assertEquals(List.of("run/steps/1/", "run/steps/10/", "run/steps/2/", "run/steps/9/"),
                store.listFolders("run/steps/"), "objects directly under the prefix are no folder");
        assertEquals(List.of("run/chunks/", "run/steps-x/", "run/steps/"), store.listFolders("run/"));
        assertEquals(List.of("run/steps-x/", "run/steps/"), store.listFolders("run/steps"),
                "a prefix need not end at a '/': the folder is the key up to the first '/' after it");
        assertEquals(List.of("run/steps/1/", "run/steps/10/"), store.listFolders("run/steps/1"));
        assertEquals(List.of("run/steps/9/a/"), store.listFolders("run/steps/9/"));
        assertEquals(List.of("other/", "run/"), store.listFolders(""));
        assertEquals(List.of(), store.listFolders("run/steps/1/"), "a folder of objects only");
        assertEquals(List.of(), store.listFolders("nothing/here/"));
        assertEquals(List.of(), store.listFolders("run/steps/3"));
    }

    @Test
    void aFolderWhoseObjectsWereAllDeletedIsNoLongerListed() throws IOException {
        store.put("run/steps/1/MANIFEST", ByteBuffer.wrap("m".getBytes(UTF_8)));
        store.put("run/steps/2/rank-0.index", ByteBuffer.wrap("i".getBytes(UTF_8)));
        store.put("run/steps/3/x/deep", ByteBuffer.wrap("d".getBytes(UTF_8)));

        store.delete("run/steps/2/rank-0.index");
        store.delete("run/steps/3/x/deep");
        assertEquals(List.of("run/steps/1/"), store.listFolders("run/steps/"));
        store.put("run/steps/2/rank-1.index", ByteBuffer.wrap("i".getBytes(UTF_8)));
        assertEquals(List.of("run/steps/1/", "run/steps/2/"), store.listFolders("run/steps/"));
    }

    @Test
    void listFoldersOfThousandsOfFoldersNamesEveryOne() throws Exception {
        int count = 1100; // more than one page of S3's 1,000
        runInParallel(8, count, i -> {
            String key = "many/" + i + "/rank-" + (i % 3) + ".index";
            store.put(key, ByteBuffer.wrap(key.getBytes(UTF_8)));
        });
        store.put("many/7/MANIFEST", ByteBuffer.wrap("m".getBytes(UTF_8)));

        List<String> expected = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            expected.add("many/" + i + "/");
        }
        expected.sort(null);
        assertEquals(expected, store.listFolders("many/"), "every folder once, sorted by name");
    }

    @Test
    void listReportsEachObjectsSize() throws IOException {
        store.put("p/a", ByteBuffer.allocate(3));
        store.put("p/b", ByteBuffer.allocate(0));
        store.put("p/c/d", ByteBuffer.allocate(70));

        List<ObjectInfo> listed = store.list("p/");
        assertEquals(List.of("p/a", "p/b", "p/c/d"), keys(listed));
        assertEquals(List.of(3L, 0L, 70L), listed.stream().map(ObjectInfo::size).toList());
        listed.forEach(info -> assertNotNull(info.lastModified()));
    }

    @Test
    void listHandlesThousandsOfKeys() throws Exception {
        int count = 1100;
        runInParallel(8, count, i -> {
            String key = String.format("many/%02d/%05d", i % 37, i);
            store.put(key, ByteBuffer.wrap(key.getBytes(UTF_8)));
        });

        List<String> listed = keys(store.list("many/"));
        assertEquals(count, listed.size());
        assertEquals(listed.stream().sorted().toList(), listed, "sorted by key");
        assertEquals(count / 37 + (5 < count % 37 ? 1 : 0), store.list("many/05/").size());
    }

    @Test
    void keysWithNestedFoldersAreIndependentObjects() throws IOException {
        store.put("a/b/c/d", ByteBuffer.wrap("d".getBytes(UTF_8)));
        store.put("a/b/e", ByteBuffer.wrap("e".getBytes(UTF_8)));
        store.put("a/x", ByteBuffer.wrap("x".getBytes(UTF_8)));

        store.delete("a/b/c/d");
        assertEquals(List.of("a/b/e", "a/x"), keys(store.list("a/")));
        assertEquals("e", string(store.readAll("a/b/e")));

        store.put("a/b/c/d2", ByteBuffer.wrap("d2".getBytes(UTF_8)));
        assertEquals("d2", string(store.readAll("a/b/c/d2")));
        assertEquals(List.of("a/b/c/d2", "a/b/e", "a/x"), keys(store.list("")));
    }

    @Test
    void aPrefixOfOtherKeysIsNotAnObject() throws IOException {
        store.put("dir/child", ByteBuffer.wrap("c".getBytes(UTF_8)));

        assertMissing("dir");
        store.delete("dir");
        assertEquals("c", string(store.readAll("dir/child")));
    }

    @Test
    void aDeletedObjectIsMissingForReadAndStat() throws IOException {
        store.put("gone", ByteBuffer.wrap(randomBytes(15, 100)));
        store.delete("gone");

        assertMissing("gone");
        assertEquals(List.of(), store.list(""));
    }

    @Test
    void aKeyNeverPutIsMissing() {
        assertMissing("never/put");
    }

    @Test
    void deletingAMissingKeyIsNotAnError() throws IOException {
        store.delete("never/put");
        store.put("once", ByteBuffer.allocate(1));
        store.delete("once");
        store.delete("once");
    }

    @Test
    void deleteAllRemovesTheKeysGivenAndTakesAbsentOnesForGone() throws IOException {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            String key = "run/chunks/" + String.format("%02x", i % 4) + "/k" + i;
            keys.add(key);
            if (i % 3 != 0) {
                store.put(key, ByteBuffer.wrap(randomBytes(100 + i, 10 + i)));
            }
        }
        store.put("run/chunks/00/kept", ByteBuffer.wrap(randomBytes(99, 5)));
        store.put("run/steps/1/MANIFEST", ByteBuffer.wrap(randomBytes(98, 5)));

        store.deleteAll(keys);

        for (String key : keys) {
            assertMissing(key);
        }
        assertEquals(List.of("run/chunks/00/kept", "run/steps/1/MANIFEST"), keys(store.list("run/")));
        store.deleteAll(keys); // all gone now: still not an error
        store.deleteAll(List.of());
        assertEquals(List.of("run/chunks/00/kept", "run/steps/1/MANIFEST"), keys(store.list("run/")));
    }

    @Test
    void deleteAllOfMoreThanAThousandKeysRemovesEveryOne() throws Exception {
        int count = 2345; // more than two DeleteObjects requests' worth, the last one partial
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            keys.add(String.format("bulk/%02x/%05d", i % 256, i));
        }
        runInParallel(8, count, i -> {
            if (i % 5 == 0) { // a fifth of them held, the others absent (fewer puts: an S3 server on loopback is slow)
                store.put(keys.get(i), ByteBuffer.wrap(contentFor(i % 50)));
            }
        });
        store.put("bulk/zz/kept", ByteBuffer.allocate(1));

        store.deleteAll(keys);

        assertEquals(List.of("bulk/zz/kept"), keys(store.list("bulk/")));
        assertMissing(keys.get(0));
        assertMissing(keys.get(count - 1));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/absolute", "a//b", "trailing/", "../escape", "a/../../escape", "a/./b", ".", "..",
        "back\\slash", "nul\u0000char", "new\nline"})
    void keysThatCouldEscapeARootOrMeanTwoThingsAreRejected(String key) {
        assertThrows(IOException.class, () -> store.put(key, ByteBuffer.allocate(1)), printable(key));
        assertThrows(IOException.class, () -> store.putIfAbsent(key, ByteBuffer.allocate(1)), printable(key));
    }

    // ---- concurrency ---------------------------------------------------------------------------------------

    @Test
    void concurrentPutsOfDistinctKeysAllLand() throws Exception {
        int count = 240;
        runInParallel(8, count, i -> store.put("concurrent/" + (i % 5) + "/" + i, ByteBuffer.wrap(contentFor(i))));

        assertEquals(count, store.list("concurrent/").size());
        for (int i = 0; i < count; i++) {
            assertArrayEquals(contentFor(i), bytesOf(store.readAll("concurrent/" + (i % 5) + "/" + i)));
        }
    }

    @Test
    void aReaderSeesOneWholeVersionWhileAnotherThreadReplacesTheObject() throws Exception {
        int size = 1 << 20;
        ByteBuffer ones = filled(size, (byte) 0x11);
        ByteBuffer twos = filled(size, (byte) 0x22);
        store.put("hot", ones);

        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            Future<Integer> writer = pool.submit(() -> {
                int puts = 0;
                while (!stop.get() && puts < 2000) {
                    store.put("hot", (puts++ & 1) == 0 ? twos : ones);
                }
                return puts;
            });
            List<Future<Integer>> readers = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                readers.add(pool.submit(() -> {
                    ByteBuffer dst = ByteBuffer.allocateDirect(size);
                    int reads = 0;
                    for (long deadline = System.nanoTime() + 1_000_000_000L; System.nanoTime() < deadline; reads++) {
                        dst.clear();
                        assertEquals(size, store.read("hot", 0, dst));
                        byte first = dst.get(0);
                        for (int i = 0; i < size; i += 8) {
                            if (dst.getLong(i) != first * 0x0101010101010101L) {
                                fail("read mixed two versions at byte " + i);
                            }
                        }
                    }
                    return reads;
                }));
            }
            for (Future<Integer> reader : readers) {
                assertTrue(reader.get(30, TimeUnit.SECONDS) > 0);
            }
            stop.set(true);
            assertTrue(writer.get(30, TimeUnit.SECONDS) > 0);
        } finally {
            stop.set(true);
            pool.shutdownNow();
        }
    }

    // ---- helpers for subclasses and this suite -------------------------------------------------------------

    /** A task run for each index by {@link #runInParallel}. */
    @FunctionalInterface
    protected interface IndexedTask {
        void run(int index) throws Exception;
    }

    /** Runs {@code task} for indices 0 until {@code count} on {@code threads} threads; rethrows the first failure. */
    protected static void runInParallel(int threads, int count, IndexedTask task) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Void>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int first = t;
                Callable<Void> worker = () -> {
                    for (int i = first; i < count; i += threads) {
                        task.run(i);
                    }
                    return null;
                };
                done.add(pool.submit(worker));
            }
            for (Future<Void> future : done) {
                future.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** {@code size} bytes from a seeded generator: the same seed gives the same bytes. */
    protected static byte[] randomBytes(long seed, int size) {
        byte[] bytes = new byte[size];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < size; i += 8) {
            long word = random.nextLong();
            for (int b = 0; b < 8 && i + b < size; b++) {
                bytes[i + b] = (byte) (word >>> (8 * b));
            }
        }
        return bytes;
    }

    /** The remaining bytes of {@code buffer}, leaving its position untouched. */
    protected static byte[] bytesOf(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return bytes;
    }

    /** Keys of a listing, in its order. */
    protected static List<String> keys(List<ObjectInfo> infos) {
        return infos.stream().map(ObjectInfo::key).toList();
    }

    /** Asserts that read and stat both report {@code key} as missing, naming it. */
    protected final void assertMissing(String key) {
        NoSuchFileException onRead = assertThrows(NoSuchFileException.class, () -> store.read(key, 0, ByteBuffer.allocate(1)));
        assertEquals(key, onRead.getFile());
        NoSuchFileException onStat = assertThrows(NoSuchFileException.class, () -> store.stat(key));
        assertEquals(key, onStat.getFile());
    }

    private static byte[] contentFor(int i) {
        return randomBytes(1000 + i, 100 + (i * 7919) % 20_000);
    }

    private static ByteBuffer filled(int size, byte value) {
        ByteBuffer buffer = ByteBuffer.allocateDirect(size);
        while (buffer.hasRemaining()) {
            buffer.put(value);
        }
        return buffer.flip();
    }

    private static byte[] slice(byte[] bytes, int offset, int length) {
        byte[] out = new byte[length];
        System.arraycopy(bytes, offset, out, 0, length);
        return out;
    }

    private static String string(ByteBuffer buffer) {
        return new String(bytesOf(buffer), UTF_8);
    }

    private static String printable(String key) {
        return key.chars().mapToObj(c -> Character.isISOControl(c) ? String.format("\\u%04x", c) : String.valueOf((char) c))
                .reduce("", String::concat);
    }
}
