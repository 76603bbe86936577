package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A store written by manifest format 4 with two ranks, kept under {@code src/test/resources/store-v4/}: run
 * {@value #RUN}, steps 1 and 2 of {@link FormatThreeStore#state} saved by ranks 0 and 1 into one shared memory tier, so
 * each MANIFEST holds one row per entry and rank and references both indexes, which hold the chunk rows (the last
 * format to do so). {@link #write(Path)} made it with the engine of commit 9c50ce1, the last to write format 4 (run once
 * from {@code FormatFourStoreWriter}); run today it would write format 5, so it stays only as the record of how the
 * fixture was made. The files are the store's objects, one file per key.
 */
final class FormatFourStore {
    static final String RUN = "v4run";
    static final int WORLD = FormatThreeStore.WORLD;
    static final long STEPS = 2;
    private static final String RESOURCE = "/store-v4/";
    private static final String LISTING = "/store-v4/FILES";

    private FormatFourStore() {
    }

    /** Rank {@code rank}'s state at {@code step}: {@link FormatThreeStore#state}, under this fixture's run. */
    static TrainingState state(int rank, long step) {
        return FormatThreeStore.state(rank, step);
    }

    /** The fixture's configuration for rank {@code rank} of {@code world}. */
    static CairnConfig.Builder config(int rank, int world) {
        return CairnConfig.builder(RUN).chunkBytes(FormatThreeStore.CHUNK).encoderThreads(1)
                .stagingBytes(CairnConfig.minimumStagingBytes(FormatThreeStore.CHUNK, 1)).gcGrace(Duration.ofMinutes(10))
                .deadline(Duration.ofSeconds(30)).rank(rank, world);
    }

    /** Loads the fixture's objects into {@code store}. */
    static void load(ObjectStore store) throws IOException {
        FormatTwoStore.load(store, RESOURCE, LISTING);
    }

    /** How the fixture was made (see the class comment): both ranks save steps 1 and 2, then the objects go to {@code dir}. */
    static void write(Path dir) throws Exception {
        try (ObjectStore store = new MemoryObjectStore(64L << 20)) {
            List<Checkpointer> ranks = new ArrayList<>();
            try {
                for (int r = 0; r < WORLD; r++) {
                    ranks.add(Checkpointer.open(config(r, WORLD).tier(TierConfig.of("mem", store).keepLast(10)).build()));
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
                if (o.key().contains("RETIRED") || o.key().contains("/notices/")) {
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
