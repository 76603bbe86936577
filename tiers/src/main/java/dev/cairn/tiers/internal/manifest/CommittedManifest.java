package dev.cairn.tiers.internal.manifest;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiFunction;

/**
 * The one way to the chunk rows of a committed step: the MANIFEST, and for a MANIFEST that keeps them in the rank
 * indexes ({@link IndexedRows}) the indexes it references, each read by its key, refused unless its bytes are the ones
 * the MANIFEST committed (length and SHA-256), and checked to hold exactly the entries the MANIFEST lists for its
 * rank. From format 5 the entries and the index references themselves are in the pages of a directory under the
 * MANIFEST ({@link Pages}): a restoring rank first asks for the pages of its slices ({@link #select}, each page refused
 * unless it is the one its row names), then for the ranks whose slices it needs ({@link #withRanks}); tools, GC and
 * promotion ask for all of them ({@link #whole}).
 */
public final class CommittedManifest {
    private final ObjectStore store;
    private final StoreLayout layout;
    private final String where;
    private final BiFunction<ByteBuffer, String, Manifest> parser;
    private final org.apache.arrow.memory.BufferAllocator allocator;
    private final ReadAhead ahead;

    /**
     * @param where     names the store in errors (a tier's name, a store's location)
     * @param parser    parses an index's bytes read from the key it is given ({@link ManifestFormat#read})
     * @param allocator parses the pages of a format-5 directory ({@link ManifestFormat#readPage})
     */
    public CommittedManifest(ObjectStore store, StoreLayout layout, String where, BiFunction<ByteBuffer, String, Manifest> parser,
                             org.apache.arrow.memory.BufferAllocator allocator) {
        this(store, layout, where, parser, allocator, ReadAhead.NONE);
    }

    /** As above, with pages and rank indexes read ahead ({@link ReadAhead}): taken from or kept in {@code ahead}. */
    public CommittedManifest(ObjectStore store, StoreLayout layout, String where, BiFunction<ByteBuffer, String, Manifest> parser,
                             org.apache.arrow.memory.BufferAllocator allocator, ReadAhead ahead) {
        this.store = store;
        this.layout = layout;
        this.where = where;
        this.parser = parser;
        this.allocator = allocator;
        this.ahead = ahead;
    }

    /**
     * The bytes of pages and rank indexes of committed steps read before they are asked for (a replacement reads its
     * own rows while it builds its model, {@code HighestCommitted}), by key: a read takes them instead of asking the
     * store, once. Bytes taken that are not the ones named (length and digest) are read again from the store, so a
     * read ahead never makes a restore fail that a read would not.
     */
    @FunctionalInterface
    public interface ReadAhead {
        ReadAhead NONE = key -> null;

        /** The bytes read ahead for {@code key}, given up by this call (waiting for a read of it still running); null when there are none. */
        ByteBuffer take(String key);

        /**
         * A read of {@code key} is about to start: a taker's read of {@code key} waits for its end. False: it must not
         * (a read ahead that a restore has overtaken), and the reader stops with an {@link IOException}. By default
         * true: a reader that only takes.
         */
        default boolean reading(String key) {
            return true;
        }

        /** The end of the read of {@code key}: its bytes, or null if it failed. By default nothing is kept. */
        default void read(String key, ByteBuffer bytes) {
        }
    }

    /**
     * What a reader wants of one level of a format-5 directory: of the rows it is given (all of one level, those of
     * the pages it read), the ones to follow, down to the entries and their rank indexes ({@link #select}).
     */
    @FunctionalInterface
    public interface PageChoice {
        /** Every row: the whole directory. */
        PageChoice ALL = rows -> rows;

        List<PageRow> wanted(List<PageRow> rows);
    }

    /**
     * The MANIFEST of {@code step} in {@code store}, with every entry carrying its chunks (its rank indexes read when it
     * keeps its rows there): for tools and tests that read a store without a running checkpointer's cache.
     */
    public static Manifest load(ObjectStore store, StoreLayout layout, long step, org.apache.arrow.memory.BufferAllocator allocator)
            throws IOException {
        String key = layout.manifestKey(step);
        Manifest global = ManifestFormat.load(store, key, key, allocator);
        return new CommittedManifest(store, layout, "store", (bytes, label) -> ManifestFormat.read(bytes, label, allocator),
                allocator).whole(global);
    }

    /**
     * {@code global} with every entry carrying its chunks: itself when its rows are inline, else every index read (and
     * every page first, for a format-5 MANIFEST).
     */
    public Manifest whole(Manifest global) throws IOException {
        if (global.complete()) {
            return global;
        }
        if (!global.paged()) {
            return withRanks(global, allRanks(global.worldSize()));
        }
        Manifest listed = select(global, PageChoice.ALL);
        Set<Integer> ranks = new TreeSet<>();
        for (EntryRecord e : listed.entries()) {
            ranks.add(e.rank());
        }
        Map<Integer, Manifest> indexes = new HashMap<>();
        Map<Integer, List<EntryRecord>> byRank = entriesByRank(listed);
        for (int rank : ranks) {
            Manifest index = index(listed, rank);
            checkRows(listed, rank, index, byRank.get(rank)); // every page read: exactly the rank's entries, any order
            indexes.put(rank, index);
        }
        if (listed.entries().size() != global.indexed().pages().entryCount()) {
            throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " states "
                    + global.indexed().pages().entryCount() + " entries but its directory's pages name "
                    + listed.entries().size());
        }
        Manifest resolved = resolve(listed, indexes);
        List<EntryRecord> rankMajor = new ArrayList<>(resolved.entries());
        rankMajor.sort(java.util.Comparator.comparingInt(EntryRecord::rank)); // stable: each rank's in the order it saved
        return resolved.withEntries(rankMajor).withIndexed(listed.indexed().resolved(true));
    }

    /**
     * A format-5 MANIFEST ({@link Manifest#paged}) with the entries {@code choice} leads to, each from the row naming
     * its rank index, and those indexes' references known: from the MANIFEST's rows down, at each level the pages that
     * the rows {@code choice} wants name are read, each once, each refused unless its bytes are the ones named (length
     * and SHA-256) and it is that page of this step. {@code global} itself for any other manifest, and for one whose
     * entries all carry their chunks already (the committing process's).
     */
    public Manifest select(Manifest global, PageChoice choice) throws IOException {
        return select(global, choice, null);
    }

    /** {@link #select}, handing each page read, by key, to {@code pages} (its bytes checked) unless it is null. */
    public Manifest select(Manifest global, PageChoice choice, java.util.function.BiConsumer<String, ByteBuffer> pages)
            throws IOException {
        if (!global.paged() || global.complete()) {
            return global; // not paged, or every entry known with its chunks already (as its committer holds it)
        }
        List<EntryRecord> entries = new ArrayList<>();
        IndexRef[] refs = new IndexRef[global.worldSize()];
        List<PageRow> level = global.indexed().pages().top();
        Set<String> read = new java.util.HashSet<>();
        while (!level.isEmpty()) {
            Map<String, PageRow> children = new java.util.LinkedHashMap<>();
            for (PageRow r : choice.wanted(level)) {
                if (r.number() >= global.worldSize() && r.namesIndex()) {
                    throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " names the index of"
                            + " rank " + r.number() + " in a world of " + global.worldSize());
                }
                if (r.namesIndex()) {
                    IndexRef ref = r.indexRef();
                    if (refs[r.number()] != null && !refs[r.number()].equals(ref)) {
                        throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " names two"
                                + " different rank indexes " + ref.name() + " (" + refs[r.number()].digest() + " and "
                                + ref.digest() + ")");
                    }
                    refs[r.number()] = ref;
                    entries.add(r.entry());
                    continue;
                }
                String key = r.childKey(layout, global.step(), global.indexed().pages().id());
                PageRow seen = children.putIfAbsent(key, r);
                if (seen != null && !seen.sameChild(r)) {
                    throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " names page "
                            + key + " with two different lengths or digests");
                }
            }
            List<PageRow> below = new ArrayList<>();
            for (Map.Entry<String, PageRow> child : children.entrySet()) {
                if (!read.add(child.getKey())) {
                    continue;
                }
                below.addAll(page(global, child.getKey(), child.getValue(), pages));
            }
            level = below;
        }
        return new Manifest(global.formatVersion(), global.contentHash(), global.run(), global.step(), global.worldSize(),
                global.rank(), global.createdAt(), global.chunkBytes(), entries,
                global.indexed().withIndexes(java.util.Arrays.asList(refs)).resolved(false));
    }

    /** The rows of the page at {@code key}, which {@code named} names: read, checked against it, parsed. */
    private List<PageRow> page(Manifest global, String key, PageRow named,
                               java.util.function.BiConsumer<String, ByteBuffer> sink) throws IOException {
        String label = where + ":" + key;
        ByteBuffer bytes;
        try {
            bytes = readCommitted(key, new IndexRef(0, named.length(), named.digest()));
        } catch (java.nio.file.NoSuchFileException gone) {
            store.stat(layout.manifestKey(global.step())); // the whole step retired since it was read: NoSuchFile
            throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " cannot be read: page "
                    + key + " of its MANIFEST's directory is missing");
        }
        String mismatch = new IndexRef(0, named.length(), named.digest()).mismatch(bytes);
        if (mismatch != null) {
            throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " cannot be trusted: page "
                    + key + " of its MANIFEST's directory " + mismatch.replace("the MANIFEST committed", "its directory names")
                    + "; it was replaced after the commit, and its rows are not the ones committed");
        }
        List<PageRow> rows = ManifestFormat.readPage(bytes, label, global, named.level(), named.number(), allocator);
        if (sink != null) {
            sink.accept(key, bytes);
        }
        return rows;
    }

    /**
     * {@code global} with the entries of {@code ranks} carrying their chunks (the others keep none): itself when its
     * rows are inline; else the indexes of those ranks are read, only those, and in format 5 first the pages that may
     * hold their rows. The result is {@link Manifest#complete} only when every rank was asked for (never in format 5).
     */
    public Manifest withRanks(Manifest global, Set<Integer> ranks) throws IOException {
        if (global.complete()) {
            return global;
        }
        for (int rank : ranks) {
            if (rank < 0 || rank >= global.worldSize()) {
                throw new IllegalArgumentException("rank " + rank + " of a world of " + global.worldSize());
            }
        }
        if (global.paged() && global.entries().isEmpty()) {
            // Format 5, as stored (no page read yet): the rows, and the references to the indexes, are in the pages:
            // only those that may hold a row of one of these ranks are read. A selection made already is kept.
            global = select(global, rows -> rows.stream().filter(r -> ranks.stream().anyMatch(r::mayHoldRank)).toList());
        }
        Map<Integer, List<EntryRecord>> byRank = global.paged() ? entriesByRank(global) : Map.of();
        Map<Integer, Manifest> indexes = new HashMap<>();
        for (int rank : ranks) {
            if (global.paged() && !byRank.containsKey(rank)) {
                continue; // a rank that saved no entry: no row names its index
            }
            indexes.put(rank, index(global, rank));
        }
        return resolve(global, indexes);
    }

    /**
     * Every chunk hash a restore of {@code global}'s step may read (its chunks and the bases of differential ones), as
     * {@link Manifest#referencedHashes} of the whole manifest, without keeping it: when the rows are in the rank
     * indexes, each index is read, checked and let go in turn, so what is held at once is the answer and one index.
     */
    public Set<String> referencedHashes(Manifest global) throws IOException {
        if (global.complete()) {
            return global.referencedHashes();
        }
        if (global.paged()) {
            global = select(global, PageChoice.ALL);
        }
        Map<Integer, List<EntryRecord>> byRank = entriesByRank(global);
        Set<String> out = new java.util.LinkedHashSet<>();
        for (int rank = 0; rank < global.worldSize(); rank++) {
            if (global.paged() && !byRank.containsKey(rank)) {
                continue; // a rank that saved no entry: no row names its index
            }
            Manifest index = index(global, rank);
            checkRows(global, rank, index, byRank.getOrDefault(rank, List.of()));
            out.addAll(index.referencedHashes());
        }
        return out;
    }

    /** Rank {@code rank}'s index of {@code global}'s step, read and checked against {@code global}. */
    private Manifest index(Manifest global, int rank) throws IOException {
        IndexRef ref = global.indexed().indexes().get(rank);
        if (ref == null) {
            throw new IllegalStateException("rank " + rank + "'s index of step " + global.step() + " is named by no page read:"
                    + " select the pages of its entries first");
        }
        String key = layout.indexKey(global.step(), rank);
        String label = where + ":" + key;
        ByteBuffer bytes;
        try {
            bytes = readCommitted(key, ref);
        } catch (java.nio.file.NoSuchFileException gone) {
            // Retention removes the MANIFEST first, then the indexes: with the MANIFEST gone too, the step was retired
            // since it was read (a NoSuchFileException, as for the MANIFEST); with it there, the index is lost.
            store.stat(layout.manifestKey(global.step()));
            throw new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " cannot be read: rank"
                    + " index " + key + ", which its MANIFEST commits, is missing");
        }
        String mismatch = ref.mismatch(bytes);
        if (mismatch != null) {
            throw replaced(global, key, mismatch);
        }
        return parser.apply(bytes, label);
    }

    /**
     * The object at {@code key}, which what names it says is {@code length} bytes: one GET of one byte more, no stat
     * first (thousands of restoring ranks read a step's pages and indexes at once, in one prefix). What comes back is
     * checked against the name's length and digest by the caller: a longer object shows as one byte too many.
     */
    private ByteBuffer readCommitted(String key, IndexRef named) throws IOException {
        ByteBuffer taken = ahead.take(key);
        if (taken != null && named.mismatch(taken.duplicate()) == null) {
            return taken;
        }
        ByteBuffer dst = ByteBuffer.allocate((int) Math.min(named.length() + 1, ManifestFormat.MAX_BYTES + 1));
        if (!ahead.reading(key)) {
            throw new IOException("the read ahead of " + key + " stopped: a restore began, which reads it itself");
        }
        try {
            store.read(key, 0, dst);
        } catch (IOException | RuntimeException e) {
            ahead.read(key, null);
            throw e;
        }
        dst.flip();
        ahead.read(key, dst.asReadOnlyBuffer());
        return dst;
    }

    private CheckpointException replaced(Manifest global, String key, String mismatch) {
        return new CheckpointException(Reason.CORRUPT, "step " + global.step() + " in " + where + " cannot be trusted: rank index "
                + key + " " + mismatch + "; it was replaced after the commit (another save of the same step, or a"
                + " copy from elsewhere), and its rows are not the ones committed");
    }

    /**
     * {@code global} with the entries of the ranks in {@code indexes} (parsed indexes of its step, by rank) carrying the
     * chunks their index lists. Each index must be of this run, step, world and rank and list exactly the entries
     * {@code global} lists for its rank, in order (CORRUPT otherwise). The bytes must have been checked against the
     * MANIFEST's references already ({@link IndexRef#mismatch}).
     */
    public static Manifest resolve(Manifest global, Map<Integer, Manifest> indexes) {
        if (global.complete()) {
            return global;
        }
        if (global.paged()) {
            return resolveSelected(global, indexes);
        }
        Map<Integer, List<EntryRecord>> byRank = entriesByRank(global);
        Map<Integer, List<EntryRecord>> rows = new HashMap<>();
        indexes.forEach((rank, index) -> rows.put(rank, checkRows(global, rank, index, byRank.getOrDefault(rank, List.of()))));
        Map<Integer, Integer> next = new HashMap<>();
        List<EntryRecord> entries = new ArrayList<>(global.entries().size());
        for (EntryRecord e : global.entries()) {
            List<EntryRecord> own = rows.get(e.rank());
            entries.add(own == null ? e : own.get(next.merge(e.rank(), 1, Integer::sum) - 1));
        }
        boolean all = indexes.keySet().containsAll(allRanks(global.worldSize()));
        return new Manifest(global.formatVersion(), global.contentHash(), global.run(), global.step(), global.worldSize(),
                global.rank(), global.createdAt(), global.chunkBytes(), entries, global.indexed().resolved(all));
    }

    /**
     * {@code selected} (a format-5 MANIFEST with the entries of the pages read) with the entries of the ranks in
     * {@code indexes} carrying their chunks: each index must be of this step and rank and list each of those entries
     * as its page row does (the pages read may name only some of a rank's entries). Never resolved: {@link #whole}
     * says so once every page and index was read.
     */
    private static Manifest resolveSelected(Manifest selected, Map<Integer, Manifest> indexes) {
        Map<Integer, Map<String, EntryRecord>> rows = new HashMap<>();
        Map<String, Integer> saveOrder = new HashMap<>();
        indexes.forEach((rank, index) -> {
            Map<String, EntryRecord> byName = new HashMap<>();
            List<EntryRecord> own = checked(selected, rank, index).entries();
            for (int i = 0; i < own.size(); i++) {
                byName.put(own.get(i).name(), own.get(i));
                saveOrder.put(rank + "/" + own.get(i).name(), i);
            }
            rows.put(rank, byName);
        });
        List<EntryRecord> entries = new ArrayList<>(selected.entries().size());
        for (EntryRecord e : selected.entries()) {
            Map<String, EntryRecord> own = rows.get(e.rank());
            if (own == null) {
                entries.add(e);
                continue;
            }
            EntryRecord row = own.get(e.name());
            if (row == null || !e.sameEntryAs(row)) {
                throw new CheckpointException(Reason.CORRUPT, "rank index " + StoreLayout.indexName(e.rank()) + " of step "
                        + selected.step() + " does not list entry '" + e.name() + "' as its MANIFEST's directory does");
            }
            entries.add(row);
        }
        // The directory orders entries by name; a restore hands them back in the order they were saved (each rank's
        // index keeps it), as from a MANIFEST that lists them: by place in the index, then rank.
        entries.sort(java.util.Comparator.comparingInt((EntryRecord e) -> saveOrder.getOrDefault(e.rank() + "/" + e.name(),
                Integer.MAX_VALUE)).thenComparingInt(EntryRecord::rank));
        return new Manifest(selected.formatVersion(), selected.contentHash(), selected.run(), selected.step(),
                selected.worldSize(), selected.rank(), selected.createdAt(), selected.chunkBytes(), entries,
                selected.indexed().resolved(false));
    }

    private static Map<Integer, List<EntryRecord>> entriesByRank(Manifest global) {
        Map<Integer, List<EntryRecord>> byRank = new HashMap<>();
        for (EntryRecord e : global.entries()) {
            byRank.computeIfAbsent(e.rank(), r -> new ArrayList<>()).add(e);
        }
        return byRank;
    }

    /**
     * The entries of {@code index}, checked to be of {@code global}'s run, step, world and rank {@code rank}, and to be
     * exactly {@code expected} (what the MANIFEST lists for that rank), in order: CORRUPT otherwise.
     */
    private static List<EntryRecord> checkRows(Manifest global, int rank, Manifest index, List<EntryRecord> expected) {
        List<EntryRecord> rows = checked(global, rank, index).entries();
        if (rows.size() != expected.size()) {
            throw new CheckpointException(Reason.CORRUPT, "rank index " + StoreLayout.indexName(rank) + " of step "
                    + global.step() + " lists " + rows.size() + " entries where its MANIFEST lists " + expected.size());
        }
        if (global.paged()) {
            // The directory orders a rank's entries by name: the index lists each of them, in its own order.
            resolveSelected(global.withEntries(expected), Map.of(rank, index));
            return rows;
        }
        for (int i = 0; i < rows.size(); i++) {
            if (!expected.get(i).sameEntryAs(rows.get(i))) {
                throw new CheckpointException(Reason.CORRUPT, "rank index " + StoreLayout.indexName(rank) + " of step "
                        + global.step() + " does not list entry '" + expected.get(i).name() + "' as its MANIFEST does");
            }
        }
        return rows;
    }

    private static Manifest checked(Manifest global, int rank, Manifest index) {
        if (!index.run().equals(global.run()) || index.step() != global.step() || index.worldSize() != global.worldSize()
                || index.rank() != rank || index.contentHash() != global.contentHash() || index.rowsInIndexes()) {
            throw new CheckpointException(Reason.CORRUPT, "rank index " + StoreLayout.indexName(rank) + " of step "
                    + global.step() + " is of run " + index.run() + " step " + index.step() + " rank " + index.rank() + " of "
                    + index.worldSize() + " (" + index.contentHash().tag() + "), not of its MANIFEST's run " + global.run()
                    + " rank " + rank + " of " + global.worldSize() + " (" + global.contentHash().tag() + ")");
        }
        return index;
    }

    private static Set<Integer> allRanks(int world) {
        Set<Integer> all = new TreeSet<>();
        for (int r = 0; r < world; r++) {
            all.add(r);
        }
        return all;
    }
}
