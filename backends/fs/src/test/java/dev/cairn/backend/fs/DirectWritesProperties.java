package dev.cairn.backend.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
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
import net.jqwik.api.Example;
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
            int limit = data.limit();
            store.put("a/object", data);
            assertEquals(position, data.position(), "the caller's buffer is left as it was");
            assertEquals(limit, data.limit());
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

    /**
     * A direct write the file refuses (here: aligned to half the block the file system asks for, which the JDK's own
     * check refuses, or refused at the open where the file system takes no O_DIRECT at all) is made again buffered,
     * and direct writes stop for the store: nothing fails, nothing is left behind.
     */
    @Property(tries = 3)
    void aRefusedDirectWriteIsMadeAgainBufferedAndDirectWritesStop(@ForAll long seed) throws IOException {
        Path root = temp.resolve("s" + STORES.incrementAndGet());
        Files.createDirectories(root);
        int half = (int) Files.getFileStore(root).getBlockSize() / 2;
        int length = DirectWrites.MIN_BYTES + half + 100; // whole blocks of half, not of the file system's block
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        AtomicInteger probes = new AtomicInteger();
        try (FileSystemObjectStore store = new FileSystemObjectStore(root, true, r -> {
            probes.incrementAndGet();
            return half;
        })) {
            store.put("x", ByteBuffer.wrap(bytes));
            assertFalse(store.writesDirect(), "refused once: buffered from now on");
            store.put("y", ByteBuffer.wrap(bytes));
            assertEquals(1, probes.get());
            assertArrayEquals(bytes, readAll(store, "x", length));
            assertArrayEquals(bytes, readAll(store, "y", length));
            try (Stream<Path> files = Files.walk(root)) {
                assertFalse(files.anyMatch(KeyPaths::isTemporary), "no temporary file is left behind");
            }
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

    /**
     * The write itself, on any file system: through a channel that checks what {@code O_DIRECT} requires of every
     * write (source address, file offset and length all multiples of the block), for every block size the store
     * accepts. Whole blocks of a direct source that starts on a block go in one write straight from it; the file holds
     * the object's bytes exactly.
     */
    @Property(tries = 60)
    void everyWriteIsAlignedAsODirectRequiresAndTheFileHoldsTheObject(@ForAll("lengths") int length, @ForAll Source source,
            @ForAll("blocks") int block, @ForAll long seed) throws IOException {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        ByteBuffer data = place(bytes, source);
        Path file = temp.resolve("w" + STORES.incrementAndGet());
        try (AlignmentChecking channel = AlignmentChecking.create(file, block)) {
            DirectWrites.write(channel, data, block);
            int body = length & -block;
            boolean straight = source != Source.HEAP && data.alignmentOffset(data.position(), block) == 0;
            if (straight && body > 0) {
                assertEquals(body, channel.firstWrite, "the whole blocks go in one write from the caller's buffer");
            }
            int bodyWrites = body == 0 ? 0 : straight ? 1 : (body + DirectWrites.BOUNCE_BYTES - 1) / DirectWrites.BOUNCE_BYTES;
            assertEquals(bodyWrites + (length % block != 0 ? 1 : 0), channel.writes,
                    "the body in one write or one a bounce buffer, and one for the last partial block");
        }
        assertArrayEquals(bytes, Files.readAllBytes(file));
        Files.delete(file);
    }

    /**
     * A write may write less than asked. Short by whole blocks, the next write goes on from there and the file holds
     * the object; short by part of a block (a full disk, a FUSE server), the write fails as what it is, not as the file
     * system refusing direct writes (which would turn them off for the store's lifetime).
     */
    @Property(tries = 20)
    void aShortWriteGoesOnWhenWholeBlocksWentAndFailsPlainlyOtherwise(@ForAll("blocks") int block, @ForAll boolean aligned,
            @ForAll Source source, @ForAll long seed) throws IOException {
        int length = 3 * DirectWrites.BOUNCE_BYTES + block / 2;
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        ByteBuffer data = place(bytes, source);
        Path file = temp.resolve("s" + STORES.incrementAndGet());
        try (AlignmentChecking channel = AlignmentChecking.create(file, block)) {
            channel.shortOnce = aligned ? block : block + block / 2;
            if (aligned) {
                DirectWrites.write(channel, data, block);
            } else {
                IOException e = assertThrows(IOException.class, () -> DirectWrites.write(channel, data, block));
                assertTrue(e.getMessage().contains("stopped short"), e.getMessage());
                assertFalse(DirectWrites.refusesDirect(e), e.getMessage());
            }
        }
        if (aligned) {
            assertArrayEquals(bytes, Files.readAllBytes(file));
        }
        Files.delete(file);
    }

    /**
     * A source that is a memory map of a file truncated under it faults when the bounce buffer copies it. HotSpot
     * throws that fault later, asynchronously; unanswered, the bounce buffer's stale bytes (the previous object's)
     * were written in its place. The copy's fault fails the write, every time, in compiled code too.
     */
    @Example
    void aSourceWhoseMapFaultsFailsTheWriteInsteadOfWritingStaleBytes() throws IOException {
        int length = 3 * DirectWrites.BOUNCE_BYTES / 2;
        byte[] bytes = new byte[length + 1];
        new Random(5).nextBytes(bytes);
        for (int round = 0; round < 200; round++) {
            ByteBuffer good = ByteBuffer.allocateDirect(length);
            Path earlier = temp.resolve("g" + STORES.incrementAndGet());
            try (FileChannel real = FileChannel.open(earlier, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                DirectWrites.write(real, good, 4096); // leaves this thread's bounce buffer holding zeros
            }
            Files.delete(earlier);
            ByteBuffer source = truncatedMap(bytes).position(1).slice(); // unaligned: through the bounce buffer
            Path file = temp.resolve("w" + STORES.incrementAndGet());
            try (AlignmentChecking channel = AlignmentChecking.create(file, 4096)) {
                IOException e = assertThrows(IOException.class, () -> DirectWrites.write(channel, source, 4096),
                        "round " + round);
                assertTrue(e.getMessage().contains("faulted") && e.getMessage().contains("truncated"), e.getMessage());
            }
            Files.delete(file);
        }
    }

    /**
     * Through the store, direct or buffered, aligned or not: a put from a truncated map fails with an IOException,
     * leaves no object and no temporary file, and the store goes on writing.
     */
    @Example
    void aPutFromATruncatedMapFailsAndLeavesNothing() throws IOException {
        int length = DirectWrites.MIN_BYTES * 3 + 123;
        byte[] bytes = new byte[length + 1];
        new Random(6).nextBytes(bytes);
        for (boolean direct : new boolean[] {true, false}) {
            Path root = temp.resolve("s" + STORES.incrementAndGet());
            try (FileSystemObjectStore store = new FileSystemObjectStore(root, direct)) {
                for (int round = 0; round < 100; round++) {
                    ByteBuffer source = round % 2 == 0 ? truncatedMap(bytes) : truncatedMap(bytes).position(1).slice();
                    assertThrows(IOException.class, () -> store.put("x", source), "round " + round + ", direct " + direct);
                    assertThrows(java.nio.file.NoSuchFileException.class, () -> store.stat("x"));
                    store.put("y", ByteBuffer.wrap(bytes));
                    assertArrayEquals(bytes, readAll(store, "y", bytes.length));
                }
                try (Stream<Path> files = Files.walk(root)) {
                    assertFalse(files.anyMatch(KeyPaths::isTemporary), "no temporary file is left behind");
                }
            }
        }
    }

    /** A read-only map of a file holding {@code bytes}, the file then truncated to 100 bytes under it. */
    private static ByteBuffer truncatedMap(byte[] bytes) throws IOException {
        Path file = temp.resolve("m" + STORES.incrementAndGet());
        Files.write(file, bytes);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer map = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes.length);
            ch.truncate(100);
            return map;
        } finally {
            Files.delete(file);
        }
    }

    /** Probes that keep failing for a reason that is not a refusal stop after a few: every write is then buffered. */
    @Example
    void probesThatDecideNothingStopAfterAFew() throws IOException {
        AtomicInteger probes = new AtomicInteger();
        Path root = temp.resolve("s" + STORES.incrementAndGet());
        byte[] bytes = new byte[DirectWrites.MIN_BYTES + 1];
        try (FileSystemObjectStore store = new FileSystemObjectStore(root, true, r -> {
            probes.incrementAndGet();
            return 0;
        })) {
            for (int i = 0; i < 2 * DirectWrites.INCONCLUSIVE_PROBES; i++) {
                store.put("x" + i, ByteBuffer.wrap(bytes));
                assertArrayEquals(bytes, readAll(store, "x" + i, bytes.length));
            }
            assertEquals(DirectWrites.INCONCLUSIVE_PROBES, probes.get());
            assertFalse(store.writesDirect());
        }
    }

    @Provide
    Arbitrary<Integer> blocks() {
        return Arbitraries.of(512, 1024, 4096, 8192, DirectWrites.MAX_BLOCK);
    }

    /** A file channel that fails any write O_DIRECT would refuse, and counts them. */
    static final class AlignmentChecking extends FileChannel {
        private final FileChannel real;
        private final int block;
        int writes;
        int firstWrite = -1;
        /** When positive: the next write that asks for more writes only this many bytes, as a short write does. */
        int shortOnce;

        AlignmentChecking(FileChannel real, int block) {
            this.real = real;
            this.block = block;
        }

        /** Over a new file {@code file}, which it closes with itself. */
        static AlignmentChecking create(Path file, int block) throws IOException {
            return new AlignmentChecking(FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                    StandardOpenOption.WRITE), block);
        }

        @Override
        public int write(ByteBuffer src, long position) throws IOException {
            assertTrue(src.isDirect(), "a direct write needs a direct source");
            assertEquals(0, src.alignmentOffset(src.position(), block), "source address on a block");
            assertEquals(0, position % block, "file offset on a block");
            assertEquals(0, src.remaining() % block, "length a whole number of blocks");
            int n = src.remaining();
            if (firstWrite < 0) {
                firstWrite = n;
            }
            writes++;
            if (shortOnce > 0 && n > shortOnce) {
                ByteBuffer part = src.duplicate().limit(src.position() + shortOnce);
                shortOnce = 0;
                int written = real.write(part, position);
                src.position(src.position() + written);
                return written;
            }
            return real.write(src, position);
        }

        @Override
        public FileChannel truncate(long size) throws IOException {
            real.truncate(size);
            return this;
        }

        @Override
        public int read(ByteBuffer dst) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int write(ByteBuffer src) {
            throw new AssertionError("writes at the channel's position are not used");
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) {
            throw new AssertionError("gathering writes are not used");
        }

        @Override
        public long position() throws IOException {
            return real.position();
        }

        @Override
        public FileChannel position(long newPosition) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long size() throws IOException {
            return real.size();
        }

        @Override
        public void force(boolean metaData) throws IOException {
            real.force(metaData);
        }

        @Override
        public long transferTo(long position, long count, java.nio.channels.WritableByteChannel target) {
            throw new UnsupportedOperationException();
        }

        @Override
        public long transferFrom(java.nio.channels.ReadableByteChannel src, long position, long count) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int read(ByteBuffer dst, long position) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.nio.MappedByteBuffer map(MapMode mode, long position, long size) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.nio.channels.FileLock lock(long position, long size, boolean shared) {
            throw new UnsupportedOperationException();
        }

        @Override
        public java.nio.channels.FileLock tryLock(long position, long size, boolean shared) {
            throw new UnsupportedOperationException();
        }

        @Override
        protected void implCloseChannel() throws IOException {
            real.close();
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
