package dev.cairn.tiers.internal.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.ShardSpec;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Format 5: the directory of a MANIFEST of several ranks, written by {@link PageTree} into pages of a few rows (several
 * levels here), read back whole or, by {@link CommittedManifest#select}, only along the pages a choice leads to; a
 * page replaced after the commit is refused naming it.
 */
class PageTreeTest {
    private static final int WORLD = 10;
    private static final long ROWS = 1000;
    private static final StoreLayout LAYOUT = new StoreLayout("paged");
    private final RootAllocator allocator = new RootAllocator();
    private final ObjectStore store = new MemoryObjectStore(64L << 20);

    @AfterEach
    void close() throws Exception {
        store.close();
        allocator.close();
    }

    /** Rank {@code rank}'s index of step 1: its row slice of three tensors, a per-rank blob, and (rank 0) a global blob. */
    private static Manifest index(int rank) {
        List<EntryRecord> entries = new ArrayList<>();
        for (String name : List.of("adam.m", "adam.v", "weights")) {
            ShardSpec s = ShardSpec.split(new long[] {ROWS, 4}, 0, WORLD, rank);
            long bytes = s.lengths()[0] * 4 * 4;
            entries.add(new EntryRecord(name, true, DType.F32, s.lengths(), s.globalShape(), s.offsets(), false, bytes, rank,
                    List.of(new ChunkRef(0, bytes, hash(name, rank), "zstd", bytes / 2))));
        }
        entries.add(new EntryRecord("rng", false, null, null, null, null, true, 3, rank,
                List.of(new ChunkRef(0, 3, hash("rng", rank), "raw", 3))));
        if (rank == 0) {
            entries.add(new EntryRecord("config", false, null, null, null, null, false, 5, 0,
                    List.of(new ChunkRef(0, 5, hash("config", 0), "raw", 5))));
        }
        return new Manifest(ManifestFormat.FORMAT_VERSION, "paged", 1, WORLD, rank, Instant.EPOCH, 1 << 20, entries);
    }

    private static String hash(String name, int rank) {
        return String.format("%032x", (long) (name.hashCode() * 31 + rank) & Long.MAX_VALUE);
    }

    /** Writes every index, the pages and the MANIFEST as rank 0's commit would; returns the directory built. */
    private PageTree.Built commit(int rowsPerPage) throws IOException {
        List<IndexRef> refs = new ArrayList<>();
        List<EntryRecord> all = new ArrayList<>();
        for (int r = 0; r < WORLD; r++) {
            byte[] bytes = ManifestFormat.write(index(r), "index", allocator);
            store.put(LAYOUT.indexKey(1, r), ByteBuffer.wrap(bytes));
            refs.add(IndexRef.of(r, ByteBuffer.wrap(bytes)));
            all.addAll(index(r).entries());
        }
        Manifest merged = new Manifest(ManifestFormat.FORMAT_VERSION, "paged", 1, WORLD, 0, Instant.EPOCH, 1 << 20, all);
        PageTree.Built built = PageTree.build(merged, refs, rowsPerPage, rowsPerPage, allocator);
        List<String> keys = built.keys(LAYOUT);
        for (int i = 0; i < keys.size(); i++) {
            store.put(keys.get(i), ByteBuffer.wrap(built.pages().get(i).bytes()));
        }
        store.put(LAYOUT.manifestKey(1), ByteBuffer.wrap(built.manifest()));
        return built;
    }

    private CommittedManifest reader(ObjectStore from) {
        return new CommittedManifest(from, LAYOUT, "mem", (b, label) -> ManifestFormat.read(b, label, allocator), allocator);
    }

    private Manifest global() throws IOException {
        return ManifestFormat.load(store, LAYOUT.manifestKey(1), "MANIFEST", allocator);
    }

    @Test
    void aDirectoryOfSeveralLevelsReadsBackWholeAndNamesEveryChunk() throws Exception {
        PageTree.Built built = commit(4);
        assertTrue(built.committed().indexed().pages().pagesPerLevel().size() >= 2, "pages of 4 rows: several levels "
                + built.committed().indexed().pages().pagesPerLevel());
        Manifest global = global();
        assertTrue(global.paged() && !global.complete() && global.entries().isEmpty());
        assertEquals(WORLD * 4 + 1, global.entryCount(), "stated by the MANIFEST without reading a page");
        assertEquals(built.committed().rawBytes(), global.rawBytes());
        assertEquals(built.committed().chunkCount(), global.chunkCount());
        Manifest whole = reader(store).whole(global);
        assertTrue(whole.complete());
        Set<String> expected = new HashSet<>();
        for (int r = 0; r < WORLD; r++) {
            expected.addAll(index(r).referencedHashes());
        }
        assertEquals(expected, whole.referencedHashes());
        assertEquals(expected, reader(store).referencedHashes(global));
        assertEquals(WORLD * 4 + 1, whole.entries().size());
        assertEquals(built.committed().indexed().pages().keys(LAYOUT, 1), built.keys(LAYOUT),
                "every page key is known from the MANIFEST alone");
    }

    @Test
    void aChoiceReadsOnlyThePagesOnItsWayEachOnce() throws Exception {
        commit(4);
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
        ShardSpec want = ShardSpec.split(new long[] {ROWS, 4}, 0, WORLD, 7); // exactly rank 7's rows
        Manifest selected = reader(counting).select(global(), rows -> rows.stream()
                .filter(r -> "weights".equals(r.name()) && r.overlaps(want)).toList());
        assertEquals(1, selected.entries().size(), selected.entries().toString());
        assertEquals(7, selected.entries().get(0).rank());
        assertEquals(null, selected.indexed().indexes().get(3), "no page read names rank 3's index");
        assertEquals(null, selected.indexed().indexes().get(7).mismatch(store.readAll(LAYOUT.indexKey(1, 7))));
        int levels = global().indexed().pages().pagesPerLevel().size();
        assertEquals(levels, reads.size(), "one page a level: " + reads);
        assertTrue(reads.values().stream().allMatch(n -> n == 1), reads.toString());
        Manifest resolved = reader(counting).withRanks(selected, Set.of(7));
        assertEquals(index(7).entries().get(2).chunks(), resolved.entries().get(0).chunks());
        assertFalse(resolved.complete());
    }

    /**
     * Pages and indexes read ahead are taken instead of read (each once), and bytes taken that are not the ones named
     * (a short or replaced read ahead) are read again from the store instead of failing the read.
     */
    @Test
    void bytesReadAheadAreTakenOnceAndWrongOnesAreReadAgain() throws Exception {
        commit(4);
        Map<String, ByteBuffer> kept = new ConcurrentHashMap<>();
        CommittedManifest.ReadAhead keeping = new CommittedManifest.ReadAhead() {
            @Override
            public ByteBuffer take(String key) {
                return null;
            }

            @Override
            public void read(String key, ByteBuffer bytes) {
                kept.put(key, bytes);
            }
        };
        CommittedManifest.ReadAhead taking = kept::remove;
        Manifest ahead = new CommittedManifest(store, LAYOUT, "mem", (b, label) -> ManifestFormat.read(b, label, allocator),
                allocator, keeping).withRanks(global(), Set.of(7));
        assertTrue(kept.containsKey(LAYOUT.indexKey(1, 7)) && kept.size() > 1, kept.keySet().toString());
        String oneKept = kept.keySet().stream().filter(k -> !k.equals(LAYOUT.indexKey(1, 7))).findFirst().orElseThrow();
        kept.put(oneKept, ByteBuffer.wrap(new byte[] {1, 2, 3})); // not the page named: read again
        Map<String, Integer> reads = new ConcurrentHashMap<>();
        ObjectStore counting = new ForwardingObjectStore(store) {
            @Override
            public int read(String key, long offset, ByteBuffer dst) throws IOException {
                reads.merge(key, 1, Integer::sum);
                return super.read(key, offset, dst);
            }
        };
        Manifest taken = new CommittedManifest(counting, LAYOUT, "mem", (b, label) -> ManifestFormat.read(b, label, allocator),
                allocator, taking).withRanks(global(), Set.of(7));
        assertEquals(Map.of(oneKept, 1), reads, "only the wrong bytes were read again");
        assertEquals(ahead.entries().stream().map(e -> e.rank() + "/" + e.name() + e.chunks()).toList(),
                taken.entries().stream().map(e -> e.rank() + "/" + e.name() + e.chunks()).toList());
        assertTrue(kept.isEmpty(), "each taken once");
    }

    @Test
    void aPageReplacedAfterTheCommitIsRefusedNamingIt() throws Exception {
        PageTree.Built built = commit(4);
        String key = built.keys(LAYOUT).get(0);
        // Another page of the same directory under this page's key: a valid page, but not the bytes committed there.
        store.put(key, ByteBuffer.wrap(built.pages().get(1).bytes()));
        CheckpointException e = assertThrows(CheckpointException.class, () -> reader(store).whole(global()));
        assertEquals(Reason.CORRUPT, e.reason());
        assertTrue(e.getMessage().contains(key) && e.getMessage().contains("replaced after the commit"), e.getMessage());
        store.delete(key);
        CheckpointException lost = assertThrows(CheckpointException.class, () -> reader(store).whole(global()));
        assertTrue(lost.getMessage().contains(key) && lost.getMessage().contains("missing"), lost.getMessage());
    }

    @Test
    void aPageIsNotAManifestAndAMovedPageIsRefused() throws Exception {
        PageTree.Built built = commit(4);
        ByteBuffer page = ByteBuffer.wrap(built.pages().get(0).bytes());
        CheckpointException notManifest = assertThrows(CheckpointException.class, () -> ManifestFormat.read(page, "x", allocator));
        assertTrue(notManifest.getMessage().contains("page of a MANIFEST's directory"), notManifest.getMessage());
        CheckpointException moved = assertThrows(CheckpointException.class, () -> ManifestFormat.readPage(page.duplicate(),
                "x", built.committed(), 1, 1, allocator));
        assertTrue(moved.getMessage().contains("is not page"), moved.getMessage());
    }

    @Test
    void entriesThatCannotBeSummarizedStayInTheManifest() throws Exception {
        List<EntryRecord> all = new ArrayList<>();
        List<IndexRef> refs = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            List<EntryRecord> own = new ArrayList<>();
            for (int t = 0; t < 20; t++) { // forty names, one row each: paging them would not make a level smaller
                own.add(new EntryRecord("t" + r + "." + t, true, DType.U8, new long[] {1}, 1, r,
                        List.of(new ChunkRef(0, 1, hash("t" + t, r), "raw", 1))));
            }
            Manifest index = new Manifest(ManifestFormat.FORMAT_VERSION, "paged", 1, 2, r, Instant.EPOCH, 1 << 20, own);
            refs.add(IndexRef.of(r, ByteBuffer.wrap(ManifestFormat.write(index, "index", allocator))));
            all.addAll(own);
        }
        Manifest merged = new Manifest(ManifestFormat.FORMAT_VERSION, "paged", 1, 2, 0, Instant.EPOCH, 1 << 20, all);
        PageTree.Built built = PageTree.build(merged, refs, 4, 4, allocator);
        assertTrue(built.pages().isEmpty());
        assertEquals(40, built.committed().indexed().pages().top().size());
        Manifest read = ManifestFormat.read(ByteBuffer.wrap(built.manifest()), "MANIFEST", allocator);
        assertEquals(40, read.entryCount());
        Map<String, Integer> ranks = new TreeMap<>();
        for (PageRow r : read.indexed().pages().top()) {
            ranks.put(r.name(), r.firstRank());
            assertTrue(r.namesIndex());
        }
        assertEquals(1, ranks.get("t1.7"));
    }
}
