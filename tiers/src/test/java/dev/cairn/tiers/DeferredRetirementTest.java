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
    };
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
            ManifestFormat.read(mem.readAll(LAYOUT.manifestKey(step)), "m", alloc).entries().stream()
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
