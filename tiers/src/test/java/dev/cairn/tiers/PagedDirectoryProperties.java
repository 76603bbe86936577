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
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.manifest.PageRow;
import dev.cairn.tiers.internal.manifest.PageTree;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
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
 * Format 5: N savers each save enough tensors that the MANIFEST's directory has pages, and a rank restoring one of
 * them on M ranks (M != N included, cut along any dimension) gets its slice bit-exact while reading the MANIFEST once,
 * exactly the pages that hold a row of a slice it overlaps (or of the global blob's lowest copy), each once, and the
 * indexes of the savers whose slices it overlaps, each once: counted by a store that records every object read, and
 * checked against the directory as stored, read apart.
 */
class PagedDirectoryProperties {
    private static final StoreLayout LAYOUT = new StoreLayout("resharding");

    @Provide
    Arbitrary<ReshardingProperties.Case> cases() {
        return new ReshardingProperties().cases().filter(c -> c.savers() > 1);
    }

    @Property(tries = 25)
    void eachRestoringRankReadsExactlyThePagesAndIndexesOfTheSlicesItOverlaps(
            @ForAll("cases") ReshardingProperties.Case c) throws Exception {
        byte[] global = new byte[Math.toIntExact(Tensor.expectedBytes("g", c.dtype(), c.shape()))];
        new Random(c.seed()).nextBytes(global);
        byte[] blob = {1, 2, 3};
        int width = c.dtype().byteSize();
        int tensors = 3;
        // Tensors of one element a saver that nobody restores, so that the directory has more rows than a MANIFEST holds.
        int fillers = PageTree.MANIFEST_ROWS / c.savers() + 1;
        String wanted = "w" + Math.floorMod(c.seed(), tensors);
        try (ObjectStore store = new MemoryObjectStore(512L << 20)) {
            List<ShardSpec> saved = new ArrayList<>();
            List<Checkpointer> savers = ReshardingProperties.open(store, c.savers());
            try {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < c.savers(); r++) {
                    ShardSpec s = ReshardingProperties.cut(c.shape(), c.saveDim(), c.savers(), r, c.seed());
                    saved.add(s);
                    TrainingState.Builder state = TrainingState.builder();
                    for (int t = 0; t < tensors; t++) {
                        state.add(Tensor.sharded("w" + t, c.dtype(), s, ReshardingProperties.slice(global, c.shape(), s, width)));
                    }
                    ShardSpec one = ShardSpec.split(new long[] {c.savers()}, 0, c.savers(), r);
                    for (int f = 0; f < fillers; f++) {
                        state.add(Tensor.sharded("f" + f, dev.cairn.DType.U8, one, ByteBuffer.allocateDirect(1).put(0, (byte) f)));
                    }
                    handles.add(savers.get(r).save(3, state.add(dev.cairn.Blob.of("meta", blob)).build()));
                }
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            } finally {
                savers.forEach(Checkpointer::close);
            }
            Directory directory = Directory.read(store);
            assertTrue(!directory.pages.isEmpty(), "a directory of " + c.savers() * (tensors + fillers + 1) + " rows has pages");
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
                Tensor target = Tensor.allocate(wanted, c.dtype(), want);
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
                reads.forEach((key, n) -> assertEquals(1, n, key + " read once"));
                assertEquals(1, reads.getOrDefault(LAYOUT.manifestKey(3), 0), "the MANIFEST read once");
                Set<String> pagesRead = new TreeSet<>(reads.keySet());
                pagesRead.retainAll(directory.pages.keySet());
                assertEquals(directory.pagesHolding(wanted, want), pagesRead, "rank " + r + " wanting " + want);
                Set<Integer> indexesRead = new TreeSet<>();
                reads.keySet().forEach(key -> LAYOUT.rankOfIndexKey(key).ifPresent(indexesRead::add));
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
            }
        }
    }

    /** The directory of step 3 as stored, read apart from the engine's reader: the MANIFEST's rows and every page's. */
    private record Directory(List<PageRow> top, Map<String, List<PageRow>> pages, String id) {
        static Directory read(ObjectStore store) throws IOException {
            try (RootAllocator a = new RootAllocator()) {
                Manifest m = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(3)), "MANIFEST", a);
                String id = m.indexed().pages().id();
                Map<String, List<PageRow>> pages = new HashMap<>();
                List<Integer> perLevel = m.indexed().pages().pagesPerLevel();
                for (int level = 1; level <= perLevel.size(); level++) {
                    for (int k = 0; k < perLevel.get(level - 1); k++) {
                        String key = LAYOUT.pageKey(3, id, level, k);
                        pages.put(key, ManifestFormat.readPage(store.readAll(key), key, m, level, k, a));
                    }
                }
                return new Directory(m.indexed().pages().top(), pages, id);
            }
        }

        /**
         * The pages whose rows lead (through pages below them) to a row a restore of {@code want} of {@code name} needs:
         * a slice of it sharing an element with {@code want} (every slice of it when {@code want} has no element), and
         * the lowest rank's copy of the global blob "meta".
         */
        Set<String> pagesHolding(String name, ShardSpec want) {
            Set<String> out = new TreeSet<>();
            for (Map.Entry<String, List<PageRow>> p : pages.entrySet()) {
                for (PageRow leaf : leaves(p.getValue())) {
                    boolean needed = leaf.name().equals(name) && (volume(want) == 0 || overlap(ShardSpec.of(leaf.globalShape(),
                            leaf.low(), leaf.extent()), want) > 0);
                    if (needed || (leaf.name().equals("meta") && leaf.firstRank() == 0)) {
                        out.add(p.getKey());
                    }
                }
            }
            return out;
        }

        /** The rows naming an index under {@code rows}, through every page below. */
        private List<PageRow> leaves(List<PageRow> rows) {
            List<PageRow> out = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            for (PageRow r : rows) {
                if (r.namesIndex()) {
                    out.add(r);
                } else if (seen.add(r.childKey(LAYOUT, 3, id))) {
                    out.addAll(leaves(pages.get(r.childKey(LAYOUT, 3, id))));
                }
            }
            return out;
        }
    }

    private static long volume(ShardSpec s) {
        long v = 1;
        for (long l : s.lengths()) {
            v *= l;
        }
        return v;
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
