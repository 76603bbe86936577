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
        final java.util.function.Predicate<String> watched;
        final AtomicInteger reads = new AtomicInteger();
        final java.util.Map<String, AtomicInteger> byKey = new java.util.concurrent.ConcurrentHashMap<>();

        CountingStore(FileSystemObjectStore delegate, String watched) {
            this(delegate, watched::equals);
        }

        CountingStore(FileSystemObjectStore delegate, java.util.function.Predicate<String> watched) {
            super(delegate);
            this.watched = watched;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (watched.test(key)) {
                reads.incrementAndGet();
                byKey.computeIfAbsent(key, k -> new AtomicInteger()).incrementAndGet();
            }
            return super.read(key, offset, dst);
        }

        int readsOf(String key) {
            AtomicInteger n = byKey.get(key);
            return n == null ? 0 : n.get();
        }
    }

    /**
     * A replacement of rank 2 of 3 (same world) also reads ahead its own rank index and rank 0's (the entries saved
     * once for all ranks), and its restore takes those bytes instead of reading them again; still bit-exact.
     */
    @Test
    void aReplacementReadsItsOwnAndRankZerosIndexesAheadAndTheRestoreUsesThem(@TempDir Path dir) throws Exception {
        StoreLayout layout = new StoreLayout("ranks");
        long[] global = {96, 256};
        java.util.function.IntFunction<TrainingState> state = r -> {
            dev.cairn.ShardSpec shard = dev.cairn.ShardSpec.split(global, 0, 3, r);
            ByteBuffer w = ByteBuffer.allocateDirect((int) (shard.lengths()[0] * global[1] * 4)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; w.hasRemaining(); i++) {
                w.putFloat(r * 1e6f + i);
            }
            return TrainingState.builder().add(Tensor.sharded("w", DType.F32, shard, w.flip()))
                    .add(dev.cairn.Blob.ofUtf8("config", "lr=0.1")).build();
        };
        FileSystemObjectStore saved = new FileSystemObjectStore(dir);
        java.util.function.IntFunction<dev.cairn.CairnConfig> config = r -> dev.cairn.CairnConfig.builder("ranks")
                .tier(TierConfig.of("disk", saved)).chunkBytes(16 << 10).stagingBytes(16L << 20)
                .encoderThreads(1).deadline(java.time.Duration.ofSeconds(30)).rank(r, 3).build();
        java.util.List<Checkpointer> ranks = new java.util.ArrayList<>();
        try {
            java.util.List<dev.cairn.CheckpointHandle> saves = new java.util.ArrayList<>();
            for (int r = 0; r < 3; r++) {
                ranks.add(Checkpointer.open(config.apply(r)));
                saves.add(ranks.get(r).save(4, state.apply(r)));
            }
            for (dev.cairn.CheckpointHandle h : saves) {
                h.done().get(1, TimeUnit.MINUTES);
            }
        } finally {
            ranks.forEach(Checkpointer::close);
            saved.close();
        }
        String own = layout.indexKey(4, 2);
        String zero = layout.indexKey(4, 0);
        CountingStore store = new CountingStore(new FileSystemObjectStore(dir), k -> k.endsWith(".index"));
        dev.cairn.CairnConfig replacement = dev.cairn.CairnConfig.builder("ranks").tier(TierConfig.of("disk", store))
                .chunkBytes(16 << 10).stagingBytes(16L << 20).encoderThreads(1).deadline(java.time.Duration.ofSeconds(30))
                .rank(2, 3).build();
        try (store; Checkpointer cp = Checkpointer.open(replacement)) {
            // Waits for the read-ahead; the deadline only bounds a failure (without it this never happens).
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((store.readsOf(own) == 0 || store.readsOf(zero) == 0) && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            assertEquals(1, store.readsOf(own), "rank 2's index read ahead once");
            assertEquals(1, store.readsOf(zero), "rank 0's index read ahead once");
            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertEquals(4, r.step());
            assertEquals(2, store.reads.get(), "the restore read an index again: " + store.byKey);
            Fixtures.assertSameState(state.apply(2), r.state());
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
