package dev.cairn.bench;

import com.github.luben.zstd.Zstd;
import com.github.luben.zstd.ZstdDecompressCtx;
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

    /** Writes every buffer, in order, to one new file, forces it (data and metadata) and closes it. */
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
     * Reads each file whole into a direct buffer and decodes it as one zstd frame into {@code slots.get(i)}, on
     * {@code threads} threads (file i on thread i modulo threads). Fails if a frame does not fill its slot exactly.
     */
    static long readAndDecode(List<Path> files, List<ByteBuffer> slots, int threads, ExecutorService pool)
            throws IOException {
        if (files.size() != slots.size()) {
            throw new IllegalStateException(files.size() + " chunk files for " + slots.size() + " slots");
        }
        int readBytes = (int) Zstd.compressBound(slots.get(0).capacity());
        long start = System.nanoTime();
        if (threads == 1) {
            try {
                decodeShare(files, slots, 0, 1, readBytes);
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        } else {
            List<Future<?>> parts = new ArrayList<>();
            for (int k = 0; k < threads; k++) {
                int share = k;
                parts.add(pool.submit(() -> {
                    decodeShare(files, slots, share, threads, readBytes);
                    return null;
                }));
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

    private static void decodeShare(List<Path> files, List<ByteBuffer> slots, int k, int n, int readBytes) {
        ByteBuffer read = ByteBuffer.allocateDirect(readBytes);
        try (ZstdDecompressCtx zstd = new ZstdDecompressCtx()) {
            for (int i = k; i < files.size(); i += n) {
                read.clear();
                try (FileChannel ch = FileChannel.open(files.get(i), StandardOpenOption.READ)) {
                    while (ch.read(read) > 0) {
                        // until end of file (or a full buffer, which the frame check below then reports)
                    }
                }
                ByteBuffer slot = slots.get(i);
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
