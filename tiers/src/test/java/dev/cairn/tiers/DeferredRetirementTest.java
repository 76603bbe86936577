package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.gc.GarbageCollector.Collector;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Rank 0 of a multi-rank run retires as an {@link Collector#OUTSIDER} (it cannot see the other ranks' pins): what
 * only the retired steps named is deleted once the grace has passed since the retirement, unless a step committed
 * meanwhile names it, without asking the store any chunk's age (before, one HEAD per chunk of every retired step at
 * every collection until it was old enough). Its deletions are remembered, so that its commit asks the store again for
 * exactly those chunks its ranks name. The collector's clock is a counter here: nothing waits out a grace period.
 */
class DeferredRetirementTest {
    private static final String RUN = "defer";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final Duration GRACE = Duration.ofMinutes(10);

    private final MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
    private final AtomicLong chunkHeads = new AtomicLong();
    private final ForwardingObjectStore store = new ForwardingObjectStore(mem) {
        @Override
        public ObjectInfo stat(String key) throws IOException {
            if (key.startsWith(LAYOUT.chunksPrefix())) {
                chunkHeads.incrementAndGet();
            }
            return super.stat(key);
        }

        @Override
        public boolean inMemory() {
            return inMemory; // the grace applies to tiers on disk or object storage
        }
    };
    private volatile boolean inMemory;
    private final AtomicLong now = new AtomicLong(1_000_000_000L);

    @AfterEach
    void close() {
        mem.close();
    }

    /** "w" of content {@code seed} (three chunks) beside "frozen" (two, the same in every step). */
    private static TrainingState state(long seed) {
        // "w" from seeds other than frozen's: one seed would make w's first chunk frozen's.
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, 100 + seed))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    /** Saves {@code step} with "w" of content {@code seed} by a writer of its own (another process), keeping every step. */
    private void save(long step, long seed) throws Exception {
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                .tier(TierConfig.of("mem", store).keepLast(100)).build())) {
            cp.save(step, state(seed)).done().get(60, TimeUnit.SECONDS);
        }
    }

    private Set<String> hashes(long step, String name) throws IOException {
        Set<String> out = new TreeSet<>();
        try (RootAllocator alloc = new RootAllocator()) {
            dev.cairn.tiers.internal.manifest.CommittedManifest.load(mem, LAYOUT, step, alloc).entries().stream()
                    .filter(e -> e.name().equals(name)).forEach(e -> e.chunks().forEach(c -> out.add(c.hash())));
        }
        return out;
    }

    private void assertHeld(Set<String> hashes, String why) throws IOException {
        for (String h : hashes) {
            try {
                mem.stat(LAYOUT.chunkKey(h));
            } catch (NoSuchFileException gone) {
                throw new AssertionError("chunk " + h + " is gone, but should be there: " + why, gone);
            }
        }
    }

    private void assertGone(Set<String> hashes) {
        for (String h : hashes) {
            assertThrows(NoSuchFileException.class, () -> mem.stat(LAYOUT.chunkKey(h)), h);
        }
    }

    @Test
    void whatOnlyARetiredStepNamedIsDeletedOnceTheGraceHasPassedSinceItsRetirementAskingNoAge() throws Exception {
        save(1, 1);
        save(2, 2);
        Set<String> w1 = hashes(1, "w");
        Set<String> kept = new TreeSet<>(hashes(2, "w"));
        kept.addAll(hashes(2, "frozen"));
        assertEquals(3, w1.size());
        try (RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("mem", store).keepLast(1), 0, LAYOUT, 1)) {
            GarbageCollector gc = new GarbageCollector(new CommitProtocol(alloc), now::get);
            chunkHeads.set(0);
            GcReport retired = gc.retire(tier, GRACE, Collector.OUTSIDER);
            assertEquals(List.of(1L), retired.stepsRetired());
            assertEquals(0, retired.chunksDeleted(), "the grace has not passed since the retirement");
            assertHeld(w1, "pending");

            now.addAndGet(GRACE.toMillis() - 1);
            assertEquals(0, gc.retire(tier, GRACE, Collector.OUTSIDER).chunksDeleted(), "one millisecond early");
            assertHeld(w1, "pending");

            now.addAndGet(2);
            GcReport due = gc.retire(tier, GRACE, Collector.OUTSIDER);
            assertEquals(3, due.chunksDeleted(), "step 1's own chunks of w; frozen is named by step 2");
            assertGone(w1);
            assertHeld(kept, "named by the kept step 2");
            assertEquals(0, chunkHeads.get(), "no chunk's age was asked of the store");

            // What this process deleted is what a multi-rank commit here asks the store for again, and no more.
            List<String> named = new ArrayList<>(w1);
            named.addAll(kept);
            assertEquals(w1, new TreeSet<>(tier.catalog().pinNamed(named)));
            tier.catalog().unpinAll(named);
        }
    }

    @Test
    void inATierInMemoryWhatOnlyARetiredStepNamedIsDeletedAtTheNextCollectionNotAfterTheGrace() throws Exception {
        save(1, 1);
        save(2, 2);
        save(3, 3);
        Set<String> w1 = hashes(1, "w");
        Set<String> w2 = hashes(2, "w");
        inMemory = true; // peer memory: a grace of minutes would keep every step of those minutes in memory
        try (RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("mem", store).keepLast(2), 0, LAYOUT, 1)) {
            GarbageCollector gc = new GarbageCollector(new CommitProtocol(alloc), now::get);
            GcReport retired = gc.retire(tier, GRACE, Collector.OUTSIDER);
            assertEquals(List.of(1L), retired.stepsRetired());
            assertEquals(0, retired.chunksDeleted(), "not in the collection that retired it");
            assertHeld(w1, "pending until the next collection");

            now.addAndGet(1); // the next commit's collection, a moment later, not a grace period
            assertEquals(3, gc.retire(tier, GRACE, Collector.OUTSIDER).chunksDeleted());
            assertGone(w1);
            assertHeld(w2, "named by the kept step 2");
            assertEquals(w1, new TreeSet<>(tier.catalog().pinNamed(new ArrayList<>(w1))),
                    "and a multi-rank commit asks the store again for what it deleted");
            tier.catalog().unpinAll(new ArrayList<>(w1));
        }
    }

    @Test
    void aPendingChunkThatAStepCommittedMeanwhileNamesAgainIsKept() throws Exception {
        save(1, 1);
        save(2, 2);
        Set<String> w1 = hashes(1, "w");
        Set<String> w2 = hashes(2, "w");
        try (RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("mem", store).keepLast(1), 0, LAYOUT, 1)) {
            GarbageCollector gc = new GarbageCollector(new CommitProtocol(alloc), now::get);
            assertEquals(List.of(1L), gc.retire(tier, GRACE, Collector.OUTSIDER).stepsRetired());
            chunkHeads.set(0);
            save(3, 1); // step 1's content of w again: its pending chunks are named again
            assertEquals(w1, hashes(3, "w"));
            gc.committed(tier, 3);

            now.addAndGet(GRACE.toMillis() + 1);
            GcReport r = gc.retire(tier, GRACE, Collector.OUTSIDER);
            assertEquals(List.of(2L), r.stepsRetired());
            assertEquals(0, r.chunksDeleted(), "step 1's chunks are named by step 3; step 2's wait out their grace");
            assertHeld(w1, "named by step 3");
            assertHeld(w2, "pending");

            now.addAndGet(GRACE.toMillis() + 1);
            assertEquals(3, gc.retire(tier, GRACE, Collector.OUTSIDER).chunksDeleted());
            assertGone(w2);
            assertHeld(w1, "named by step 3");
        }
    }

    private static final long[] GLOBAL = {64, 300};

    /** Rank r's row slice of "w", content {@code seed} (its own chunk, no other rank names it). */
    private static TrainingState slice(int r, long seed) {
        dev.cairn.ShardSpec s = dev.cairn.ShardSpec.split(GLOBAL, 0, 2, r);
        java.nio.ByteBuffer w = java.nio.ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed * 10 + r);
        while (w.hasRemaining()) {
            w.putLong(random.nextLong());
        }
        return TrainingState.builder().add(dev.cairn.Tensor.sharded("w", DType.F32, s, w.flip())).build();
    }

    /** Polls {@code done} until it holds; the deadline only bounds a hang (each wait is one store write or delete). */
    private static void await(java.util.function.BooleanSupplier done, String what) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - until > 0) {
                throw new AssertionError("not within 60 s: " + what);
            }
            Thread.sleep(5);
        }
    }

    private boolean holds(String key) {
        try {
            mem.stat(key);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Two ranks; rank 1's content of step 1 comes back in step 4, which it saves while step 3 commits. Rank 0's
     * collection after step 3 deletes it (due: the grace passed since step 1's retirement, no committed step names
     * it), after rank 1 confirmed it and wrote its index: rank 0's commit of step 4 asks the store again for the chunks
     * its own collections deleted, finds it gone and fails the step (STORAGE) instead of committing it.
     */
    @Test
    void rankZerosCommitFailsAStepNamingAChunkItsOwnCollectionDeletedSinceTheRankConfirmedIt() throws Exception {
        List<dev.cairn.Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < 2; r++) {
                // Nothing here waits out the deadline (rank 1's save of step 4 is ended by closing rank 1): it only
                // bounds the saves that must commit, or reach their commit, on a busy machine. GRACE is over twice it.
                ranks.add(new CairnCheckpointer(smallConfig(RUN).gcGrace(GRACE).deadline(Duration.ofSeconds(60))
                        .gcSweepEvery(0).rank(r, 2).tier(TierConfig.of("mem", store).keepLast(1)).build(), now::get));
            }
            Set<String> rankOneOfStepOne = Set.of();
            for (long step = 1; step <= 2; step++) {
                List<dev.cairn.CheckpointHandle> both = new ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    both.add(ranks.get(r).save(step, slice(r, step)));
                }
                for (dev.cairn.CheckpointHandle h : both) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                if (step == 1) {
                    rankOneOfStepOne = hashesOfRank(1, 1);
                }
            }
            assertEquals(1, rankOneOfStepOne.size(), "rank 1's slice is one chunk");
            String comesBack = LAYOUT.chunkKey(rankOneOfStepOne.iterator().next());
            await(() -> !holds(LAYOUT.manifestKey(1)), "step 1 retired after step 2's commit");
            now.addAndGet(GRACE.toMillis() + 1); // rank 1's step-1 chunk falls due at rank 0's next collection
            dev.cairn.CheckpointHandle three1 = ranks.get(1).save(3, slice(1, 3));
            dev.cairn.CheckpointHandle four1 = ranks.get(1).save(4, slice(1, 1)); // step 1's content again
            await(() -> holds(LAYOUT.indexKey(4, 1)), "rank 1 confirmed what it reused and wrote its index of step 4");
            ranks.get(0).save(3, slice(0, 3)).done().get(60, TimeUnit.SECONDS);
            three1.done().get(60, TimeUnit.SECONDS);
            await(() -> !holds(comesBack), "rank 0's collection after step 3 deleted the chunk that fell due");
            var failed = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> ranks.get(0).save(4, slice(0, 4)).done().get(60, TimeUnit.SECONDS));
            dev.cairn.CheckpointException c = (dev.cairn.CheckpointException) failed.getCause();
            assertEquals(dev.cairn.CheckpointException.Reason.STORAGE, c.reason(), c.getMessage());
            assertThrows(NoSuchFileException.class, () -> mem.stat(LAYOUT.manifestKey(4)), "step 4 is not committed");
            // Rank 1 waits for a commit of step 4 that never comes, until it is closed (instead of its deadline).
            Fixtures.closeWithoutWaiting(ranks.get(1));
            assertThrows(java.util.concurrent.ExecutionException.class, () -> four1.done().get(60, TimeUnit.SECONDS),
                    "rank 1 gives up waiting for step 4");
        } finally {
            ranks.forEach(dev.cairn.Checkpointer::close);
        }
    }

    /** The chunks rank {@code rank}'s rows of {@code step} name. */
    private Set<String> hashesOfRank(long step, int rank) {
        Set<String> out = new TreeSet<>();
        try (RootAllocator alloc = new RootAllocator()) {
            dev.cairn.tiers.internal.manifest.CommittedManifest.load(mem, LAYOUT, step, alloc).entries().stream()
                    .filter(e -> e.rank() == rank).forEach(e -> e.chunks().forEach(c -> out.add(c.hash())));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    @Test
    void aChunkPinnedByACommitWhenItFallsDueIsLeftForALaterCollection() throws Exception {
        save(1, 1);
        save(2, 2);
        Set<String> w1 = hashes(1, "w");
        try (RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("mem", store).keepLast(1), 0, LAYOUT, 1)) {
            GarbageCollector gc = new GarbageCollector(new CommitProtocol(alloc), now::get);
            gc.retire(tier, GRACE, Collector.OUTSIDER);
            List<String> named = List.copyOf(w1);
            assertEquals(List.of(), tier.catalog().pinNamed(named), "nothing deleted yet");
            now.addAndGet(GRACE.toMillis() + 1);
            assertEquals(0, gc.retire(tier, GRACE, Collector.OUTSIDER).chunksDeleted(), "pinned by a commit in flight");
            assertHeld(w1, "pinned");
            tier.catalog().unpinAll(named);
            assertEquals(3, gc.retire(tier, GRACE, Collector.OUTSIDER).chunksDeleted(), "the pins are gone");
            assertGone(w1);
        }
    }
}
