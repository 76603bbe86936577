package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.gc.GarbageCollector.Collector;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store spread over members that may not answer (the peer-memory tier) lists the union of those that did: a step
 * whose MANIFEST, index and marks only a silent member holds is missing from that listing, while its chunks, held by
 * members that answered, are listed. Garbage collection must not act on such a listing: a sweep would take the
 * step's chunks for unused, and a first retirement that does not see the step would delete the chunks it shares
 * with a retired one. It lists with {@code listWhole}, which fails while a member is silent, and deletes nothing.
 */
class GcWithASilentMemberTest {
    private static final String RUN = "silent";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    /**
     * The store in {@code dir} as seen while the member holding step 3's metadata is silent: {@code list} leaves step
     * 3's MANIFEST, indexes, marks and notices out, {@code listWhole} fails. Chunks are listed as held.
     */
    private static final class SilentMemberStore extends ForwardingObjectStore {
        private static final long HIDDEN = 3;
        volatile boolean silent;

        SilentMemberStore(FileSystemObjectStore delegate) {
            super(delegate);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            List<ObjectInfo> all = delegate.list(prefix);
            return silent ? all.stream().filter(o -> !heldOnlyBySilentMember(o.key())).toList() : all;
        }

        @Override
        public List<ObjectInfo> listWhole(String prefix) throws IOException {
            if (silent) {
                throw new IOException("cannot list " + prefix + " whole: member 2 did not answer");
            }
            return delegate.listWhole(prefix);
        }

        private static boolean heldOnlyBySilentMember(String key) {
            return LAYOUT.stepOf(key).orElse(-1) == HIDDEN || LAYOUT.stepOfMarkKey(key).orElse(-1) == HIDDEN
                    || LAYOUT.stepOfNoticeKey(key).orElse(-1) == HIDDEN;
        }
    }

    /** "w" of content {@code seed} beside "frozen", the same in every step. */
    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, 100 + seed))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    /** Saves each step with "w" of the content its seed names, by a writer of its own, keeping every step. */
    private void save(long[] steps, long[] seeds) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                     .tier(TierConfig.of("disk", disk).keepLast(100)).build())) {
            for (int i = 0; i < steps.length; i++) {
                cp.save(steps[i], state(seeds[i])).done().get(120, TimeUnit.SECONDS);
            }
        }
    }

    private Set<String> chunksOf(long step) throws IOException {
        Set<String> out = new TreeSet<>();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir); RootAllocator alloc = new RootAllocator()) {
            CommittedManifest.load(disk, LAYOUT, step, alloc).entries().forEach(e -> e.chunks().forEach(c -> out.add(c.hash())));
        }
        return out;
    }

    private void assertStepIntact(long step, long seed) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            for (String h : chunksOf(step)) {
                try {
                    disk.stat(LAYOUT.chunkKey(h));
                } catch (NoSuchFileException gone) {
                    throw new AssertionError("chunk " + h + " of step " + step + " was deleted", gone);
                }
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                    .tier(TierConfig.of("disk", disk).keepLast(100)).build())) {
                assertSameState(state(seed), cp.restore(RestoreRequest.step(step)).state());
            }
        }
    }

    @Test
    void aSweepWhileAMemberIsSilentFailsAndDeletesNothing() throws Exception {
        save(new long[] {1, 2, 3}, new long[] {1, 2, 3});
        Set<String> third = chunksOf(3);
        try (SilentMemberStore store = new SilentMemberStore(new FileSystemObjectStore(dir));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                     .tier(TierConfig.of("disk", store).keepLast(100)).build())) {
            store.silent = true;
            CheckpointException failed = assertThrows(CheckpointException.class, () -> cp.gc(false),
                    "a sweep on a listing without step 3 would delete its own chunks of w: " + third);
            assertTrue(failed.getMessage().contains("member 2 did not answer"), failed.getMessage());
            store.silent = false;
            assertEquals(List.of(), cp.gc(false).get(0).stepsRetired(), "the member answers again: a sweep runs");
        }
        assertStepIntact(3, 3);
    }

    @Test
    void aFirstRetirementWhileAMemberIsSilentFailsAndDeletesNothing() throws Exception {
        // Step 3 holds what step 1 held: it names step 1's chunks of w, and so does no other step.
        save(new long[] {1, 2, 3, 4}, new long[] {1, 2, 1, 4});
        assertTrue(chunksOf(3).containsAll(chunksOf(1)), "step 3 stored as step 1");
        try (SilentMemberStore store = new SilentMemberStore(new FileSystemObjectStore(dir));
             RootAllocator alloc = new RootAllocator();
             Tier tier = new Tier(TierConfig.of("disk", store).keepLast(2), 0, LAYOUT, 1)) {
            GarbageCollector gc = new GarbageCollector(new CommitProtocol(alloc), System::currentTimeMillis);
            store.silent = true;
            // Without step 3, the two newest are 4 and 2: step 1 would be retired, and a writer deletes what only it
            // named at once, step 3's chunks of w among them.
            IOException failed = assertThrows(IOException.class, () -> gc.retire(tier, Duration.ZERO, Collector.WRITER));
            assertTrue(failed.getMessage().contains("member 2 did not answer"), failed.getMessage());
            store.silent = false;
            assertEquals(List.of(1L, 2L), gc.retire(tier, Duration.ZERO, Collector.WRITER).stepsRetired(),
                    "the member answers again: 4 and 3 are kept");
        }
        assertStepIntact(3, 1);
    }
}
