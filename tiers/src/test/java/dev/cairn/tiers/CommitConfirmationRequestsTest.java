package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What a commit asks the store before it names a chunk: only the chunks its save found stored and relied on without
 * putting them (each rank its own, before its index), never a chunk the save put itself, and in a multi-rank run
 * rank 0 asks nothing of the other ranks' chunks (before, it sent a HEAD for every chunk every rank named, and rank 0's
 * collection a HEAD for every chunk of a retired step).
 */
class CommitConfirmationRequestsTest {
    private static final String RUN = "heads";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    private final MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
    private final CountingHeads store = new CountingHeads(mem);

    @AfterEach
    void close() {
        mem.close();
    }

    /** Counts the HEADs (stat; statAll is one stat per key here) of each chunk key. */
    private static final class CountingHeads extends ForwardingObjectStore {
        final Map<String, AtomicLong> heads = new ConcurrentHashMap<>();

        CountingHeads(MemoryObjectStore delegate) {
            super(delegate);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            if (key.startsWith(LAYOUT.chunksPrefix())) {
                heads.computeIfAbsent(key, k -> new AtomicLong()).incrementAndGet();
            }
            return super.stat(key);
        }

        long total() {
            return heads.values().stream().mapToLong(AtomicLong::get).sum();
        }
    }

    /** A tensor that changes every step (three chunks) beside one that never does (two, reused by every step). */
    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, step))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    /** The chunk keys of the entries named {@code name} in the MANIFEST of {@code step}. */
    private Set<String> chunkKeys(long step, String name) throws IOException {
        Set<String> keys = new TreeSet<>();
        try (RootAllocator alloc = new RootAllocator()) {
            dev.cairn.tiers.internal.manifest.CommittedManifest.load(mem, LAYOUT, step, alloc).entries().stream()
                    .filter(e -> e.name().equals(name)).forEach(e -> e.chunks().forEach(c -> keys.add(LAYOUT.chunkKey(c.hash()))));
        }
        return keys;
    }

    @Test
    void aSingleRankCommitAsksForEveryChunkItNamesOncePerSave() throws Exception {
        // One rank keeps the stronger check: every chunk, put by this save or found stored, is asked after the index
        // and right before the MANIFEST, so a collector with a grace shorter than the save fails the step instead of
        // leaving a committed one that names a deleted chunk (cli's ConcurrentWritersTest runs exactly that race).
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                .tier(TierConfig.of("mem", store).keepLast(2)).build())) {
            cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            Set<String> first = new java.util.TreeSet<>(chunkKeys(1, "w"));
            first.addAll(chunkKeys(1, "frozen"));
            assertEquals(first, store.heads.keySet(), "every chunk of step 1 is asked, the new ones too");
            for (String key : first) {
                assertEquals(1, store.heads.get(key).get(), "once: " + key);
            }
            for (long step = 2; step <= 4; step++) {
                cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
            }
            for (String key : chunkKeys(4, "frozen")) {
                assertEquals(4, store.heads.get(key).get(), "once by each of the saves 1 to 4 that name " + key);
            }
            assertSameState(state(4), cp.restore(RestoreRequest.latest()).state());
        }
    }

    private static final long[] GLOBAL = {64, 300};

    /** Rank r's state: its row slice of "w", new every step, and "frozen", replicated and the same every step. */
    private static TrainingState rankState(int r, int world, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        SplittableRandom random = new SplittableRandom(step * 100 + r);
        while (w.hasRemaining()) {
            w.putLong(random.nextLong());
        }
        return TrainingState.builder().add(Tensor.sharded("w", DType.F32, s, w.flip()))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    private Checkpointer rank(int r, int world) {
        // Several ranks need a grace of at least the deadline (CairnConfig checks it).
        return Checkpointer.open(CairnConfig.builder(RUN).chunkBytes(64 << 10).stagingBytes(16L << 20).encoderThreads(1)
                .gcGrace(Duration.ofHours(1)).deadline(Duration.ofSeconds(30)).gcSweepEvery(0).rank(r, world)
                .tier(TierConfig.of("mem", store).keepLast(2)).build());
    }

    @Test
    void aMultiRankCommitAsksEachRankForItsReusedChunksAndRankZeroForNoOtherRanksChunks() throws Exception {
        int world = 2;
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                ranks.add(rank(r, world));
            }
            java.util.Map<String, Long> askedInStepOne = new java.util.HashMap<>();
            for (long step = 1; step <= 5; step++) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    handles.add(ranks.get(r).save(step, rankState(r, world, step)));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                if (step == 1) {
                    // "frozen" is replicated: both ranks name the same chunks, and the rank that comes second may find
                    // one stored by the other (then it did not put it, and asks once). Every other chunk is new.
                    Set<String> replicated = chunkKeys(1, "frozen");
                    assertTrue(replicated.containsAll(store.heads.keySet()), "step 1: only a replicated chunk another rank"
                            + " put first may be asked: " + store.heads.keySet());
                    store.heads.forEach((key, n) -> askedInStepOne.put(key, n.get()));
                }
            }
            Set<String> frozen = chunkKeys(5, "frozen");
            Set<String> w = chunkKeys(5, "w");
            assertTrue(w.size() >= 2 && frozen.size() == 2, w + " " + frozen);
            assertEquals(frozen, store.heads.keySet(), "only the chunks a rank reused are asked, by that rank: none of"
                    + " the new chunks of w, and nothing by rank 0's collection of the retired steps 1 to 3");
            for (String key : frozen) {
                assertEquals(world * 4L + askedInStepOne.getOrDefault(key, 0L), store.heads.get(key).get(),
                        "once by each rank in each of the saves 2 to 5, which reused " + key);
            }
            for (int r = 0; r < world; r++) {
                TrainingState back = ranks.get(r).restore(RestoreRequest.latest()).state();
                TrainingState saved = rankState(r, world, 5);
                for (String name : List.of("w", "frozen")) {
                    assertEquals(ReshardingProperties.concat(saved.tensor(name)), ReshardingProperties.concat(back.tensor(name)),
                            "rank " + r + "'s " + name);
                }
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }
}
