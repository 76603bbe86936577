package dev.cairn.tiers.internal.commit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A restore that asks for a key while its read ahead is still running waits for that read and takes its bytes. The
 * taker used to remove the read's future before waiting on it, so the read found none to complete and the restore
 * waited out the 30 s bound, then read the key itself: a replacement whose first restore overlapped the read ahead
 * begun at open paid 30 s.
 */
class ReadAheadRowsTest {
    @Test
    void aReadWaitingForTheReadAheadOfItsKeyTakesItsBytes() throws Exception {
        try (MemoryObjectStore store = new MemoryObjectStore(1 << 20)) {
            Tier tier = new Tier(TierConfig.of("mem", store), 0, new StoreLayout("r"), 1);
            ReadAheadRows rows = new ReadAheadRows();
            CommittedManifest.ReadAhead keeping = rows.keepingFor(tier);
            CommittedManifest.ReadAhead taking = rows.takingFor(tier);
            assertTrue(keeping.reading("r/steps/1/rank-0.index"));
            CompletableFuture<Thread> taker = new CompletableFuture<>();
            CompletableFuture<ByteBuffer> taken = CompletableFuture.supplyAsync(() -> {
                taker.complete(Thread.currentThread());
                return taking.take("r/steps/1/rank-0.index");
            });
            Thread t = taker.get(60, TimeUnit.SECONDS);
            while (t.getState() != Thread.State.TIMED_WAITING && !taken.isDone()) { // it waits for the read ahead
                Thread.onSpinWait();
            }
            ByteBuffer bytes = ByteBuffer.allocate(16);
            keeping.read("r/steps/1/rank-0.index", bytes);
            // The read ahead's end must wake it with the bytes (it used to wait out its 30 s bound and get none).
            assertSame(bytes, taken.get(120, TimeUnit.SECONDS), "the taker gets the bytes read ahead");
            assertNull(taking.take("r/steps/1/rank-0.index"), "taken once");
            assertEquals(null, rows.takingFor(tier).take("r/steps/2/rank-0.index"), "nothing read ahead for another key");
        }
    }
}
