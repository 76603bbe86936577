package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.apache.arrow.memory.RootAllocator;

/**
 * A checkpoint saved by N ranks keeps its chunk rows in the ranks' indexes (format 5 here, whose MANIFEST holds the
 * few rows of its directory itself; {@link PagedDirectoryProperties} has pages), and a rank restoring it on M
 * ranks (M != N included, cut along any dimension) gets its slice bit-exact while reading the MANIFEST and only the
 * indexes of the savers whose slices overlap its own (and rank 0's, which holds the global blob it restores), each
 * once: counted by a store that records every object read.
 */
class IndexedRowsProperties {
    private static final StoreLayout LAYOUT = new StoreLayout("resharding");

    @Provide
    Arbitrary<ReshardingProperties.Case> cases() {
        return new ReshardingProperties().cases().filter(c -> c.savers() > 1);
    }

    @Property(tries = 40)
    void eachRestoringRankReadsOnlyTheIndexesOfTheSlicesItOverlaps(@ForAll("cases") ReshardingProperties.Case c)
            throws Exception {
        byte[] global = new byte[Math.toIntExact(Tensor.expectedBytes("g", c.dtype(), c.shape()))];
        new Random(c.seed()).nextBytes(global);
        byte[] blob = {1, 2, 3};
        int width = c.dtype().byteSize();
        try (ObjectStore store = new MemoryObjectStore(256L << 20)) {
            List<ShardSpec> saved = new ArrayList<>();
            List<Checkpointer> savers = ReshardingProperties.open(store, c.savers());
            try {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < c.savers(); r++) {
                    ShardSpec s = ReshardingProperties.cut(c.shape(), c.saveDim(), c.savers(), r, c.seed());
                    saved.add(s);
                    handles.add(savers.get(r).save(3, TrainingState.builder()
                            .add(Tensor.sharded("w", c.dtype(), s, ReshardingProperties.slice(global, c.shape(), s, width)))
                            .add(dev.cairn.Blob.of("meta", blob))
                            .build()));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            } finally {
                savers.forEach(Checkpointer::close);
            }
            try (RootAllocator a = new RootAllocator()) {
                var m = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(3)), "m", a);
                assertEquals(ManifestFormat.FORMAT_VERSION, m.formatVersion());
                assertTrue(m.rowsInIndexes(), "a MANIFEST of " + c.savers() + " ranks keeps its rows in their indexes");
            }
            for (int r = 0; r < c.restorers(); r++) {
                ShardSpec want = ReshardingProperties.cut(c.shape(), c.restoreDim(), c.restorers(), r, ~c.seed());
                Map<String, Integer> reads = new ConcurrentHashMap<>();
                ObjectStore counting = new ForwardingObjectStore(store) {
                    @Override
                    public int read(String key, long offset, ByteBuffer dst) throws IOException {
                        if (offset == 0 && key.startsWith(LAYOUT.stepsPrefix())) { // a MANIFEST, page or index read
                            reads.merge(key, 1, Integer::sum);
                        }
                        return super.read(key, offset, dst);
                    }
                };
                Tensor target = Tensor.allocate("w", c.dtype(), want);
                try (Checkpointer restorer = Checkpointer.open(CairnConfig.builder("resharding")
                        .tier(TierConfig.of("mem", counting).keepLast(1)).chunkBytes(ReshardingProperties.CHUNK)
                        .encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(30))
                        .rank(r, c.restorers())
                        // what the restore reads; the rows read ahead at open, when on, are ManifestReadAheadTest's
                        .readRowsAhead(false).build())) {
                    TrainingState restored = restorer.restore(RestoreRequest.latest()
                            .into(TrainingState.builder().add(target).build())).state();
                    assertEquals(ReshardingProperties.slice(global, c.shape(), want, width), ReshardingProperties.concat(target),
                            "slice " + want + " on rank " + r + " of " + c.restorers());
                    assertEquals(ByteBuffer.wrap(blob), ByteBuffer.wrap(restored.blob("meta").toByteArray()));
                }
                Set<Integer> indexesRead = new TreeSet<>();
                reads.forEach((key, n) -> LAYOUT.rankOfIndexKey(key).ifPresent(rank -> {
                    assertEquals(1, n, key + " read once");
                    indexesRead.add(rank);
                }));
                Set<Integer> needed = new TreeSet<>(Set.of(0)); // "meta" comes from the lowest rank that saved it
                Set<Integer> allowed = new TreeSet<>(needed);
                for (int s = 0; s < saved.size(); s++) {
                    if (overlap(saved.get(s), want) > 0) {
                        needed.add(s);
                    }
                    if (overlap(saved.get(s), want) > 0 || saved.get(s).equals(want)) {
                        allowed.add(s);
                    }
                }
                assertTrue(indexesRead.containsAll(needed) && allowed.containsAll(indexesRead), "rank " + r + " wanting "
                        + want + " read the indexes of ranks " + indexesRead + "; its slice overlaps those of " + needed);
                assertEquals(1, reads.getOrDefault(LAYOUT.manifestKey(3), 0), "the MANIFEST read once");
            }
        }
    }

    /** The elements two slices of one tensor share. */
    private static long overlap(ShardSpec a, ShardSpec b) {
        long n = 1;
        for (int d = 0; d < a.offsets().length; d++) {
            long from = Math.max(a.offsets()[d], b.offsets()[d]);
            long to = Math.min(a.offsets()[d] + a.lengths()[d], b.offsets()[d] + b.lengths()[d]);
            n *= Math.max(0, to - from);
        }
        return n;
    }
}
