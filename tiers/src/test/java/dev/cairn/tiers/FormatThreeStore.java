package dev.cairn.tiers;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.io.InputStream;
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
 * A store written by manifest format 3 with two ranks, kept under {@code src/test/resources/store-v3/}: run
 * {@value #RUN}, steps 1 and 2 of {@link #state(int, long)} saved by ranks 0 and 1 into one shared memory tier, so each
 * MANIFEST holds the rows of both ranks inline (the last format to do so). {@link #write(Path)} made it with the
 * engine of commit 70a2a22, the last to write format 3 (run once from {@code FormatThreeStoreWriter}); run today it
 * would write format 4, so it stays only as the record of how the fixture was made. The files are the store's objects,
 * one file per key ({@code <run>/chunks/<2 hex>/<hash>}, {@code <run>/steps/<step>/MANIFEST}, {@code rank-<r>.index}).
 */
final class FormatThreeStore {
    static final String RUN = "v3run";
    static final int CHUNK = 4 << 10;
    static final int WORLD = 2;
    static final long STEPS = 2;
    static final long[] GLOBAL = {48, 100};
    private static final String RESOURCE = "/store-v3/";
    private static final String LISTING = "/store-v3/FILES";

    private FormatThreeStore() {
    }

    /**
     * Rank {@code rank}'s state at {@code step} (1 or 2), rebuilt bit for bit from its seeds: its row slice of "w", a
     * replicated "bias", a per-rank blob "rng" and a global blob "config".
     */
    static TrainingState state(int rank, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, WORLD, rank);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom r = new SplittableRandom(1000 * step + s.offsets()[0]);
        while (w.hasRemaining()) {
            w.putFloat((float) ((r.nextDouble() - 0.5) * 0.04));
        }
        ByteBuffer bias = ByteBuffer.allocateDirect(1500 * 4).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom b = new SplittableRandom(77 + step);
        while (bias.hasRemaining()) {
            bias.putFloat((float) b.nextDouble());
        }
        return TrainingState.builder()
                .add(Tensor.sharded("w", DType.F32, s, w.flip()))
                .add(Tensor.of("bias", DType.F32, new long[] {1500}, bias.flip()))
                .add(Blob.perRank("rng", new byte[] {(byte) rank, (byte) step, 7}))
                .add(Blob.ofUtf8("config", "lr=0.1 step=" + step))
                .build();
    }

    static CairnConfig.Builder config(int rank) {
        return config(rank, WORLD);
    }

    /** The fixture's configuration for rank {@code rank} of {@code world} (restores on other world sizes). */
    static CairnConfig.Builder config(int rank, int world) {
        return CairnConfig.builder(RUN).chunkBytes(CHUNK).encoderThreads(1)
                .stagingBytes(CairnConfig.minimumStagingBytes(CHUNK, 1)).gcGrace(Duration.ofMinutes(10))
                .deadline(Duration.ofSeconds(30)).rank(rank, world);
    }

    /** Loads the fixture's objects into {@code store}. */
    static void load(ObjectStore store) throws IOException {
        FormatTwoStore.load(store, RESOURCE, LISTING);
    }

    /** The keys of the fixture's objects. */
    static List<String> keys() throws IOException {
        return FormatTwoStore.keys(LISTING);
    }

    /** How the fixture was made (see the class comment): both ranks save steps 1 and 2, then the objects go to {@code dir}. */
    static void write(Path dir) throws Exception {
        try (ObjectStore store = new MemoryObjectStore(64L << 20)) {
            List<Checkpointer> ranks = new ArrayList<>();
            try {
                for (int r = 0; r < WORLD; r++) {
                    ranks.add(Checkpointer.open(config(r).tier(TierConfig.of("mem", store).keepLast(10)).build()));
                }
                for (long step = 1; step <= STEPS; step++) {
                    List<CheckpointHandle> handles = new ArrayList<>();
                    for (int r = 0; r < WORLD; r++) {
                        handles.add(ranks.get(r).save(step, state(r, step)));
                    }
                    for (CheckpointHandle h : handles) {
                        h.done().get(60, TimeUnit.SECONDS);
                    }
                }
            } finally {
                ranks.forEach(Checkpointer::close);
            }
            List<String> keys = new ArrayList<>();
            for (ObjectInfo o : store.list("")) {
                if (o.key().contains("RETIRED")) {
                    continue;
                }
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
        }
    }
}
