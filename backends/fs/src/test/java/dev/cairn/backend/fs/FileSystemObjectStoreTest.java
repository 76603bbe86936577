package dev.cairn.backend.fs;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSystemObjectStoreTest extends ObjectStoreContract {

    @TempDir
    Path temp;

    private int stores;

    @Override
    protected ObjectStore newStore() throws IOException {
        return new FileSystemObjectStore(temp.resolve("store-" + stores++));
    }

    private FileSystemObjectStore fs() {
        return (FileSystemObjectStore) store;
    }

    /**
     * A real EIO from the kernel, without a failing disk: /proc/self/mem is a regular file whose first page (address 0)
     * is never mapped, so reading it fails with "Input/output error", a message that names no file.
     */
    @Test
    void aReadThatFailsWithAnInputOutputErrorNamesItsFile() throws Exception {
        Path proc = Path.of("/proc/self");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(proc.resolve("mem")), "no /proc/self/mem here");
        try (FileSystemObjectStore procStore = new FileSystemObjectStore(proc)) {
            IOException e = assertThrows(IOException.class, () -> procStore.read("mem", 0, ByteBuffer.allocateDirect(64)));
            assertTrue(e.getMessage().contains("Input/output error"), e.getMessage());
            assertTrue(e.getMessage().contains("mem") && e.getMessage().contains("/proc/"), "names the file: " + e.getMessage());
        }
    }

    @Test
    void aFifoAtAKeyIsRefusedWithoutOpeningIt() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.cairn.testkit.HostileStores.fifosWork(), "no mkfifo here");
        store.put("run/chunks/ab/abcd", ByteBuffer.wrap("x".getBytes(UTF_8)));
        Path file = fs().root().resolve("run/chunks/ab/abcd");
        Files.delete(file);
        dev.cairn.testkit.HostileStores.mkfifo(file);
        // Opening a FIFO for reading blocks until a writer comes: the limit turns that hang into a failure.
        IOException e = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> assertThrows(IOException.class, () -> store.read("run/chunks/ab/abcd", 0, ByteBuffer.allocate(8))));
        assertTrue(e.getMessage().contains("run/chunks/ab/abcd") && e.getMessage().contains("not a regular file"), e.getMessage());
        IOException s = assertThrows(IOException.class, () -> store.stat("run/chunks/ab/abcd"));
        assertTrue(s.getMessage().contains("not a regular file"), s.getMessage());
        assertEquals(List.of(), keys(store.list("run/chunks/")));
    }

    @Test
    void aSymbolicLinkAtAKeyOrOnItsPathIsRefusedEvenToAFileOutsideTheStore() throws IOException {
        Path outside = Files.writeString(temp.resolve("secret"), "outside the store");
        store.put("run/chunks/ab/abcd", ByteBuffer.wrap("x".getBytes(UTF_8)));
        Path file = fs().root().resolve("run/chunks/ab/abcd");
        Files.delete(file);
        Files.createSymbolicLink(file, outside);
        IOException e = assertThrows(IOException.class, () -> store.read("run/chunks/ab/abcd", 0, ByteBuffer.allocate(64)));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        assertThrows(IOException.class, () -> store.stat("run/chunks/ab/abcd"));

        Path elsewhere = Files.createDirectories(temp.resolve("elsewhere"));
        Files.writeString(elsewhere.resolve("cdef"), "outside the store");
        Files.createSymbolicLink(fs().root().resolve("run/chunks/cd"), elsewhere);
        IOException viaDirectory = assertThrows(IOException.class,
                () -> store.read("run/chunks/cd/cdef", 0, ByteBuffer.allocate(64)));
        assertTrue(viaDirectory.getMessage().contains("leads out of the store"), viaDirectory.getMessage());
    }

    @Test
    void objectsArePlainFilesUnderTheRootAndOutliveTheStore() throws IOException {
        store.put("run/steps/1/MANIFEST", ByteBuffer.wrap("m".getBytes(UTF_8)));
        Path file = fs().root().resolve("run/steps/1/MANIFEST");
        assertEquals("m", Files.readString(file));

        try (FileSystemObjectStore reopened = new FileSystemObjectStore(fs().root())) {
            assertEquals(List.of("run/steps/1/MANIFEST"), keys(reopened.list("")));
        }
    }

    @Test
    void noTemporaryFilesAreLeftAfterPutsAndLostCreates() throws IOException {
        for (int i = 0; i < 20; i++) {
            store.put("dir/" + (i % 3), ByteBuffer.wrap(randomBytes(i, 1000 + i)));
            store.putIfAbsent("dir/created", ByteBuffer.wrap(randomBytes(i, 10)));
        }
        assertEquals(List.of(), temporaries(fs().root()));
        assertEquals(4, store.list("").size());
    }

    @Test
    void aStaleTemporaryIsIgnoredByListAndRemovedByGarbageCollection() throws IOException {
        store.put("run/chunks/ab/abc", ByteBuffer.wrap("chunk".getBytes(UTF_8)));
        Path stale = fs().root().resolve("run/chunks/ab/.tmp-0123456789abcdef");
        Path fresh = fs().root().resolve("run/chunks/ab/.tmp-fedcba9876543210");
        Files.write(stale, new byte[100]);
        Files.write(fresh, new byte[100]);
        Files.setLastModifiedTime(stale, FileTime.from(Instant.now().minus(Duration.ofHours(2))));

        assertEquals(List.of("run/chunks/ab/abc"), keys(store.list("")));
        assertEquals(List.of("run/chunks/ab/abc"), keys(store.list("run/chunks/ab/")));

        assertEquals(1, fs().deleteStaleTemporaries(Duration.ofHours(1)));
        assertFalse(Files.exists(stale));
        assertTrue(Files.exists(fresh), "a temporary younger than the age may belong to a live writer");
        assertEquals(1, fs().deleteStaleTemporaries(Duration.ZERO));
        assertEquals(List.of(), temporaries(fs().root()));
    }

    /**
     * A directory that cannot be opened to force it (not readable by this user, or no file descriptor left: EACCES,
     * EMFILE, which a test running as root cannot meet, so the open fails here as the kernel's would) fails the write:
     * it used to be skipped as on Windows, and put, a create and syncNames said durable of a name that was not.
     */
    @Test
    void aDirectoryThatCannotBeForcedFailsTheWriteInsteadOfCallingItDurable() throws IOException {
        store.put("run/steps/1/seed", ByteBuffer.wrap(new byte[] {1})); // the directories exist and are forced
        FileSystemObjectStore.DirectoryOpener real = FileSystemObjectStore.directoryOpener;
        FileSystemObjectStore.directoryOpener = directory -> {
            throw new java.nio.file.AccessDeniedException(directory.toString());
        };
        try {
            IOException put = assertThrows(IOException.class, () -> store.put("run/steps/1/MANIFEST", ByteBuffer.wrap(new byte[] {2})));
            assertTrue(put.getMessage().contains("durable"), put.getMessage());
            assertThrows(IOException.class, () -> store.putIfAbsent("run/steps/1/other", ByteBuffer.wrap(new byte[] {3})));
            fs().putSyncingNameLater("run/steps/1/later", ByteBuffer.wrap(new byte[] {4}));
            assertThrows(IOException.class, () -> fs().syncNames(List.of("run/steps/1/later")));
            // The failed force did not count the directory as forced: the next syncNames opens and forces it.
            java.util.concurrent.atomic.AtomicInteger opened = new java.util.concurrent.atomic.AtomicInteger();
            FileSystemObjectStore.directoryOpener = directory -> {
                opened.incrementAndGet();
                return real.open(directory);
            };
            fs().syncNames(List.of("run/steps/1/later"));
            assertEquals(1, opened.get());
        } finally {
            FileSystemObjectStore.directoryOpener = real;
        }
    }

    /**
     * A directory is a folder of {@code listFolders} only while an object lies under it, as a common prefix of S3 is: not
     * one that holds only a file being written (a writer's first file of a step), nor one left empty.
     */
    @Test
    void aDirectoryWithoutAnObjectBelowIsNoFolder() throws IOException {
        store.put("run/steps/1/MANIFEST", ByteBuffer.wrap("m".getBytes(UTF_8)));
        Files.createDirectories(fs().root().resolve("run/steps/2"));
        Files.write(fs().root().resolve("run/steps/2/.tmp-0123456789abcdef"), new byte[10]);
        Files.createDirectories(fs().root().resolve("run/steps/3/deeper"));
        Files.createDirectories(fs().root().resolve("run/steps/.tmp-0123456789abcdef"));

        assertEquals(List.of("run/steps/1/"), store.listFolders("run/steps/"));
        store.put("run/steps/3/deeper/rank-0.index", ByteBuffer.wrap("i".getBytes(UTF_8)));
        assertEquals(List.of("run/steps/1/", "run/steps/3/"), store.listFolders("run/steps/"));
    }

    @Test
    void keysThatClimbOutOfTheRootAreRejectedAndNothingIsWritten() throws IOException {
        Path outside = fs().root().getParent();
        try (Stream<Path> before = Files.list(outside)) {
            long entriesBefore = before.count();
            for (String key : List.of("../escape", "a/../../escape", "..", "a/..")) {
                IOException rejected = assertThrows(IOException.class, () -> store.put(key, ByteBuffer.allocate(1)));
                assertTrue(rejected.getMessage().contains(key), rejected.getMessage());
                assertThrows(IOException.class, () -> store.read(key, 0, ByteBuffer.allocate(1)));
                assertThrows(IOException.class, () -> store.delete(key));
                assertThrows(IOException.class, () -> store.list(key + "/"));
            }
            try (Stream<Path> after = Files.list(outside)) {
                assertEquals(entriesBefore, after.count());
            }
        }
        assertFalse(Files.exists(outside.resolve("escape")));
    }

    @Test
    void namesReservedForTemporariesAreNotKeys() {
        assertThrows(IOException.class, () -> store.put(".tmp-1", ByteBuffer.allocate(1)));
        assertThrows(IOException.class, () -> store.put("a/.tmp-1/b", ByteBuffer.allocate(1)));
    }

    @Test
    void deleteRemovesDirectoriesItEmptiedButNeverTheRoot() throws IOException {
        store.put("a/b/c/d", ByteBuffer.allocate(1));
        store.put("a/x", ByteBuffer.allocate(1));

        store.delete("a/b/c/d");
        assertFalse(Files.exists(fs().root().resolve("a/b")));
        assertTrue(Files.exists(fs().root().resolve("a")));
        store.delete("a/x");
        assertTrue(Files.isDirectory(fs().root()));
        try (Stream<Path> left = Files.list(fs().root())) {
            assertEquals(0, left.count());
        }
    }

    @Test
    void putsSucceedWhileDeletesPruneTheirDirectory() throws Exception {
        // Each thread puts and deletes its own key in one shared directory, so deletes keep removing the
        // directory other threads are about to write into.
        runInParallel(4, 4, thread -> {
            for (int i = 0; i < 150; i++) {
                String key = "shared/deep/dir/" + thread;
                store.put(key, ByteBuffer.wrap(new byte[] {(byte) i}));
                assertEquals(1, store.stat(key).size());
                store.delete(key);
            }
        });
        assertEquals(List.of(), store.list(""));
        assertEquals(List.of(), temporaries(fs().root()));
    }

    /** A direct write of a whole object into a real file under the test's directory works here (else skipped). */
    @Test
    void theStoreWritesDirectWhereTheFileSystemTakesIt() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(DirectWritesProperties.directWritesWorkUnder(temp), "this file system takes no O_DIRECT writes");
        try (FileSystemObjectStore store = new FileSystemObjectStore(temp.resolve("direct"))) {
            assertFalse(store.writesDirect(), "not probed before the first large write");
            store.put("small", ByteBuffer.allocate(DirectWrites.MIN_BYTES - 1));
            assertFalse(store.writesDirect(), "a small object is written buffered, without a probe");
            store.put("large", ByteBuffer.allocate(DirectWrites.MIN_BYTES));
            assertTrue(store.writesDirect());
        }
    }

    @Test
    void describeNamesTheRoot() {
        assertTrue(store.describe().contains(fs().root().toString()), store.describe());
    }

    @Test
    void aWriterKilledMidPutLeavesOnlyCompleteObjects() throws Exception {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String classPath = String.join(File.pathSeparator, System.getProperty("java.class.path"),
                codeSource(CrashingWriter.class), codeSource(FileSystemObjectStore.class), codeSource(ObjectStore.class));
        for (int trial = 0; trial < 5; trial++) {
            Path root = temp.resolve("crash-" + trial);
            Set<String> acknowledged = ConcurrentHashMap.newKeySet();
            CountDownLatch started = new CountDownLatch(2);
            Process child = new ProcessBuilder(java, "-cp", classPath, CrashingWriter.class.getName(), root.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .start();
            Thread reader = new Thread(() -> {
                try (BufferedReader lines = new BufferedReader(new InputStreamReader(child.getInputStream(), UTF_8))) {
                    for (String line; (line = lines.readLine()) != null; ) {
                        acknowledged.add(line);
                        started.countDown();
                    }
                } catch (IOException killed) {
                    // the pipe breaks when the child dies
                }
            });
            reader.start();
            try {
                assertTrue(started.await(15, TimeUnit.SECONDS), "child wrote nothing");
                Thread.sleep(ThreadLocalRandom.current().nextInt(400)); // die at some arbitrary point of a put
            } finally {
                child.destroyForcibly(); // SIGKILL: no shutdown hooks, no finally blocks in the child
                assertTrue(child.waitFor(10, TimeUnit.SECONDS));
                reader.join(10_000);
            }

            try (FileSystemObjectStore survivor = new FileSystemObjectStore(root)) {
                List<ObjectInfo> found = survivor.list("");
                List<String> foundKeys = keys(found);
                for (String key : acknowledged) {
                    assertTrue(foundKeys.contains(key), "acknowledged " + key + " is missing after the kill");
                }
                for (ObjectInfo info : found) {
                    assertTrue(info.size() >= 8, info.key() + " is torn: " + info.size() + " bytes");
                    ByteBuffer actual = survivor.readAll(info.key());
                    long generation = actual.getLong(0);
                    ByteBuffer expected = CrashingWriter.fill(ByteBuffer.allocate(CrashingWriter.maxSize()), info.key(), generation);
                    assertEquals(expected, actual, info.key() + " of generation " + generation + " is torn");
                }
                survivor.deleteStaleTemporaries(Duration.ZERO);
                assertEquals(List.of(), temporaries(root));
                assertEquals(foundKeys, keys(survivor.list("")));
            }
        }
    }

    private static List<Path> temporaries(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            List<Path> found = new ArrayList<>();
            files.filter(KeyPaths::isTemporary).forEach(found::add);
            return found;
        }
    }

    private static String codeSource(Class<?> type) throws Exception {
        return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
