package dev.cairn.bench;

import com.github.luben.zstd.ZstdDecompressCtx;
import dev.cairn.tiers.Kernels;
import dev.cairn.tiers.Kernels.ChunkCodec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * The machine's own limit for each thing the engine does, done the plainest way the JDK allows on the same bytes.
 * Each method returns the nanoseconds it took.
 */
final class Baselines {
    private Baselines() {
    }

    /** One copy of every source buffer into the preallocated (and already touched) destination of the same size. */
    static long copy(List<ByteBuffer> src, List<ByteBuffer> dst) {
        long start = System.nanoTime();
        for (int i = 0; i < src.size(); i++) {
            dst.get(i).clear().put(src.get(i).duplicate().clear());
        }
        return System.nanoTime() - start;
    }

    /**
     * Writes every buffer, in order, to one new file, forces it (data and metadata) and closes it: what a plain writer
     * does (safetensors' {@code save_file} then {@code os.fsync}: one write per tensor, one fsync). Writes of 8 or 64 MiB
     * slices, or from a heap array, were no faster here (bench/RESULTS.md, 2026-12-06). Take it with the file system
     * {@link #settle settled}: right after the engine's GC deleted a checkpoint's chunk files, this fsync also waited
     * for those deletions and took 2-5x as long.
     */
    static long writeAndForce(List<ByteBuffer> src, Path file) throws IOException {
        long start = System.nanoTime();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (ByteBuffer b : src) {
                ByteBuffer d = b.duplicate().clear();
                while (d.hasRemaining()) {
                    ch.write(d);
                }
            }
            ch.force(true);
        }
        return System.nanoTime() - start;
    }

    /**
     * Forces the directory {@code dir}: on ext4 one journal commit, which finishes the deletions still pending in the
     * file system (the chunk files of a checkpoint that GC retired, the previous write's file) and, where it is
     * mounted with {@code discard}, the trims of their blocks. Called before each timed write or save, so that neither
     * pays inside its own fsync for what the other deleted. Returns the nanoseconds it took.
     */
    static long settle(Path dir) throws IOException {
        long start = System.nanoTime();
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        }
        return System.nanoTime() - start;
    }

    /** How a stored chunk file is decoded in {@link #readAndDecode}. */
    enum Decode {
        /** Its zstd frames only, as the {@code zstd} tool would: the float planes stay split. */
        ZSTD_FRAMES,
        /** The whole stored format ({@code ChunkCodec.decode}: the frames, then the float planes joined back). */
        FORMAT
    }

    /**
     * Reads each file whole into a direct buffer and decodes it ({@code how}) into {@code slots.get(i)}, on
     * {@code threads} threads (file i on thread i modulo threads). Fails if a file does not decode to its slot exactly.
     */
    static long readAndDecode(List<Path> files, List<ByteBuffer> slots, int threads, ExecutorService pool, Decode how)
            throws IOException {
        if (files.size() != slots.size()) {
            throw new IllegalStateException(files.size() + " chunk files for " + slots.size() + " slots");
        }
        int readBytes = Kernels.maxEncodedBytes(slots.get(0).capacity());
        return onThreads(threads, pool, share -> decodeShare(files, slots, share, threads, readBytes, how));
    }

    /**
     * Reads and fully decodes each file into its slot on this thread, then hashes the slot at once (XXH3-128, while
     * the chunk is still in cache), as a verified restore does; returns the total time and puts the time spent
     * hashing into {@code hashNanos[0]}.
     */
    static long readDecodeAndHash(List<Path> files, List<ByteBuffer> slots, long[] hashNanos) throws IOException {
        ByteBuffer read = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(slots.get(0).capacity()));
        Kernels.Hasher hasher = Kernels.Hash.current().hasher();
        long hashing = 0;
        long start = System.nanoTime();
        try (ChunkCodec codec = new ChunkCodec(1)) {
            for (int i = 0; i < files.size(); i++) {
                read.clear();
                try (FileChannel ch = FileChannel.open(files.get(i), StandardOpenOption.READ)) {
                    while (ch.read(read) > 0) {
                        // whole file
                    }
                }
                ByteBuffer slot = slots.get(i);
                codec.decode(read, 0, read.position(), slot, 0, slot.capacity());
                long h0 = System.nanoTime();
                hasher.hex(slot, 0, slot.capacity());
                hashing += System.nanoTime() - h0;
            }
        }
        hashNanos[0] = hashing;
        return System.nanoTime() - start;
    }

    /** XXH3-128 (the content hash of new checkpoints) of every slot, on {@code threads} threads: what verifying costs. */
    static long hash(List<ByteBuffer> slots, int threads, ExecutorService pool) throws IOException {
        return onThreads(threads, pool, share -> {
            Kernels.Hasher hasher = Kernels.Hash.current().hasher();
            for (int i = share; i < slots.size(); i += threads) {
                hasher.hex(slots.get(i), 0, slots.get(i).capacity());
            }
        });
    }

    /** Runs {@code share} for 0..threads-1, on this thread alone when {@code threads} is 1; returns the time taken. */
    private static long onThreads(int threads, ExecutorService pool, java.util.function.IntConsumer share) throws IOException {
        long start = System.nanoTime();
        if (threads == 1) {
            try {
                share.accept(0);
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        } else {
            List<Future<?>> parts = new ArrayList<>();
            for (int k = 0; k < threads; k++) {
                int mine = k;
                parts.add(pool.submit(() -> share.accept(mine)));
            }
            for (Future<?> f : parts) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    throw cause instanceof UncheckedIOException u ? u.getCause() : new IOException(cause);
                }
            }
        }
        return System.nanoTime() - start;
    }

    private static void decodeShare(List<Path> files, List<ByteBuffer> slots, int k, int n, int readBytes, Decode how) {
        ByteBuffer read = ByteBuffer.allocateDirect(readBytes);
        try (ZstdDecompressCtx zstd = new ZstdDecompressCtx(); ChunkCodec codec = new ChunkCodec(1)) {
            for (int i = k; i < files.size(); i += n) {
                read.clear();
                try (FileChannel ch = FileChannel.open(files.get(i), StandardOpenOption.READ)) {
                    while (ch.read(read) > 0) {
                        // until end of file (or a full buffer, which the frame check below then reports)
                    }
                }
                ByteBuffer slot = slots.get(i);
                if (how == Decode.FORMAT) {
                    codec.decode(read, 0, read.position(), slot, 0, slot.capacity());
                    continue;
                }
                // The stored form's header, if any, is a zstd skippable frame: the zstd tool's decode skips it too.
                int n2 = zstd.decompressDirectByteBuffer(slot, 0, slot.capacity(), read, 0, read.position());
                if (n2 != slot.capacity()) {
                    throw new IOException(files.get(i) + " decodes to " + n2 + " bytes, expected " + slot.capacity());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code buffers} cut into consecutive slices of {@code chunkBytes} (each buffer is a whole number of them). */
    static List<ByteBuffer> slots(List<ByteBuffer> buffers, int chunkBytes) {
        List<ByteBuffer> out = new ArrayList<>();
        for (ByteBuffer b : buffers) {
            for (int off = 0; off < b.capacity(); off += chunkBytes) {
                out.add(b.duplicate().clear().position(off).limit(off + chunkBytes).slice());
            }
        }
        return out;
    }
}
