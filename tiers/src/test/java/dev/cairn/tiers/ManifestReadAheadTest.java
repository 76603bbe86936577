package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A checkpointer reads each tier's newest MANIFEST ahead, in the background after its open's listing, so that a
 * replacement's restore of that step finds it parsed (and the store client's first read, and the manifest reader's
 * classes, already paid for while the caller built its model). Counted at the store: the restore reads the MANIFEST
 * no more.
 */
class ManifestReadAheadTest {
    static final class CountingStore extends ForwardingObjectStore {
        final String watched;
        final AtomicInteger reads = new AtomicInteger();

        CountingStore(FileSystemObjectStore delegate, String watched) {
            super(delegate);
            this.watched = watched;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (key.equals(watched)) {
                reads.incrementAndGet();
            }
            return super.read(key, offset, dst);
        }
    }

    @Test
    void theNewestManifestIsReadAtOpenAndTheRestoreUsesIt(@TempDir Path dir) throws Exception {
        ByteBuffer w = ByteBuffer.allocateDirect(1 << 20);
        for (int i = 0; i < w.capacity(); i += 4) {
            w.putFloat(i, i * 0.5f);
        }
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk)).build())) {
            cp.save(5, TrainingState.builder().tensor("w", DType.F32, new long[] {w.capacity() / 4}, w).build())
                    .done().get(1, TimeUnit.MINUTES);
        }
        CountingStore store = new CountingStore(new FileSystemObjectStore(dir), new StoreLayout("run1").manifestKey(5));
        try (store; Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", store)).build())) {
            // Waits for the read-ahead; the deadline only bounds a failure (without it this never happens).
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (store.reads.get() == 0 && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            int before = store.reads.get();
            assertTrue(before > 0, "the newest MANIFEST was not read ahead after the open");
            TrainingState into = TrainingState.builder().add(Tensor.allocate("w", DType.F32, (long) (w.capacity() / 4))).build();
            RestoreResult r = cp.restore(RestoreRequest.latest().into(into));
            assertEquals(5, r.step());
            assertEquals(before, store.reads.get(), "the restore read the MANIFEST again");
            byte[] expected = new byte[w.capacity()];
            w.get(0, expected);
            byte[] restored = new byte[w.capacity()];
            r.state().tensor("w").buffers().get(0).get(0, restored);
            assertArrayEquals(expected, restored);
        }
    }
}
