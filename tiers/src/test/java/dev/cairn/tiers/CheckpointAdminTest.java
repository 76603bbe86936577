package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.BadChunk;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointAdmin.StoredStep;
import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The public face tools use: what it reads matches what was saved, and what it changes restores. */
class CheckpointAdminTest {
    private static final String RUN = "run1";

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder()
                .add(randomTensor("w", DType.F32, 100_000, seed))
                .add(randomTensor("b", DType.F32, 1000, seed + 1))
                .blob("rng", new byte[] {1, 2, 3})
                .build();
    }

    private void save(Path store, long... steps) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(store);
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(10)).build())) {
            for (long step : steps) {
                cp.save(step, state(step)).done().join();
            }
        }
    }

    @Test
    void describesAndReadsBackEveryChunkOfACommittedStep() throws Exception {
        save(dir.resolve("a"), 1, 2);
        try (FileSystemObjectStore a = new FileSystemObjectStore(dir.resolve("a"))) {
            StoreRef ref = new StoreRef("disk", "a", a);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                assertEquals(List.of(RUN), List.copyOf(admin.runs(ref).runs()));
                assertEquals(List.of(1L, 2L), List.copyOf(admin.committedSteps(RUN).keySet()));
                List<StoredStep> steps = admin.steps(ref, RUN);
                assertEquals(StoredStep.State.COMMITTED, steps.get(1).state());
                assertEquals(3, steps.get(1).checkpoint().orElseThrow().entries());

                CheckpointDescription d = admin.describe(ref, RUN, 2);
                assertEquals(2, d.step());
                assertEquals("xxh3-128", d.contentHash());
                assertEquals(state(2).byteSize(), d.rawBytes());
                CheckpointDescription.Entry w = d.entries().get(0);
                assertEquals(CheckpointDescription.Kind.TENSOR, w.kind());
                ByteBuffer bytes = ByteBuffer.allocate((int) w.byteSize());
                for (CheckpointDescription.Chunk c : w.chunks()) {
                    ByteBuffer raw = ByteBuffer.allocate((int) c.rawLength());
                    admin.readChunk(List.of(ref), RUN, c, w.name(), raw);
                    assertEquals(c.hash(), admin.contentKey(d.contentHash(), raw.flip()));
                    bytes.put(raw);
                }
                assertEquals(Fixtures.concat(state(2).entries().get(0)), bytes.flip());

                CheckpointException missing = assertThrows(CheckpointException.class, () -> admin.holders(RUN, 7));
                assertEquals(Reason.NOT_FOUND, missing.reason());
                assertTrue(missing.getMessage().contains("committed steps: [1, 2]"), missing.getMessage());
            }
        }
    }

    @Test
    void verifyNamesADamagedChunkAndTheStoreWithAGoodCopyAndCopyRepairsFromIt() throws Exception {
        save(dir.resolve("a"), 1);
        save(dir.resolve("b"), 1);
        try (FileSystemObjectStore a = new FileSystemObjectStore(dir.resolve("a"));
             FileSystemObjectStore b = new FileSystemObjectStore(dir.resolve("b"));
             FileSystemObjectStore c = new FileSystemObjectStore(dir.resolve("c"))) {
            StoreRef ra = new StoreRef("store1", "a", a);
            StoreRef rb = new StoreRef("store2", "b", b);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ra, rb))) {
                CheckpointDescription.Chunk first = admin.describe(ra, RUN, 1).entries().get(0).chunks().get(0);
                Files.delete(dir.resolve("a").resolve(first.key()));

                AtomicLong total = new AtomicLong();
                AtomicLong done = new AtomicLong();
                List<StepCheck> checks = admin.verify(RUN, List.of(1L), new CheckpointAdmin.Progress() {
                    @Override
                    public void start(long totalBytes) {
                        total.set(totalBytes);
                    }

                    @Override
                    public void advance(long bytes) {
                        done.addAndGet(bytes);
                    }
                });
                assertEquals(2, checks.size());
                assertFalse(checks.get(0).intact());
                BadChunk bad = checks.get(0).badChunks().get(0);
                assertEquals(BadChunk.Problem.MISSING, bad.problem());
                assertEquals(List.of("b"), bad.goodCopyIn());
                assertTrue(checks.get(1).intact());
                assertEquals(total.get(), done.get());

                CopyReport copy = admin.copy(RUN, 1, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertEquals(copy.chunks(), copy.chunksCopied());
                assertFalse(copy.alreadyCommitted());
                CopyReport again = admin.copy(RUN, 1, new StoreRef("target", "c", c), 2, CheckpointAdmin.Progress.NONE);
                assertTrue(again.alreadyCommitted());
                assertEquals(0, again.chunksCopied());
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", c)).build())) {
                assertSameState(state(1), cp.restore(RestoreRequest.step(1)).state());
            }
        }
    }

    @Test
    void gcRetiresStepsBeyondKeepLastAndAClosedAdminRefusesWork() throws Exception {
        save(dir.resolve("a"), 1, 2, 3);
        try (FileSystemObjectStore a = new FileSystemObjectStore(dir.resolve("a"))) {
            StoreRef ref = new StoreRef("store1", "a", a);
            CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref));
            GcReport dry = admin.gc(ref, RUN, 1, Duration.ZERO, true);
            assertEquals(List.of(2L, 1L), dry.stepsRetired());
            assertEquals("store1", dry.tier());
            assertEquals(List.of(1L, 2L, 3L), List.copyOf(admin.committedSteps(RUN).keySet()));
            admin.gc(ref, RUN, 1, Duration.ZERO, false);
            assertEquals(List.of(3L), List.copyOf(admin.committedSteps(RUN).keySet()));
            admin.close();
            assertEquals(Reason.CLOSED, assertThrows(CheckpointException.class, () -> admin.committedSteps(RUN)).reason());
        }
    }
}
