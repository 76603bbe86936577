package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A MANIFEST create that fails while its request may still land (an attempt a store's deadline abandoned, which the
 * server had received in full) is not reported as a failed commit when nothing is there yet: the commit point creates
 * it once more, create-only. Whether the late request lands before that create or never, the save reports what the
 * store holds: committed, and restorable. Before, it reported the step failed, and the late request then committed
 * it behind the writer's back (in a multi-rank run, rank 0 failed a step the other ranks saw committed).
 */
class LateManifestCreateTest {
    private static final StoreLayout LAYOUT = new StoreLayout("late");

    @Test
    void aFailedCreateThatLandsLaterIsReportedCommitted() throws Exception {
        assertEquals(java.util.List.of(1L, 2L), saveWithAFailedCreateOfStep2(true));
    }

    @Test
    void aFailedCreateThatNeverLandsIsMadeAgain() throws Exception {
        assertEquals(java.util.List.of(1L, 2L), saveWithAFailedCreateOfStep2(false));
    }

    /** Saves steps 1 and 2; the first create of step 2's MANIFEST fails unwritten, and lands at the read-back if asked. */
    private static java.util.List<Long> saveWithAFailedCreateOfStep2(boolean landsLate) throws Exception {
        String manifest = LAYOUT.manifestKey(2);
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20)) {
            ForwardingObjectStore store = new ForwardingObjectStore(mem) {
                private ByteBuffer inFlight;
                private boolean failed;

                @Override
                public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                    if (key.equals(manifest) && !failed) {
                        failed = true;
                        inFlight = ByteBuffer.allocate(data.remaining()).put(data.duplicate()).flip();
                        throw new IOException("create of " + key + " timed out");
                    }
                    return delegate.putIfAbsent(key, data);
                }

                @Override
                public ObjectInfo stat(String key) throws IOException {
                    if (key.equals(manifest) && inFlight != null) {
                        ByteBuffer late = inFlight;
                        inFlight = null;
                        if (landsLate) {
                            delegate.putIfAbsent(key, late); // just after this read-back found nothing
                        }
                        throw new NoSuchFileException(key);
                    }
                    return delegate.stat(key);
                }
            };
            try (Checkpointer cp = Checkpointer.open(smallConfig("late").tier(TierConfig.of("mem", store)).build())) {
                for (long step = 1; step <= 2; step++) {
                    TrainingState state = TrainingState.builder().add(randomTensor("w", DType.F32, 10_000, step)).build();
                    cp.save(step, state).done().get(60, TimeUnit.SECONDS);
                }
                assertEquals(2, cp.restore(RestoreRequest.latest()).step());
                return cp.list().stream().map(CheckpointInfo::step).sorted().toList();
            }
        }
    }
}
