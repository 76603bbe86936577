package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.ObjectStore;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.arrow.memory.RootAllocator;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** States with known bytes, and the comparison every round-trip test needs. */
final class Fixtures {
    private Fixtures() {
    }

    static CairnConfig.Builder smallConfig(String run) {
        return CairnConfig.builder(run).chunkBytes(64 << 10).stagingBytes(16L << 20).encoderThreads(2)
                .gcGrace(Duration.ZERO).deadline(Duration.ofSeconds(30));
    }

    /** A tensor of {@code bytes} pseudo-random bytes from {@code seed}, in a direct buffer. */
    static Tensor randomTensor(String name, DType dtype, long elements, long seed) {
        Tensor t = Tensor.allocate(name, dtype, elements);
        fill(t, seed);
        return t;
    }

    static void fill(Entry e, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (ByteBuffer b : e.buffers()) {
            while (b.remaining() >= 8) {
                b.putLong(r.nextLong());
            }
            while (b.hasRemaining()) {
                b.put((byte) r.nextInt());
            }
        }
    }

    /** Asserts both states hold the same entries, in order, with the same kind, dtype, shape and bytes. */
    static void assertSameState(TrainingState expected, TrainingState actual) {
        List<Entry> a = expected.entries();
        List<Entry> b = actual.entries();
        assertEquals(a.size(), b.size(), "entry count");
        for (int i = 0; i < a.size(); i++) {
            Entry x = a.get(i);
            Entry y = b.get(i);
            assertEquals(x.name(), y.name());
            assertEquals(x.getClass(), y.getClass(), x.name());
            if (x instanceof Tensor tx) {
                Tensor ty = (Tensor) y;
                assertEquals(tx.dtype(), ty.dtype(), x.name());
                assertEquals(java.util.Arrays.toString(tx.shape()), java.util.Arrays.toString(ty.shape()), x.name());
            }
            assertEquals(x.byteSize(), y.byteSize(), x.name());
            assertEquals(0, compare(x, y), "bytes of " + x.name());
        }
    }

    private static int compare(Entry x, Entry y) {
        ByteBuffer a = concat(x);
        ByteBuffer b = concat(y);
        return a.compareTo(b);
    }

    static ByteBuffer concat(Entry e) {
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(e.byteSize()));
        for (ByteBuffer b : e.buffers()) {
            out.put(b);
        }
        return out.flip();
    }

    /**
     * {@code bytes} of text drawn from a vocabulary of 300 random words: repeats that a strong zstd level finds and a
     * fast one partly misses, so two levels store it at different lengths.
     */
    static byte[] wordText(int bytes, long seed) {
        byte[] text = new byte[bytes];
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        String[] words = new String[300];
        for (int w = 0; w < words.length; w++) {
            StringBuilder b = new StringBuilder();
            for (int c = 0, n = 3 + r.nextInt(10); c < n; c++) {
                b.append((char) ('a' + r.nextInt(26)));
            }
            words[w] = b.append(' ').toString();
        }
        for (int i = 0; i < text.length; ) {
            for (char ch : words[r.nextInt(words.length)].toCharArray()) {
                if (i < text.length) {
                    text[i++] = (byte) ch;
                }
            }
        }
        return text;
    }

    /**
     * Waits until {@code store} holds {@code key}: a save's index, say, that the test needs written before it ends the
     * save. Polls every 10 ms; the 60 s only bounds a hang.
     */
    static void awaitKey(dev.cairn.ObjectStore store, String key) throws InterruptedException {
        long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                store.stat(key);
                return;
            } catch (java.io.IOException notYet) {
                if (System.nanoTime() - until > 0) {
                    throw new AssertionError("not within 60 s: " + key, notYet);
                }
                Thread.sleep(10);
            }
        }
    }

    /**
     * Closes {@code cp} without waiting for its saves in flight: a close whose thread is interrupted while it waits for
     * them fails them with CLOSED at once (CallsAfterCloseTest) and still waits for its threads to stop, so the store
     * holds what the failed saves left once this returns. A test whose save must fail, after its objects are written,
     * ends it here instead of waiting out a deadline short enough to end the test, which a busy machine could also
     * reach before those writes.
     */
    static void closeWithoutWaiting(dev.cairn.Checkpointer cp) {
        Thread.currentThread().interrupt();
        try {
            cp.close();
        } finally {
            Thread.interrupted(); // close keeps the interrupt for its caller; the test goes on
        }
    }

    /** The MANIFEST of step {@code step} of {@code layout}'s run, as {@code store} holds it. */
    static Manifest manifest(ObjectStore store, StoreLayout layout, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
        }
    }

    /** The chunks of entry {@code entry} of step {@code step}, as its MANIFEST in {@code store} records them. */
    static List<ChunkRef> chunksOf(ObjectStore store, StoreLayout layout, long step, String entry) throws Exception {
        for (EntryRecord e : manifest(store, layout, step).entries()) {
            if (e.name().equals(entry)) {
                return List.copyOf(e.chunks());
            }
        }
        throw new AssertionError("no entry " + entry + " in step " + step);
    }

    /** {@code bytes} of fp32 weights of N(0, 0.02), as a model's are, in a direct little-endian buffer. */
    static ByteBuffer modelWeights(int bytes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ByteBuffer b = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < b.capacity(); i += 4) {
            double g = Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble());
            b.putFloat(i, (float) (g * 0.02));
        }
        return b;
    }
}
