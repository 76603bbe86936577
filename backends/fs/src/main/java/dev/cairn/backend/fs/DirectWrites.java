package dev.cairn.backend.fs;

import com.sun.nio.file.ExtendedOpenOption;
import dev.cairn.MappedFaults;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes of large objects that bypass the page cache ({@code O_DIRECT}), where the file system takes them.
 *
 * <p>Why: a buffered write copies every byte into the page cache, and on the 2-core machine of bench/RESULTS.md
 * ("Time until durable on disk, again", session of 2026-12-06 23:13 UTC) four I/O threads writing 3.5 MiB chunk files
 * kept the machine busy 0.95-1.34 s for the 851 MiB a 1 GiB checkpoint stores (one thread writing one file of it:
 * 0.26-0.34 s), CPU the encoders then lacked: a 1 GiB save until fsynced, each after the previous one's GC, took
 * 1.58 s buffered against 1.19 s direct (medians of 12, interleaved). A buffered save that no freed page cache preceded
 * was as fast as a direct one there; one right after a GC had freed some was twice as slow. A direct write hands the
 * pages to the device as they are. It also leaves the page cache to training's own data: a checkpoint written every few
 * minutes is rarely read back before the next one replaces it, and a restore reads it from the device either way after
 * a node is lost. The durability protocol does not change: the file is still forced ({@code fsync}, which also flushes
 * the device's write cache and the file's size and blocks) before its name appears.
 *
 * <p>How: a direct write must start at an address, a file offset and a length that are multiples of the file
 * system's block size. The whole blocks of the object go straight from the caller's buffer when it is direct and
 * aligned (the save pipeline's output slabs are), else through a per-thread aligned buffer of {@value #BOUNCE_BYTES}
 * bytes; the last partial block goes through that buffer, padded with zeros, and the file is then truncated to the
 * object's length. Objects under {@value #MIN_BYTES} bytes (marks, most indexes and manifests) are written buffered:
 * a direct write would pad most of their one block.
 *
 * <p>Whether the file system takes direct writes is found at the first large write, by writing one block to a
 * temporary file under the store's root (a name {@link FileSystemObjectStore#deleteStaleTemporaries} removes if a
 * crash leaves it). Where it does not (some network and FUSE file systems, tmpfs before Linux 6.6), or where the block
 * size is not a power of two up to {@value #MAX_BLOCK} (ZFS reports its 128 KiB records: every chunk would be padded
 * and copied), every write is buffered, as it was before. A probe that fails for a passing reason (interrupted, disk
 * full, out of file descriptors) decides nothing: that write is buffered and the next large one probes again, up to
 * {@value #INCONCLUSIVE_PROBES} probes, after which the store stops probing and buffers every write. A real
 * write refused later (a directory on another mount with a larger block, a file system that opens with O_DIRECT but
 * refuses the write) turns direct writes off for the store, once, with a warning, and is made again buffered.
 */
final class DirectWrites {
    /** Objects at least this large are written directly. */
    static final int MIN_BYTES = 256 << 10;
    /** The per-thread aligned buffer for unaligned sources and the last block. */
    static final int BOUNCE_BYTES = 1 << 20;
    /** The largest block direct writes align to. */
    static final int MAX_BLOCK = 16 << 10;
    private static final ThreadLocal<ByteBuffer> BOUNCE = new ThreadLocal<>();
    private static final byte[] ZEROS = new byte[MAX_BLOCK];
    private static final OpenOption[] CREATE_DIRECT = {StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
            ExtendedOpenOption.DIRECT};

    /**
     * Finds the alignment a direct write needs under a root: the block size, -1 where direct writes are refused, 0 where
     * the probe failed for a passing reason and decided nothing.
     */
    interface Probe {
        int blockSize(Path root);
    }

    private final Path root;
    private final Probe probe;
    /** 0: not probed yet, or probed without a decision; -1: writes are buffered; else the block size to align to. */
    private volatile int block;
    /** Probes that decided nothing, under this object's lock; after {@link #INCONCLUSIVE_PROBES} writes are buffered. */
    private int inconclusive;
    /**
     * How many probes may fail for a reason that is not a refusal before the store stops probing: a cause that lasts
     * (a read-only or full file system, a permission) would otherwise cost every large write a probe, each holding
     * this object's lock while the other I/O threads wait.
     */
    static final int INCONCLUSIVE_PROBES = 3;

    /** The probe of a real file system: {@link #probe(Path)}. */
    static final Probe FILE_SYSTEM = DirectWrites::probe;

    /** @param wanted false: every write is buffered, and the file system is never probed */
    DirectWrites(Path root, boolean wanted, Probe probe) {
        this.root = root;
        this.probe = probe;
        this.block = wanted ? 0 : -1;
    }

    /** The block size a write of {@code bytes} bytes aligns to, or -1 if it is to be buffered (probing first). */
    int blockFor(long bytes) {
        if (bytes < MIN_BYTES) {
            return -1;
        }
        int b = block;
        if (b != 0) {
            return b;
        }
        synchronized (this) {
            if (block == 0) {
                block = probe.blockSize(root); // 0 again where it decided nothing: this write is buffered
                if (block == 0 && ++inconclusive >= INCONCLUSIVE_PROBES) {
                    block = -1;
                    System.getLogger(FileSystemObjectStore.class.getName()).log(System.Logger.Level.WARNING,
                            "direct writes under " + root + " could not be probed " + inconclusive
                                    + " times; writing through the page cache from now on");
                }
            }
            return block;
        }
    }

    /** Whether writes go direct: true once a probe found that they can, false before or where they cannot. */
    boolean active() {
        return block > 0;
    }

    /**
     * Whether {@code failure}, from a direct open or write, says that this file system (or this file's) takes no direct
     * writes as made, rather than a passing condition such as a full disk: EINVAL from the kernel, the JDK's alignment
     * checks against the file's own block size, or no O_DIRECT on the platform.
     */
    static boolean refusesDirect(Throwable failure) {
        if (failure instanceof UnsupportedOperationException) {
            return true;
        }
        String message = failure.getMessage();
        return failure instanceof IOException && message != null
                && (message.contains("Invalid argument") || message.contains("block size"));
    }

    /** A real direct write was refused: every later write under the root is buffered. */
    void refused(Throwable failure) {
        synchronized (this) {
            if (block <= 0) {
                return;
            }
            block = -1;
        }
        System.getLogger(FileSystemObjectStore.class.getName()).log(System.Logger.Level.WARNING,
                "direct writes refused under " + root + " (" + failure + "); writing through the page cache from now on");
    }

    /** Creates {@code file} (which must not exist) for direct writes. */
    static FileChannel create(Path file) throws IOException {
        return FileChannel.open(file, CREATE_DIRECT);
    }

    /**
     * Writes {@code data} (from its position to its limit, which stay where they are) to {@code channel}, opened by
     * {@link #create}, from offset 0, and truncates the file to its length.
     */
    static void write(FileChannel channel, ByteBuffer data, int block) throws IOException {
        ByteBuffer source = data.duplicate();
        int length = source.remaining();
        int body = length & -block;
        long position = 0;
        if (source.isDirect() && source.alignmentOffset(source.position(), block) == 0) {
            ByteBuffer whole = source.duplicate().limit(source.position() + body);
            position = writeFully(channel, whole, position, block);
            source.position(source.position() + body);
        } else {
            ByteBuffer bounce = bounce(block);
            while (position < body) {
                int n = (int) Math.min(bounce.capacity(), body - position);
                copy(bounce.clear(), source, n);
                bounce.limit(n);
                source.position(source.position() + n);
                position = writeFully(channel, bounce, position, block);
            }
        }
        int tail = length - body;
        if (tail > 0) {
            ByteBuffer last = bounce(block).clear();
            copy(last, source, tail);
            last.position(tail);
            last.put(ZEROS, 0, block - tail);
            last.flip();
            writeFully(channel, last, position, block);
            channel.truncate(length);
        }
    }

    /**
     * Writes all of {@code buf} at {@code position}; returns the position after it. A write that stops short of a
     * whole number of blocks (a full disk, a file size limit, a FUSE server's short count) fails here with what it
     * is: the next write would start off a block, which the JDK refuses with a message {@link #refusesDirect} would
     * take for the file system refusing direct writes, turning them off for good.
     */
    private static long writeFully(FileChannel channel, ByteBuffer buf, long position, int block) throws IOException {
        long at = position;
        while (buf.hasRemaining()) {
            int n = channel.write(buf, at);
            at += n;
            if (buf.hasRemaining() && (n <= 0 || n % block != 0)) {
                throw new IOException("direct write stopped short: " + n + " bytes written at offset " + (at - n)
                        + ", " + buf.remaining() + " left");
            }
        }
        return at;
    }

    /**
     * Copies {@code n} bytes of {@code source} from its position into {@code bounce} at 0 (neither moves). A direct
     * source may be a memory map whose file was truncated: HotSpot would throw the copy's fault at some later point,
     * after the bounce buffer's stale bytes had been written, forced and named. {@link MappedFaults} makes it surface
     * inside this method, where it fails the write.
     */
    private static void copy(ByteBuffer bounce, ByteBuffer source, int n) throws IOException {
        try {
            bounce.put(0, source, source.position(), n);
            if (source.isDirect()) {
                MappedFaults.deliverPending();
            }
        } catch (InternalError fault) {
            throw new IOException("reading the object's bytes faulted (" + fault.getMessage()
                    + "); is its buffer a memory map of a file that was truncated?", fault);
        }
    }

    /** This thread's aligned buffer of {@link #BOUNCE_BYTES}, made (again) if it is missing or aligned less. */
    private static ByteBuffer bounce(int block) {
        ByteBuffer b = BOUNCE.get();
        if (b == null || b.alignmentOffset(0, block) != 0) {
            b = ByteBuffer.allocateDirect(BOUNCE_BYTES + block).alignedSlice(block).limit(BOUNCE_BYTES).slice();
            BOUNCE.set(b);
        }
        return b;
    }

    /**
     * Writes one block and a byte directly to a temporary file under {@code root}: its block size, -1 where direct writes
     * are refused ({@link #refusesDirect}) or the block size does not suit, 0 on another failure.
     */
    private static int probe(Path root) {
        Path file = root.resolve(KeyPaths.TEMP_PREFIX + "direct-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            long size = Files.getFileStore(root).getBlockSize();
            if (size <= 0 || Long.bitCount(size) != 1 || size > MAX_BLOCK) {
                return -1;
            }
            int block = (int) size;
            try (FileChannel channel = create(file)) {
                write(channel, ByteBuffer.allocate(block + 1), block);
            }
            return block;
        } catch (IOException | RuntimeException e) {
            return refusesDirect(e) ? -1 : 0;
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // a leftover temporary is removed by deleteStaleTemporaries
            }
        }
    }
}
