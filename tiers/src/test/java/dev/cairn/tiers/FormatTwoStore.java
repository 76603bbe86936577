package dev.cairn.tiers;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * A store written by format 2 (MurmurHash3 content keys), kept under {@code src/test/resources/store-v2/}: run
 * {@value #RUN}, steps 1 to 3 of {@link #state(long)} saved to one memory tier with differential chunks (steps 2
 * and 3 change a few values of {@code w}, so its chunks there are XOR deltas against step 1's and step 2's).
 * {@link #write(Path)} made it with the engine of commit fde7938, the last to write format 2 (run from a one-off
 * JUnit test given the target folder, in commit 4459442); run today it would write format 3, so it stays only as the
 * record of how the fixture was made. The files are the store's objects, one file per key
 * ({@code <run>/chunks/<2 hex>/<hash>}, {@code <run>/steps/<step>/MANIFEST}, ...).
 */
final class FormatTwoStore {
    static final String RUN = "v2run";
    static final int CHUNK = 8 << 10;
    static final long STEPS = 3;
    private static final String RESOURCE = "/store-v2/";
    private static final String LISTING = "/store-v2/FILES";

    private FormatTwoStore() {
    }

    /** The state saved at {@code step} (1 to 3), rebuilt bit for bit from its seeds. */
    static TrainingState state(long step) {
        float[] w = values(6000, 11);
        for (long s = 2; s <= step; s++) {
            SplittableRandom r = new SplittableRandom(100 + s);
            for (int c = 0; c < 30; c++) {
                int i = r.nextInt(w.length);
                w[i] += (float) ((r.nextDouble() - 0.5) * 1e-3);
            }
        }
        ByteBuffer wb = ByteBuffer.allocateDirect(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        wb.asFloatBuffer().put(w);
        Tensor emb = Tensor.allocate("emb", DType.BF16, 64, 48);
        Fixtures.fill(emb, step < 3 ? 21 : 22);
        byte[] rng = new byte[40];
        new SplittableRandom(30 + step).nextBytes(rng);
        return TrainingState.builder()
                .add(Tensor.of("w", DType.F32, new long[] {w.length}, wb))
                .add(emb)
                .add(Tensor.allocate("empty", DType.F32, 0))
                .add(Blob.of("rng", rng))
                .build();
    }

    private static float[] values(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((r.nextDouble() - 0.5) * 0.04);
        }
        return v;
    }

    static CairnConfig.Builder config() {
        return CairnConfig.builder(RUN).chunkBytes(CHUNK).encoderThreads(1)
                .stagingBytes(CairnConfig.minimumStagingBytes(CHUNK, 1)).gcGrace(Duration.ZERO)
                .deadline(Duration.ofSeconds(30));
    }

    /** Loads the fixture's objects into {@code store}. */
    static void load(ObjectStore store) throws IOException {
        load(store, RESOURCE, LISTING);
    }

    /** Loads the objects of a store fixture on the test class path (under {@code resource}, listed in {@code listing}). */
    static void load(ObjectStore store, String resource, String listing) throws IOException {
        for (String key : keys(listing)) {
            try (InputStream in = FormatTwoStore.class.getResourceAsStream(resource + key)) {
                store.put(key, ByteBuffer.wrap(in.readAllBytes()));
            }
        }
    }

    /** The keys of the fixture's objects. */
    static List<String> keys() throws IOException {
        return keys(LISTING);
    }

    /** The keys a store fixture's {@code listing} names. */
    static List<String> keys(String listing) throws IOException {
        try (InputStream in = FormatTwoStore.class.getResourceAsStream(listing)) {
            if (in == null) {
                throw new IOException("no " + listing + " on the test class path");
            }
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).lines()
                    .filter(l -> !l.isBlank()).toList();
        }
    }

    /** How the fixture was made (see the class comment): saves steps 1 to 3 and writes the store's objects to {@code dir}. */
    static void write(Path dir) throws Exception {
        try (ObjectStore store = new MemoryObjectStore(64L << 20)) {
            try (Checkpointer cp = Checkpointer.open(config().tier(TierConfig.of("mem", store).compressionLevel(1).keepLast(10)).build())) {
                for (long step = 1; step <= STEPS; step++) {
                    cp.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
                }
            }
            List<String> keys = new ArrayList<>();
            for (ObjectInfo o : store.list("")) {
                keys.add(o.key());
                Path file = dir.resolve(o.key());
                Files.createDirectories(file.getParent());
                ByteBuffer b = store.readAll(o.key());
                byte[] bytes = new byte[b.remaining()];
                b.get(bytes);
                Files.write(file, bytes);
            }
            java.util.Collections.sort(keys);
            Files.writeString(dir.resolve("FILES"), String.join("\n", keys) + "\n");
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
