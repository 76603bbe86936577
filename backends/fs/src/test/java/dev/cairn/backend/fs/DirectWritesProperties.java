package dev.cairn.backend.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Objects written past the page cache ({@link DirectWrites}) read back as written, whatever their length and however
 * their bytes lie in memory: lengths at and around the direct threshold and the block boundaries, from heap buffers,
 * direct buffers that start on a block and direct buffers that do not.
 */
class DirectWritesProperties {
    private static Path temp;
    private static final AtomicInteger STORES = new AtomicInteger();

    @BeforeContainer
    static void makeTemp() throws IOException {
        temp = Files.createTempDirectory("cairn-direct-writes");
    }

    @AfterContainer
    static void removeTemp() throws IOException {
        try (Stream<Path> s = Files.walk(temp)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    @Provide
    Arbitrary<Integer> lengths() {
        int min = DirectWrites.MIN_BYTES;
        return Arbitraries.oneOf(
                Arbitraries.of(0, 1, 4095, 4096, 4097, min - 1, min, min + 1, min + 4095, min + 4096, min + 4097,
                        DirectWrites.BOUNCE_BYTES, DirectWrites.BOUNCE_BYTES + 1, 3 * DirectWrites.BOUNCE_BYTES + 12345),
                Arbitraries.integers().between(min, 4 * DirectWrites.BOUNCE_BYTES),
                Arbitraries.integers().between(min / 4096, min / 4096 + 64).map(blocks -> blocks * 4096 + 1));
    }

    enum Source { HEAP, DIRECT_ALIGNED, DIRECT_UNALIGNED }

    @Property(tries = 60)
    void everyObjectReadsBackWhole(@ForAll("lengths") int length, @ForAll Source source, @ForAll long seed)
            throws IOException {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        ByteBuffer data = place(bytes, source);
        Statistics.collect(length >= DirectWrites.MIN_BYTES ? "direct-sized" : "buffered-sized", source);
        try (FileSystemObjectStore store = new FileSystemObjectStore(temp.resolve("s" + STORES.incrementAndGet()))) {
            int position = data.position();
            store.put("a/object", data);
            assertEquals(position, data.position(), "the caller's buffer is left as it was");
            assertEquals(length, store.stat("a/object").size());
            assertEquals(length, Files.size(store.root().resolve("a/object")));
            assertArrayEquals(bytes, readAll(store, "a/object", length));
            store.putIfAbsentSyncingNameLater("b/object", data);
            assertArrayEquals(bytes, readAll(store, "b/object", length));
            if (length >= DirectWrites.MIN_BYTES && directWritesWorkUnder(temp)) {
                assertTrue(store.writesDirect(), "this file system takes direct writes, so the store must use them");
            }
            try (Stream<Path> files = Files.walk(store.root())) {
                assertFalse(files.anyMatch(KeyPaths::isTemporary), "no temporary file is left behind");
            }
        }
    }

    @Property(tries = 10)
    void aFileSystemWithoutDirectWritesGetsBufferedOnesAndIsProbedOnce(@ForAll("lengths") int length, @ForAll long seed)
            throws IOException {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        AtomicInteger probes = new AtomicInteger();
        Path root = temp.resolve("s" + STORES.incrementAndGet());
        try (FileSystemObjectStore store = new FileSystemObjectStore(root, true, r -> {
            probes.incrementAndGet();
            return -1;
        })) {
            store.put("x", ByteBuffer.wrap(bytes));
            store.put("y", ByteBuffer.wrap(bytes));
            assertFalse(store.writesDirect());
            assertEquals(length >= DirectWrites.MIN_BYTES ? 1 : 0, probes.get(), "probed at the first large write only");
            assertArrayEquals(bytes, readAll(store, "x", length));
            assertArrayEquals(bytes, readAll(store, "y", length));
        }
    }

    @Property(tries = 5)
    void aStoreAskedForBufferedWritesNeverProbes(@ForAll("lengths") int length) throws IOException {
        Path root = temp.resolve("s" + STORES.incrementAndGet());
        try (FileSystemObjectStore store = new FileSystemObjectStore(root, false, r -> fail("probed"))) {
            store.put("x", ByteBuffer.allocateDirect(length));
            assertFalse(store.writesDirect());
            assertEquals(length, store.stat("x").size());
        }
    }

    /** Whether this test's file system takes an {@code O_DIRECT} write, found without the code under test. */
    static boolean directWritesWorkUnder(Path dir) {
        Path file = dir.resolve("direct-check-" + System.nanoTime());
        try {
            int block = (int) Files.getFileStore(dir).getBlockSize();
            ByteBuffer one = ByteBuffer.allocateDirect(2 * block).alignedSlice(block).limit(block);
            try (FileChannel c = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    ExtendedOpenOption.DIRECT)) {
                c.write(one);
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static ByteBuffer place(byte[] bytes, Source source) {
        switch (source) {
            case HEAP:
                return ByteBuffer.wrap(bytes);
            case DIRECT_ALIGNED: {
                ByteBuffer b = ByteBuffer.allocateDirect(bytes.length + 8192).alignedSlice(4096);
                b.put(bytes).flip();
                return b;
            }
            default: {
                ByteBuffer b = ByteBuffer.allocateDirect(bytes.length + 8192).alignedSlice(4096);
                b.position(17);
                b.put(bytes);
                return b.flip().position(17);
            }
        }
    }

    private static byte[] readAll(FileSystemObjectStore store, String key, int length) throws IOException {
        ByteBuffer dst = ByteBuffer.allocate(length);
        int n = store.read(key, 0, dst);
        assertEquals(length, n);
        return dst.array();
    }
}
