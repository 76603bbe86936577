package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * A commit whose outcome is unknown (the MANIFEST create's answer is lost and reading it back fails) may have
 * committed: the collector must not take that step's chunks for unused when an older step that shares them retires.
 * From a review's reproduction (single rank, so a WRITER collection, which deletes unused chunks at once).
 */
class GcAfterUnknownCommitOutcomeTest {
    private static final StoreLayout LAYOUT = new StoreLayout("amb");

    /** Steps 1 and 3 share tensor v, as do steps 2 and 4; w changes every step. */
    private static TrainingState state(long step) {
        return TrainingState.builder()
                .add(randomTensor("v", DType.F32, 40_000, step % 2 == 1 ? 1 : 2))
                .add(randomTensor("w", DType.F32, 20_000, 100 + step)).build();
    }

    @Test
    void aStepWhoseCommitOutcomeWasUnknownKeepsItsChunks() throws Exception {
        String ambiguous = LAYOUT.manifestKey(3);
        AtomicInteger statFailures = new AtomicInteger();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             RootAllocator alloc = new RootAllocator()) {
            ForwardingObjectStore store = new ForwardingObjectStore(mem) {
                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    boolean created = delegate.putIfAbsent(key, data);
                    if (key.equals(ambiguous)) {
                        statFailures.set(5); // more read-backs than the commit point tries
                        throw new IOException("answer lost (created=" + created + ")");
                    }
                    return created;
                }

                @Override
                public ObjectInfo stat(String key) throws IOException {
                    if (key.equals(ambiguous) && statFailures.getAndDecrement() > 0) {
                        throw new IOException("flaky read-back");
                    }
                    return delegate.stat(key);
                }
            };
            try (Checkpointer cp = Checkpointer.open(smallConfig("amb").tier(TierConfig.of("mem", store).keepLast(2)).build())) {
                for (long step = 1; step <= 4; step++) {
                    if (step == 3) {
                        ExecutionException e = assertThrows(ExecutionException.class,
                                () -> cp.save(3, state(3)).done().get(60, TimeUnit.SECONDS));
                        assertTrue(e.getCause() instanceof CheckpointException, e.getCause().toString());
                        assertEquals(CheckpointException.Reason.STORAGE, ((CheckpointException) e.getCause()).reason());
                    } else {
                        cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
                    }
                }
                // A dry run takes the tier's commit lock, so it starts after the collection that follows step 4's commit.
                cp.gc(true);
                List<String> missing = new ArrayList<>();
                for (ObjectInfo o : mem.list(LAYOUT.stepsPrefix())) {
                    if (!LAYOUT.isManifestKey(o.key())) {
                        continue;
                    }
                    for (String hash : ManifestFormat.read(mem.readAll(o.key()), o.key(), alloc).referencedHashes()) {
                        try {
                            mem.stat(LAYOUT.chunkKey(hash));
                        } catch (NoSuchFileException gone) {
                            missing.add(o.key() + " -> " + hash);
                        }
                    }
                }
                assertEquals(List.of(), missing, "chunks named by a MANIFEST still in the store");
                // Step 3's MANIFEST is in the store (the create succeeded): it is committed, and one of the two kept.
                List<Long> listed = cp.list().stream().map(CheckpointInfo::step).sorted().toList();
                assertEquals(List.of(3L, 4L), listed, "committed steps");
            }
        }
    }
}
