package dev.cairn.backend.fs;

import com.sun.nio.file.ExtendedOpenOption;
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
 * ("Time until durable", 2026-12-07) that copy cost 0.5-1.2 s of CPU per GiB when four I/O threads wrote 3.5 MiB
 * chunk files (0.3 s for one thread writing one file), CPU the encoders then lacked: a 1 GiB save until fsynced took
 * 1.24-1.72 s buffered against 0.97-1.34 s direct in the same minutes. A direct write hands the pages to the device
 * as they are. It also leaves the page cache to training's own data: a checkpoint written every few minutes is rarely
 * read back before the next one replaces it, and a restore reads it from the device either way after a node is lost.
 * The durability protocol does not change: the file is still forced ({@code fsync}, which also flushes the device's
 * write cache and the file's size and blocks) before its name appears.
 *
 * <p>How: a direct write must start at an address, a file offset and a length that are multiples of the file
 * system's block size. The whole blocks of the object go straight from the caller's buffer when it is direct and
 * aligned (the save pipeline's output slabs are), else through a per-thread aligned buffer of {@value #BOUNCE_BYTES}
 * bytes; the last partial block goes through that buffer, padded with zeros, and the file is then truncated to the
 * object's length. Objects under {@value #MIN_BYTES} bytes (indexes, manifests, marks) are written buffered: a direct
 * write would pad most of their one block.
 *
 * <p>Whether the file system takes direct writes is found once, at the first large write, by writing one block to a
 * temporary file under the store's root (a name {@link FileSystemObjectStore#deleteStaleTemporaries} removes if a
 * crash leaves it). Where it does not (some network and FUSE file systems), or where the block size is not a power of
 * two up to {@value #BOUNCE_BYTES}, every write is buffered, as it was before.
 */
final class DirectWrites {
    /** Objects at least this large are written directly. */
    static final int MIN_BYTES = 256 << 10;
    /** The per-thread aligned buffer for unaligned sources and the last block. */
    static final int BOUNCE_BYTES = 1 << 20;
    private static final ThreadLocal<ByteBuffer> BOUNCE = new ThreadLocal<>();
    private static final OpenOption[] CREATE_DIRECT = {StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
            ExtendedOpenOption.DIRECT};

    /** Finds the alignment a direct write needs under a root: the block size, or -1 where direct writes fail. */
    interface Probe {
        int blockSize(Path root);
    }

    private final Path root;
    private final Probe probe;
    /** 0: not probed yet; -1: writes are buffered; else the block size direct writes align to. */
    private volatile int block;

    /** @param wanted false: every write is buffered, and the file system is never probed */
    DirectWrites(Path root, boolean wanted) {
        this(root, wanted, DirectWrites::probe);
    }

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
                block = probe.blockSize(root);
            }
            return block;
        }
    }

    /** Whether writes go direct: true once a probe found that they can, false before or where they cannot. */
    boolean active() {
        return block > 0;
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
            while (whole.hasRemaining()) {
                position += channel.write(whole, position);
            }
            source.position(source.position() + body);
        } else {
            ByteBuffer bounce = bounce(block);
            while (position < body) {
                int n = (int) Math.min(bounce.capacity(), body - position);
                bounce.clear();
                bounce.put(source.slice(source.position(), n));
                source.position(source.position() + n);
                bounce.flip();
                while (bounce.hasRemaining()) {
                    position += channel.write(bounce, position);
                }
            }
        }
        int tail = length - body;
        if (tail > 0) {
            ByteBuffer last = bounce(block).clear();
            last.put(source);
            while (last.position() < block) {
                last.put((byte) 0);
            }
            last.flip();
            while (last.hasRemaining()) {
                position += channel.write(last, position);
            }
            channel.truncate(length);
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

    /** Writes one block directly to a temporary file under {@code root}; its block size, or -1 on any failure. */
    private static int probe(Path root) {
        Path file = root.resolve(KeyPaths.TEMP_PREFIX + "direct-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            long size = Files.getFileStore(root).getBlockSize();
            if (size <= 0 || Long.bitCount(size) != 1 || size > BOUNCE_BYTES) {
                return -1;
            }
            int block = (int) size;
            try (FileChannel channel = create(file)) {
                write(channel, ByteBuffer.allocate(block + 1), block);
            }
            return block;
        } catch (IOException | RuntimeException unsupported) {
            return -1; // EINVAL from open or write, an unknown block size, no DIRECT on this platform
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // a leftover temporary is removed by deleteStaleTemporaries
            }
        }
    }
}
