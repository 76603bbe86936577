package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A checkpointer closed while its open's look waits for its paced turn (rank 9,999 of 10,000 in a new run: 12.4 s after
 * the open, {@code LookPacing}) ends that wait at once ({@code ClosingClock}): before, the close waited up to 10 s for
 * each tier's I/O thread, which slept on to its turn.
 */
class CloseDuringPacedLookTest {
    /** Memory, but not "in memory" for the engine, so the look is paced; counts down once the open's look has begun. */
    private static final class SharedStore extends SharedMemoryStore {
        final CountDownLatch looking = new CountDownLatch(1);

        SharedStore(ObjectStore store) {
            super(store);
        }

        @Override
        public List<dev.cairn.ObjectInfo> list(String prefix) throws IOException {
            List<dev.cairn.ObjectInfo> listed = super.list(prefix);
            looking.countDown(); // the look's own group of marks, listed before its paced part
            return listed;
        }
    }

    @Test
    void aCloseEndsTheLooksWaitForItsTurn() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20)) {
            SharedStore store = new SharedStore(memory);
            Checkpointer cp = Checkpointer.open(CairnConfig.builder("paced-close").tier(TierConfig.of("shared", store))
                    .chunkBytes(4096).stagingBytes(4L << 20).encoderThreads(1).deadline(Duration.ofSeconds(60))
                    .rank(9_999, 10_000).build());
            assertTrue(store.looking.await(60, TimeUnit.SECONDS), "the open's look began");
            long began = System.nanoTime();
            cp.close();
            long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
            // The old close took exactly the 10 s it waits for a tier's I/O thread (the look's turn was 12.4 s away):
            // anything under that tells the two apart, so the bound leaves a close without waits 9 s, however busy the
            // machine.
            assertTrue(tookMillis < 9_000, "the close took " + tookMillis + " ms");
        }
    }
}
