package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Persist on shutdown keeps to its grace while the first tier's commit lock is held: a callback on a commit runs
 * under it (here one that waits, as one that calls {@code System.exit} waits for the shutdown hooks). Before, the hook
 * waited for the lock without a bound, after the grace: a JVM whose callback exits never finished exiting.
 */
class PersistWithinGraceTest {
    private static final String RUN = "grace";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    /** The memory tier, holding the create of step 2's MANIFEST until the test has set its callback. */
    private static final class GatedManifest extends ForwardingObjectStore {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch open = new CountDownLatch(1);

        GatedManifest(MemoryObjectStore memory) {
            super(memory);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            if (key.equals(LAYOUT.manifestKey(2))) {
                reached.countDown();
                try {
                    open.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("gate");
                }
            }
            return super.putIfAbsent(key, data);
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 20_000, seed)).build();
    }

    @Test
    void aCommitCallbackHoldingTheFirstTiersLockDoesNotHoldTheHookPastItsGrace() throws Exception {
        CountDownLatch inCallback = new CountDownLatch(1);
        CountDownLatch hold = new CountDownLatch(1);
        ExecutorService hook = Executors.newSingleThreadExecutor();
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            GatedManifest gated = new GatedManifest(memory);
            Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("memory", gated))
                    .tier(TierConfig.of("disk", disk).everySteps(10)).build());
            try {
                cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
                CheckpointHandle second = cp.save(2, state(2));
                gated.reached.await();
                second.committed("memory").thenRun(() -> { // runs on the committer, under the lock
                    inCallback.countDown();
                    try {
                        hold.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                gated.open.countDown();
                inCallback.await();
                Future<List<String>> persisted = hook.submit(() -> ((CairnCheckpointer) cp).persistNewest(Duration.ofSeconds(1)));
                // Far beyond the one-second grace: a machine's speed does not decide it, only a hook that never returns.
                assertEquals(List.of(), persisted.get(60, TimeUnit.SECONDS), "out of time: nothing persisted");
            } finally {
                hold.countDown();
                gated.open.countDown();
                cp.close();
            }
        } finally {
            hook.shutdownNow();
        }
    }
}
