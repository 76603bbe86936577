package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.Progress;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectStore;
import dev.cairn.StoreRef;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.commit.ChunkConfirmation;
import dev.cairn.tiers.internal.commit.CommitPoint;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.StepMarks;
import dev.cairn.tiers.internal.commit.WaitClock;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.IndexRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.manifest.PageTree;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.StoredChunks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One {@link CairnAdmin#copy}: a committed checkpoint into another store in the engine's commit order: every chunk
 * first (as stored, never re-encoded; each decoded and checked against its hash before it is written), then the rank
 * indexes, then the MANIFEST, created by {@link CommitPoint#create} (create-only, an ambiguous answer
 * resolved by reading it back) last. Each put is atomic, so a copy that is interrupted leaves no torn object and no
 * commit, and running it again sends only what is still missing.
 *
 * <p>Each chunk the target does not hold intact comes from the first source whose copy decodes to its hash (through
 * its whole chain in that source for a differential chunk), read whole, as that source stores it: a source other than
 * the one the MANIFEST came from may store it in another form (another codec, or whole where the MANIFEST's source
 * holds a difference). The copy writes that form, with every link of its chain that the target does not hold intact
 * (from the same source), and the MANIFEST it commits records the form the target then holds: codec, stored length,
 * and the chain as the target stores it. Where every chunk is held as the MANIFEST records it, the MANIFEST, its
 * indexes and its pages are copied byte for byte; else they are written again with the forms the target holds (a
 * format-5 directory under new pages).
 *
 * <p>A content key holds one stored form per tier ({@link ChunkForms}), and the target's committed steps record the
 * form it holds. So a chunk the target already holds is never put over in another form: once the target's copy decodes
 * to its hash (through its whole chain for a differential chunk), whatever its form, it is skipped and the MANIFEST
 * records that form. A target whose copy is missing a link, cut short or of other bytes, which no reader can use, gets
 * the verified copy from the sources, like a missing chunk; one the target's store fails to read (a 503, an EIO) is
 * none of these, and the copy stops with STORAGE instead of putting over it ({@code Run#checkThere}). The same check
 * runs when the target already holds this step (this very MANIFEST, or one a copy wrote with the target's forms), so
 * running the copy again repairs a damaged step instead of saying there is nothing to copy; a chunk is then replaced
 * only by a copy in exactly the form the committed MANIFEST records. As a save does with what it reuses, the copy
 * counts on chunks the target wrote recently ({@link #FRESH_FOR}) or that the target's newest committed step names (a
 * collection keeps those); older ones are written again as they are stored ({@link ChunkForms#keep}), which restarts
 * their age for a collector's grace. Right before the MANIFEST it asks the target again for every chunk the step names,
 * sent or skipped, as a save of one rank does: those a collection beside a long copy deleted are sent again, and asked
 * again (a few times at most; then STORAGE, uncommitted).
 *
 * <p>Each rank index, like each chunk, comes from the first source whose copy is good: it parses and is the part of
 * the MANIFEST its rank wrote ({@link RankIndexes}); for a MANIFEST that keeps its chunk rows in the indexes (format 4
 * of several ranks), exactly the bytes it references, and those indexes name the chunks to send. Such an index the
 * target lost or holds replaced is sent again even when the target holds the MANIFEST already. The MANIFEST itself
 * comes from the first source holding a readable one that names this run and step. The indexes are created, not put
 * over another writer's, and given back if the copy loses its MANIFEST create to that writer ({@link IndexPuts}).
 */
final class AdminCopy {
    /**
     * How recently the target must have written a chunk for the copy to count on it instead of sending it again:
     * half the command line's default grace, as a save's {@code SavePipeline#freshFor}.
     */
    static final java.time.Duration FRESH_FOR = CairnConfig.DEFAULT_GC_GRACE.dividedBy(2);
    /** How many times a copy asks the target for every chunk before its MANIFEST, sending what is gone in between. */
    static final int CONFIRMATIONS = 3;

    private final CairnAdmin admin;
    private final StoreLayout layout;
    private final BufferAllocator allocator;
    private final int threads;

    AdminCopy(CairnAdmin admin, StoreLayout layout, BufferAllocator allocator, int threads) {
        this.admin = admin;
        this.layout = layout;
        this.allocator = allocator;
        this.threads = threads;
    }

    /** Copies {@code step} of the run from the admin's stores into the tier {@code to}, named {@code targetName}. */
    CopyReport copy(long step, Tier to, String targetName, Progress progress) throws IOException {
        Stored located = manifest(step);
        List<StoreRef> order = new ArrayList<>();
        order.add(located.source());
        admin.stores().stream().filter(s -> s != located.source()).forEach(order::add);
        Source source = source(located, order);
        Committed there = committedThere(to, targetName, source);
        try (Run run = new Run(step, to, targetName, order, source, progress)) {
            return there != null ? run.repair(there) : run.copy();
        }
    }

    /**
     * The step as the sources hold it: its MANIFEST (the bytes and what they parse to; format 5 with every page of its
     * directory read, from the store the MANIFEST came from, each checked against what names it), those pages by key,
     * the rank indexes (verified, for a MANIFEST that keeps its rows in them; else read when needed) and every entry
     * with its chunks.
     */
    private static final class Source {
        final Stored located;
        final Manifest m;
        final Map<String, ByteBuffer> pages;
        Map<String, ByteBuffer> indexes;
        final Manifest whole;

        Source(Stored located, Manifest m, Map<String, ByteBuffer> pages, Map<String, ByteBuffer> indexes, Manifest whole) {
            this.located = located;
            this.m = m;
            this.pages = pages;
            this.indexes = indexes;
            this.whole = whole;
        }
    }

    private Source source(Stored located, List<StoreRef> order) throws IOException {
        Manifest m = located.manifest();
        Map<String, ByteBuffer> pages = new LinkedHashMap<>();
        if (m.paged()) {
            m = new CommittedManifest(located.source().store(), layout, located.source().location(),
                    (b, label) -> ManifestFormat.read(b, label, allocator), allocator)
                    .select(m, CommittedManifest.PageChoice.ALL, pages::put);
        }
        Manifest whole = m;
        Map<String, ByteBuffer> indexes = null;
        if (m.rowsInIndexes()) {
            // The indexes are chosen first (each the copy the MANIFEST references), and their rows name the chunks.
            indexes = RankIndexes.verified(m, layout, order, allocator);
            Map<Integer, Manifest> parsed = new HashMap<>();
            for (Map.Entry<String, ByteBuffer> index : indexes.entrySet()) {
                parsed.put(layout.rankOfIndexKey(index.getKey()).getAsInt(),
                        ManifestFormat.read(index.getValue().duplicate(), index.getKey(), allocator));
            }
            whole = CommittedManifest.resolve(m, parsed);
            if (m.paged()) {
                whole = whole.withIndexed(whole.indexed().resolved(true)); // every page and index read
            }
        }
        return new Source(located, m, pages, indexes, whole);
    }

    /** The rank indexes of the source's step, each from the first source whose copy is good. */
    private Map<String, ByteBuffer> indexes(Source source, List<StoreRef> order) throws IOException {
        if (source.indexes == null) {
            source.indexes = RankIndexes.verified(source.m, layout, order, allocator);
        }
        return source.indexes;
    }

    /**
     * The step as committed in the target already: its MANIFEST as read (format 5 with its pages read), every entry
     * with its chunks as that MANIFEST records them, and whether it is the source's MANIFEST byte for byte.
     */
    private record Committed(Manifest m, Manifest whole, boolean sourceBytes) {
    }

    /**
     * The step committed in the target, or null when the target holds no MANIFEST of it: this very MANIFEST, or one
     * that commits the same checkpoint with the target's stored forms (a copy wrote it, {@link #files}); CONFLICT for
     * any other.
     */
    private Committed committedThere(Tier to, String targetName, Source source) throws IOException {
        String key = layout.manifestKey(source.m.step());
        ByteBuffer there;
        try {
            there = ManifestFormat.readBytes(to.store(), key, targetName + ":" + key);
        } catch (NoSuchFileException e) {
            return null;
        }
        if (there.equals(source.located.bytes().duplicate().rewind())) {
            return new Committed(source.m, source.whole, true);
        }
        Manifest theirs;
        try {
            theirs = ManifestFormat.read(there.duplicate(), targetName + ":" + key, allocator);
        } catch (CheckpointException e) {
            throw conflict(targetName, key, e);
        }
        if (!theirs.run().equals(layout.run()) || !theirs.sameCommitAs(source.m)) {
            throw conflict(targetName, key, null);
        }
        // The same step number, world and creation time: a copy of this checkpoint, with the target's stored forms
        // where they differ, if it names the same chunks for the same entries.
        CommittedManifest reader = new CommittedManifest(to.store(), layout, targetName,
                (b, label) -> ManifestFormat.read(b, label, allocator), allocator);
        Manifest whole;
        try {
            whole = reader.whole(theirs);
        } catch (CheckpointException e) {
            throw new CheckpointException(e.reason(), targetName + " holds step " + theirs.step() + " as a copy of this"
                    + " checkpoint written with its own stored forms, and it cannot be read there, so the copy cannot"
                    + " repair it: " + e.getMessage(), e);
        }
        if (!sameRows(whole, source.whole)) {
            throw conflict(targetName, key, null);
        }
        return new Committed(theirs.paged() ? reader.select(theirs, CommittedManifest.PageChoice.ALL) : theirs, whole,
                false);
    }

    private static CheckpointException conflict(String targetName, String key, Throwable cause) {
        return new CheckpointException(Reason.CONFLICT, targetName + " already holds a different commit of " + key
                + ": refusing to overwrite it", cause);
    }

    /** Whether {@code a} and {@code b} hold the same entries with the same chunks, whatever their stored forms. */
    private static boolean sameRows(Manifest a, Manifest b) {
        if (a.entries().size() != b.entries().size()) {
            return false;
        }
        Map<String, EntryRecord> byName = new HashMap<>();
        for (EntryRecord e : b.entries()) {
            byName.put(e.rank() + "/" + e.name(), e);
        }
        for (EntryRecord e : a.entries()) {
            EntryRecord o = byName.get(e.rank() + "/" + e.name());
            if (o == null || !e.sameEntryAs(o) || e.chunks().size() != o.chunks().size()) {
                return false;
            }
            for (int i = 0; i < e.chunks().size(); i++) {
                ChunkRef x = e.chunks().get(i);
                ChunkRef y = o.chunks().get(i);
                if (x.offset() != y.offset() || x.rawLength() != y.rawLength() || !x.hash().equals(y.hash())
                        || x.errorBound() != y.errorBound()) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * What a copy writes for the step, besides its chunks: the rank indexes, the pages of a format-5 directory and the
     * MANIFEST, with every chunk as the target holds it ({@code held}, by hash; a chunk not in it as {@code whole}
     * records it), and the whole manifest they commit.
     */
    private record Files(Manifest whole, Map<String, ByteBuffer> indexes, Map<String, ByteBuffer> pages, ByteBuffer manifest) {
    }

    /**
     * The source's MANIFEST, indexes and pages as they are where the target holds every chunk as they record it;
     * else written again with the target's forms: each index whose rows change, then the MANIFEST that commits them
     * (for format 5 with a directory of new pages, under a page id of its own, as {@link PageTree} writes one for a
     * save). A format-4 or 5 MANIFEST references its indexes by their digests, so it changes with them.
     */
    private Files files(Source source, Map<String, ByteBuffer> indexes, Map<String, ChunkRef> held) {
        Manifest whole = source.whole;
        if (!changes(whole.entries(), held)) {
            return new Files(whole, indexes, source.pages, source.located.bytes());
        }
        Manifest m = source.m;
        Manifest adjusted = whole.withEntries(withForms(whole.entries(), held));
        Map<String, ByteBuffer> written = new LinkedHashMap<>();
        List<IndexRef> refs = new ArrayList<>(Collections.nCopies(m.worldSize(), (IndexRef) null));
        for (Map.Entry<String, ByteBuffer> e : indexes.entrySet()) {
            int rank = layout.rankOfIndexKey(e.getKey()).getAsInt();
            ByteBuffer bytes = e.getValue();
            Manifest index = ManifestFormat.read(bytes.duplicate(), e.getKey(), allocator);
            if (changes(index.entries(), held)) {
                bytes = ByteBuffer.wrap(ManifestFormat.write(index.withEntries(withForms(index.entries(), held)), "index",
                        allocator));
            }
            written.put(e.getKey(), bytes);
            refs.set(rank, IndexRef.of(rank, bytes.duplicate()));
        }
        if (!m.rowsInIndexes()) {
            return new Files(adjusted, written, Map.of(), ByteBuffer.wrap(ManifestFormat.write(adjusted, "manifest", allocator)));
        }
        if (!m.paged()) {
            Manifest committed = adjusted.withRowsIn(refs);
            return new Files(committed, written, Map.of(), ByteBuffer.wrap(ManifestFormat.write(committed, "manifest",
                    allocator)));
        }
        PageTree.Built built = PageTree.build(adjusted, refs, allocator);
        Map<String, ByteBuffer> pages = new LinkedHashMap<>();
        List<String> keys = built.keys(layout);
        for (int i = 0; i < keys.size(); i++) {
            pages.put(keys.get(i), ByteBuffer.wrap(built.pages().get(i).bytes()));
        }
        return new Files(built.committed(), written, pages, ByteBuffer.wrap(built.manifest()));
    }

    /** Whether any chunk of {@code entries} is held in another form than it records. */
    private static boolean changes(List<EntryRecord> entries, Map<String, ChunkRef> held) {
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                ChunkRef h = held.get(c.hash());
                if (h != null && !sameForm(h, c)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static List<EntryRecord> withForms(List<EntryRecord> entries, Map<String, ChunkRef> held) {
        List<EntryRecord> out = new ArrayList<>(entries.size());
        for (EntryRecord e : entries) {
            List<ChunkRef> chunks = new ArrayList<>(e.chunks().size());
            for (ChunkRef c : e.chunks()) {
                ChunkRef h = held.get(c.hash());
                chunks.add(h == null ? c : c.storedAs(h.codec(), h.storedLength(), h.bases()));
            }
            out.add(e.withChunks(chunks));
        }
        return out;
    }

    /** Whether {@code a} and {@code b} record the same stored form: codec, stored length and chain. */
    private static boolean sameForm(ChunkRef a, ChunkRef b) {
        return a.codec().equals(b.codec()) && a.storedLength() == b.storedLength() && a.bases().equals(b.bases());
    }

    /** A copy of one step into one target: its chunks' work on a pool of threads, each with its own reader. */
    private final class Run implements AutoCloseable {
        private final long step;
        private final Tier to;
        private final ObjectStore target;
        private final String targetName;
        private final String manifestKey;
        private final List<StoreRef> order;
        private final Source source;
        private final Progress progress;
        /** The chunks this copy wrote (sent, or written again as stored), by hash; the others it skipped. */
        private final Set<String> sent = ConcurrentHashMap.newKeySet();
        private final AtomicLong bytes = new AtomicLong();
        /** The chunks and chain links this copy put, by hash, each as it put it; and a lock per hash for the puts. */
        private final Map<String, ChunkRef> written = new ConcurrentHashMap<>();
        private final Map<String, Object> writeLocks = new ConcurrentHashMap<>();
        private final ConcurrentLinkedQueue<ChunkReader> readers = new ConcurrentLinkedQueue<>();
        private final ThreadLocal<ChunkReader> reader = ThreadLocal.withInitial(() -> {
            ChunkReader r = new ChunkReader();
            readers.add(r);
            return r;
        });
        private final ExecutorService pool;
        /** Whether this run repairs a step the target holds committed already ({@link #repair}). */
        private volatile boolean repairing;

        Run(long step, Tier to, String targetName, List<StoreRef> order, Source source, Progress progress) {
            this.step = step;
            this.to = to;
            this.target = to.store();
            this.targetName = targetName;
            this.manifestKey = layout.manifestKey(step);
            this.order = order;
            this.source = source;
            this.progress = progress;
            this.pool = Executors.newFixedThreadPool(threads, r -> {
                Thread t = new Thread(r, "cairn-copy");
                t.setDaemon(true);
                return t;
            });
        }

        /** Each distinct chunk of {@code whole} (by hash, the first row naming it) with the entry it is first in. */
        private Map<ChunkRef, String> distinct(Manifest whole) {
            Map<ChunkRef, String> out = new LinkedHashMap<>();
            Set<String> seen = new java.util.HashSet<>();
            for (EntryRecord r : whole.entries()) {
                for (ChunkRef c : r.chunks()) {
                    if (seen.add(c.hash())) {
                        out.put(c, r.name());
                    }
                }
            }
            return out;
        }

        /** A piece of a chunk's work that gives {@code c} as the target holds it afterwards. */
        @FunctionalInterface
        private interface Work {
            ChunkRef run(ChunkRef c, String entry) throws IOException;
        }

        /** Runs {@code work} on every chunk of {@code chunks} on the pool; the chunks as the target holds them, by hash. */
        private Map<String, ChunkRef> each(Map<ChunkRef, String> chunks, Work work) throws IOException {
            return each(chunks, work, true);
        }

        /** {@link #each(Map, Work)}, telling the progress of each chunk done unless {@code advance} is false. */
        private Map<String, ChunkRef> each(Map<ChunkRef, String> chunks, Work work, boolean advance) throws IOException {
            Map<String, ChunkRef> held = new ConcurrentHashMap<>();
            List<Future<?>> futures = new ArrayList<>();
            for (Map.Entry<ChunkRef, String> c : chunks.entrySet()) {
                futures.add(pool.submit(() -> {
                    held.put(c.getKey().hash(), work.run(c.getKey(), c.getValue()));
                    if (advance) {
                        progress.advance(c.getKey().storedLength());
                    }
                    return null;
                }));
            }
            await(futures);
            return held;
        }

        /** A step not committed in the target: its chunks, then its indexes and pages, then the MANIFEST. */
        CopyReport copy() throws IOException {
            Map<ChunkRef, String> chunks = distinct(source.whole);
            newestCommitted(to);
            progress.start(source.m.storedBytes());
            Map<String, ChunkRef> held = each(chunks, (c, entry) -> send(c, entry));
            Files files = commit(chunks, held);
            return new CopyReport(layout.run(), step, source.located.source().location(), targetName, chunks.size(),
                    sent.size(), chunks.size() - sent.size(), bytes.get(), files.indexes().size(), false);
        }

        /**
         * Chunk {@code c} into the target. A content key holds one stored form per tier ({@link ChunkForms}), which
         * the target's committed steps record: where the target holds the chunk intact (it decodes to its hash,
         * through its chain there), whatever its form, that form is the one recorded, and it is never put over; as a
         * save does, it and its links are written again as they are where they are neither recent ({@link #FRESH_FOR})
         * nor named by the target's newest step ({@link ChunkForms#keep}), which restarts their age. Else it is sent
         * from the first source whose copy verifies, as that source stores it, with its chain: created (a writer that
         * stored it meanwhile keeps its form, {@link ChunkForms#put}), or put over a stored object that no reader can
         * use (cut short, other bytes, a link of its chain lost). Returns it as the target holds it then.
         */
        private ChunkRef send(ChunkRef c, String entry) throws IOException {
            ChunkReader r = reader.get();
            String hash = c.hash();
            long freshSince = System.currentTimeMillis() - FRESH_FOR.toMillis();
            ChunkCatalog.Form held = ChunkForms.held(to, hash);
            if (held != null) {
                ChunkRef there = intact(r, c, held);
                if (there != null) {
                    if (ChunkForms.keep(to, hash, held, freshSince)) {
                        sent.add(hash); // written again as stored
                        bytes.addAndGet(there.storedLength());
                    }
                    return there;
                }
            }
            SourceCopy v = verifiedStored(r, c, entry, any -> true);
            List<String> chain = links(v, 0, r, freshSince);
            Written w = write(v.ref().storedAs(v.ref().codec(), v.ref().storedLength(), chain), v.stored(), held != null, r,
                    freshSince);
            if (w.wrote()) {
                sent.add(hash);
                bytes.addAndGet(w.form().storedLength());
            }
            return w.form();
        }

        /**
         * {@code c} as the target holds it, in {@code form}, when that decodes to its hash there; else null (missing,
         * or damaged: then the caller sends it). STORAGE where the target's store failed to read it
         * ({@link #checkThere}).
         */
        private ChunkRef intact(ChunkReader r, ChunkRef c, ChunkCatalog.Form form) {
            ChunkRef there = c.storedAs(form.codec(), form.length(), form.bases());
            return checkThere(r, there).ok() ? there : null;
        }

        /**
         * The check of {@code c} in the target, which is missing, damaged or intact there. A read that the target's
         * store failed ({@link ChunkReader.Status#UNREADABLE}: an S3 503 after the SDK's retries, a disk's EIO) says
         * neither: the object may be intact, in the form the target's committed steps record, and a copy that took it
         * for damage would put its source's form over it (another codec, or whole where the target holds a
         * difference), leaving those steps recording bytes that are no longer there. So the copy puts nothing over
         * it and fails with STORAGE, committing nothing (a repair leaves the step as it was); run again, it checks
         * the chunk again.
         */
        private ChunkReader.Check checkThere(ChunkReader r, ChunkRef c) {
            ChunkReader.Check check = r.check(target, layout, c);
            if (check.status() == ChunkReader.Status.UNREADABLE) {
                throw new CheckpointException(Reason.STORAGE, "chunk " + c.hash() + " could not be read from "
                        + targetName + " (" + check.detail() + "), so the copy cannot tell whether " + targetName
                        + " holds it intact, perhaps in a form its committed steps record, and puts nothing over it; "
                        + (repairing ? "step " + step + " there was left as it was" : "step " + step
                        + " was not committed there") + ": run the copy again once " + targetName + " reads it");
            }
            return check;
        }

        /**
         * Makes the target hold every link of {@code v}'s chain from link {@code k} down, each one it does not hold
         * intact copied from {@code v}'s source as stored there, below it first; returns the chain as the target
         * then stores it, from link {@code k} (the target may hold a link in another form than the source, even
         * whole: the differential chunk above needs only its content).
         */
        private List<String> links(SourceCopy v, int k, ChunkReader r, long freshSince) throws IOException {
            List<String> chain = v.ref().bases();
            if (k == chain.size()) {
                return List.of();
            }
            String link = chain.get(k);
            ChunkRef c = linkRef(v.ref(), link, v.ref().codec(), v.ref().storedLength());
            ChunkCatalog.Form there = ChunkForms.held(to, link);
            ChunkRef held = there == null ? null : intact(r, c, there);
            if (held != null) {
                ChunkForms.keep(to, link, there, freshSince); // its form kept, its age restarted where it is old
            } else {
                List<String> below = links(v, k + 1, r, freshSince);
                ByteBuffer stored = readWhole(r, v.source().store(), v.ref(), link);
                String base = StoredChunkHeader.baseOrNull(stored, 0, stored.limit());
                if (k + 1 < chain.size() ? !chain.get(k + 1).equals(base) : base != null) {
                    throw new IOException("chain link " + link + " in " + v.source().location() + " changed while it was"
                            + " copied");
                }
                held = write(c.storedAs(StoredChunkHeader.codecNameOf(stored, 0, stored.limit()), stored.remaining(), below),
                        stored, there != null, r, freshSince).form();
            }
            List<String> out = new ArrayList<>();
            out.add(link);
            out.addAll(held.bases());
            return out;
        }

        /** What {@link #write} left in the target: the form it holds, and whether this copy wrote it. */
        private record Written(ChunkRef form, boolean wrote) {
        }

        /**
         * Writes {@code stored}, chunk {@code as} as stored (its codec, length and chain in the target): created, or
         * put over the object there where {@code overStored} (one no reader can use: cut short, other bytes, a link of
         * its chain lost). Once per copy, under a lock of the hash's: a chunk of the step that is also a link of
         * another's chain is written by the first to get there, and the other records that form. A writer that
         * stored it meanwhile keeps its form where that is intact ({@link ChunkForms#put}).
         */
        private Written write(ChunkRef as, ByteBuffer stored, boolean overStored, ChunkReader r, long freshSince)
                throws IOException {
            String hash = as.hash();
            synchronized (writeLocks.computeIfAbsent(hash, h -> new Object())) {
                ChunkRef mine = written.get(hash);
                if (mine != null) {
                    return new Written(as.storedAs(mine.codec(), mine.storedLength(), mine.bases()), false);
                }
                if (!overStored) {
                    ChunkCatalog.Form found = ChunkForms.put(to, hash, stored.duplicate(), as.codec(), as.bases(),
                            as.rawLength(), as.contentHash(), freshSince);
                    if (found == null) {
                        written.put(hash, as);
                        return new Written(as, true);
                    }
                    to.catalog().unpinAll(found.bases()); // pinned for the caller: no collection runs in this process
                    ChunkRef there = intact(r, as, found);
                    if (there != null) {
                        return new Written(there, false);
                    }
                }
                target.put(layout.chunkKey(hash), stored.duplicate());
                to.catalog().markPresent(hash, as.storedLength(), as.codec(), as.bases());
                written.put(hash, as);
                return new Written(as, true);
            }
        }

        /** The step committed in the target already: every chunk checked there, the damaged or missing ones sent again. */
        CopyReport repair(Committed there) throws IOException {
            repairing = true;
            Map<ChunkRef, String> chunks = distinct(there.whole());
            progress.start(there.whole().storedBytes());
            each(chunks, (c, entry) -> {
                ChunkReader r = reader.get();
                if (checkThere(r, c).ok()) {
                    return c;
                }
                // The committed MANIFEST records this form: only a copy in exactly that form repairs it.
                SourceCopy v = verifiedStored(r, c, entry, found -> sameForm(found, c));
                links(v, 0, r, Long.MIN_VALUE); // a committed step's: any age
                target.put(layout.chunkKey(c.hash()), v.stored().duplicate());
                sent.add(c.hash());
                bytes.addAndGet(v.stored().remaining());
                return c;
            });
            // Every rank index the MANIFEST expects that is lost there, or is not the part of it that its rank
            // wrote, is sent again: where the MANIFEST references its indexes, and also where it holds the rows
            // itself (one rank, or format 3 and older), whose index a copy onward takes (RankIndexes).
            int repaired = 0;
            Manifest m = there.m();
            Map<String, ChunkRef> forms = new HashMap<>();
            chunks.keySet().forEach(c -> forms.put(c.hash(), c));
            for (int rank : RankIndexes.expected(m)) {
                String key = layout.indexKey(step, rank);
                if (indexProblem(key, rank, there) == null) {
                    continue;
                }
                // The source's index, with the forms this MANIFEST records (the same bytes where it is the source's).
                ByteBuffer good = files(source, indexes(source, order), forms).indexes().get(key);
                String still = good == null ? "no source holds it" : indexMismatch(good, key, rank, there);
                if (still != null) {
                    throw new CheckpointException(Reason.CORRUPT, "rank index " + key + " of step " + step + " in "
                            + targetName + " is lost or damaged, and no good copy can be sent: " + still);
                }
                target.put(key, good.duplicate());
                repaired++;
            }
            if (there.sourceBytes()) {
                for (Map.Entry<String, ByteBuffer> page : source.pages.entrySet()) {
                    ByteBuffer held;
                    try {
                        held = ManifestFormat.readBytes(target, page.getKey(), targetName + ":" + page.getKey());
                    } catch (NoSuchFileException | CheckpointException e) {
                        held = null;
                    }
                    if (held == null || !held.equals(page.getValue().duplicate().rewind())) {
                        target.put(page.getKey(), page.getValue().duplicate());
                        repaired++;
                    }
                }
            }
            return new CopyReport(layout.run(), step, source.located.source().location(), targetName, chunks.size(),
                    sent.size(), chunks.size() - sent.size(), bytes.get(), repaired, true);
        }

        /** Why the target's index {@code key} of {@code rank} is not the one {@code there} expects, or null. */
        private String indexProblem(String key, int rank, Committed there) throws IOException {
            try {
                return indexMismatch(ManifestFormat.readBytes(target, key, targetName + ":" + key), key, rank, there);
            } catch (NoSuchFileException e) {
                return "missing";
            } catch (CheckpointException e) {
                return e.getMessage();
            }
        }

        private String indexMismatch(ByteBuffer bytes, String key, int rank, Committed there) {
            Manifest m = there.m();
            if (m.rowsInIndexes()) {
                return m.indexed().indexes().get(rank).mismatch(bytes);
            }
            return RankIndexes.mismatch(bytes, ManifestFormat.read(bytes.duplicate(), targetName + ":" + key, allocator), rank,
                    there.whole());
        }

        /**
         * The indexes and pages, then the MANIFEST. As a save's commit (CommitProtocol#commit): the MANIFEST is asked
         * for again right before the indexes, so that a writer that committed this step in the target since the copy
         * began does not get its indexes replaced; then each index is created, and one found there is replaced only
         * after the MANIFEST is asked for once more. What a replaced index held is kept, to be put back if this copy
         * does not commit after all.
         *
         * <p>Right before the MANIFEST, as a save of one rank does (CommitProtocol#commit), every chunk the step names,
         * sent or found, and every link of their chains, is asked of the target ({@link ChunkConfirmation#unconfirmed}):
         * a collection beside a copy longer than its grace ({@code cairn gc}, a job's sweep, 10 minutes by default)
         * deletes what the copy put first. Those gone, or stored since in another form, are sent again (the copy has
         * their sources), the indexes and pages written again (with the new forms where one changed), and all are asked
         * again; after {@value #CONFIRMATIONS} questions with something still gone, the copy fails with STORAGE,
         * uncommitted. Only what is gone is sent again, not what is old: sending again every chunk older than some age
         * would take as long as the copy itself whenever the copy is longer than that age, and never end.
         *
         * @param held each chunk as the target holds it, by hash (updated as chunks are sent again)
         * @return what it committed
         */
        private Files commit(Map<ChunkRef, String> chunks, Map<String, ChunkRef> held) throws IOException {
            Map<String, ByteBuffer> sourceIndexes = indexes(source, order);
            Files files = files(source, sourceIndexes, held);
            notCommittedByAnother(files.manifest());
            IndexPuts puts = new IndexPuts(target);
            boolean created = false;
            try {
                Files put = null;
                for (int asked = 1; ; asked++) {
                    // The first time, and again after chunks were sent again, which may have taken long enough for
                    // a collection to take this uncommitted step's files for abandoned: each is written again as it
                    // is (restarting its age), or created again where it is gone.
                    if (put != files || asked > 1) {
                        ByteBuffer manifestBytes = files.manifest();
                        boolean again = asked > 1;
                        for (Map.Entry<String, ByteBuffer> index : files.indexes().entrySet()) {
                            puts.put(index.getKey(), index.getValue(), () -> notCommittedByAnother(manifestBytes), again);
                        }
                        for (Map.Entry<String, ByteBuffer> page : files.pages().entrySet()) {
                            target.put(page.getKey(), page.getValue().duplicate()); // under this MANIFEST's own page id
                        }
                        if (put != null) {
                            dropPages(put, files);
                        }
                        put = files;
                    }
                    Set<String> gone = ChunkConfirmation.unconfirmed(to, files.whole().referencedHashes(),
                            ChunkConfirmation.recordedLengths(List.of(files.whole())));
                    if (gone.isEmpty()) {
                        refreshLapsed(files);
                        break;
                    }
                    if (asked == CONFIRMATIONS) {
                        throw new CheckpointException(Reason.STORAGE, gone.size() + " chunk(s) of step " + step + " are"
                                + " gone from " + targetName + ", or stored there in another form, each time the copy asked"
                                + " before its MANIFEST (" + asked + " times, sending them again in between: a collection"
                                + " with a grace shorter than the copy, running beside it?), so the step was not committed"
                                + " there; run the copy again: " + String.join(", ", List.copyOf(gone).subList(0,
                                Math.min(5, gone.size()))) + (gone.size() > 5 ? ", ..." : ""));
                    }
                    // Each chunk that is gone, or whose chain in the target lost a link, is sent again (also those
                    // this copy put: a collection took them).
                    written.keySet().removeAll(gone);
                    Map<ChunkRef, String> again = new LinkedHashMap<>();
                    chunks.forEach((c, entry) -> {
                        ChunkRef h = held.getOrDefault(c.hash(), c);
                        if (gone.contains(h.hash()) || h.bases().stream().anyMatch(gone::contains)) {
                            again.put(c, entry);
                        }
                    });
                    held.putAll(each(again, (c, entry) -> send(c, entry), false)); // counted once in the progress
                    Files next = files(source, sourceIndexes, held);
                    if (!next.manifest().equals(files.manifest().duplicate().rewind())) {
                        notCommittedByAnother(next.manifest());
                        files = next;
                    }
                }
                // Marked first, as every commit is (StepMarks), so that the copy's readers find it without a listing.
                new StepMarks(WaitClock.SYSTEM).markBefore(to, step, source.m.worldSize());
                byte[] commit = new byte[files.manifest().remaining()];
                files.manifest().duplicate().get(commit);
                created = true;
                CommitPoint.create(to, step, commit);
            } catch (IOException | RuntimeException e) {
                boolean lost = e instanceof CheckpointException c && c.reason() == Reason.CONFLICT;
                // Not committed by this copy: what its index puts replaced is put back (IndexPuts#giveBack). A create
                // whose outcome is unknown leaves them: the step may be this copy's.
                if (lost || !created) {
                    puts.giveBack();
                }
                if (lost) {
                    throw conflict(targetName, manifestKey, e);
                }
                throw e;
            }
            // Committed: each index is the one the MANIFEST names, unless a losing writer of the same step replaced one
            // after its own check and before this create (CommitProtocol#confirmIndex, as after a save's commit).
            for (Map.Entry<String, ByteBuffer> index : files.indexes().entrySet()) {
                ByteBuffer bytes = index.getValue().duplicate();
                byte[] own = new byte[bytes.remaining()];
                bytes.get(own);
                CommitProtocol.confirmIndex(to, index.getKey(), own);
            }
            return files;
        }

        /**
         * Right after the last question before the MANIFEST (which read every chunk's age from the target into its
         * catalog): writes again, as the target holds it, each chunk this copy did not send itself that it may no
         * longer count on ({@link ChunkConfirmation#refreshLapsed}, with the target's newest step listed again now):
         * the copy counted on it because it was recent or named by the newest step when the copy began, and either can
         * lapse over a long copy, after which a collection in another process that listed the steps before this
         * MANIFEST and the chunks after it would delete it once the step is committed. A listing of the target's steps
         * (and its newest MANIFEST, cached) when the copy counted on any chunk; a GET and a PUT of each written again.
         */
        private void refreshLapsed(Files files) throws IOException {
            Map<String, Integer> counted = new LinkedHashMap<>();
            for (String hash : files.whole().referencedHashes()) {
                if (!sent.contains(hash)) {
                    counted.put(hash, 0);
                }
            }
            if (counted.isEmpty()) {
                return;
            }
            newestCommitted(to);
            ChunkConfirmation.refreshLapsed(to, step, counted, sent,
                    ChunkConfirmation.recordedLengths(List.of(files.whole())), FRESH_FOR.toMillis(),
                    "run the copy again: it sends them");
        }

        /** Best effort: the pages {@code before} put that {@code now} does not name (a directory written again). */
        private void dropPages(Files before, Files now) {
            for (String key : before.pages().keySet()) {
                if (!now.pages().containsKey(key)) {
                    try {
                        target.delete(key);
                    } catch (IOException | RuntimeException e) {
                        // Left: a page no MANIFEST names, which a collection of abandoned steps' files takes.
                    }
                }
            }
        }

        /** CONFLICT when the target holds a MANIFEST of this step other than {@code manifest}. */
        private void notCommittedByAnother(ByteBuffer manifest) throws IOException {
            ByteBuffer there;
            try {
                there = ManifestFormat.readBytes(target, manifestKey, targetName + ":" + manifestKey);
            } catch (NoSuchFileException e) {
                return;
            }
            if (!there.equals(manifest.duplicate().rewind())) {
                throw conflict(targetName, manifestKey, null);
            }
        }

        /**
         * The stored bytes of {@code c} from the first source whose copy, read whole, decodes to its hash (a
         * differential one through its whole chain in that source) and whose form {@code acceptable} takes; with
         * the form it is stored in there (codec and chain from its headers, its length).
         */
        private SourceCopy verifiedStored(ChunkReader r, ChunkRef c, String entry, Predicate<ChunkRef> acceptable) {
            List<String> tried = new ArrayList<>();
            for (StoreRef s : order) {
                try {
                    // In the reader's own buffer, which its decoder reads; copied out once it is proved right.
                    ByteBuffer stored = r.readStored(s.store(), layout, linkRef(c, c.hash(), c.codec(), c.storedLength()),
                            false);
                    ChunkRef form = c.storedAs(StoredChunkHeader.codecNameOf(stored, 0, stored.limit()), stored.remaining(),
                            chainIn(s.store(), stored));
                    if (!acceptable.test(form)) {
                        tried.add(s.location() + ": stored as " + describe(form) + ", not as " + describe(c));
                        continue;
                    }
                    ByteBuffer copy = ByteBuffer.allocate(stored.remaining()).put(stored.duplicate()).flip();
                    r.verify(s.store(), layout, stored.duplicate(), form);
                    return new SourceCopy(s, copy, form);
                } catch (NoSuchFileException e) {
                    tried.add(s.location() + ": missing");
                } catch (IOException | RuntimeException e) {
                    tried.add(s.location() + ": " + e.getMessage());
                }
            }
            throw new CheckpointException(Reason.CORRUPT, "chunk " + c.hash() + " of '" + entry + "' at offset " + c.offset()
                    + " has no good copy to send (" + String.join("; ", tried) + "); nothing was committed in the target");
        }

        /** The bases {@code stored} (a stored chunk of {@code store}) is a difference against, nearest first, by its headers. */
        private List<String> chainIn(ObjectStore store, ByteBuffer stored) throws IOException {
            List<String> chain = new ArrayList<>();
            ByteBuffer head = ByteBuffer.allocate(StoredChunkHeader.MAX_LENGTH);
            for (String h = StoredChunkHeader.baseOrNull(stored, 0, stored.limit()); h != null; ) {
                if (chain.contains(h) || chain.size() >= CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY) {
                    throw new IOException("its chain loops or is longer than " + CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY + " links");
                }
                chain.add(h);
                try {
                    StoredChunks.readHeader(store, layout, h, head);
                } catch (NoSuchFileException e) {
                    throw new IOException("base chunk " + h + " of a differential chain is missing", e);
                }
                h = StoredChunkHeader.baseOrNull(head, 0, head.limit());
            }
            return chain;
        }

        @Override
        public void close() {
            pool.shutdownNow();
            readers.forEach(ChunkReader::close);
        }
    }

    /** A chunk's stored bytes as one source holds them, and its form there. */
    private record SourceCopy(StoreRef source, ByteBuffer stored, ChunkRef ref) {
    }

    private static String describe(ChunkRef c) {
        return c.codec() + ", " + c.storedLength() + " bytes" + (c.bases().isEmpty() ? "" : ", against " + c.bases());
    }

    /** A link {@code hash} of {@code c}'s chain, stored {@code length} bytes as {@code codec}: the same content length. */
    private static ChunkRef linkRef(ChunkRef c, String hash, String codec, long length) {
        return new ChunkRef(0, c.rawLength(), hash, codec, length, List.of(), 0, c.contentHash());
    }

    /**
     * The whole stored object {@code hash} (chunk {@code c}, or a link of its chain, of the same raw length) in
     * {@code store}, up to the largest a chunk of that length can be stored as, in a buffer of its own.
     */
    private ByteBuffer readWhole(ChunkReader r, ObjectStore store, ChunkRef c, String hash) throws IOException {
        ByteBuffer stored = r.readStored(store, layout, linkRef(c, hash, c.codec(), c.storedLength()), false);
        return ByteBuffer.allocate(stored.remaining()).put(stored.duplicate()).flip();
    }

    /** An action that may fail with the store's error. */
    @FunctionalInterface
    private interface Check {
        void run() throws IOException;
    }

    /**
     * A copy's puts of rank indexes, each create-only: an index found under the key that is not this copy's is
     * replaced only once {@code beforeReplacing} passes (no other writer committed the step), and what it held is kept
     * so that {@link #giveBack} can put it back.
     */
    private static final class IndexPuts {
        private final ObjectStore target;
        /** The indexes this copy put, by key, with what each replaced (null: there was none). */
        private final Map<String, ByteBuffer[]> written = new java.util.LinkedHashMap<>();

        IndexPuts(ObjectStore target) {
            this.target = target;
        }

        /** Puts {@code index} at {@code key}; where the target holds it already, writes it again if {@code rewrite}. */
        void put(String key, ByteBuffer index, Check beforeReplacing, boolean rewrite) throws IOException {
            if (target.putIfAbsent(key, index.duplicate())) {
                ByteBuffer[] before = written.get(key);
                written.put(key, new ByteBuffer[] {index, before != null ? before[1] : null});
                return;
            }
            ByteBuffer there;
            try {
                there = target.readAll(key, ManifestFormat.MAX_BYTES);
            } catch (NoSuchFileException gone) { // deleted since: created again, or found taken again below
                put(key, index, beforeReplacing, rewrite);
                return;
            }
            if (there.equals(index.duplicate().rewind())) {
                if (rewrite) {
                    target.put(key, index.duplicate());
                }
                return; // this very index: this copy's, an earlier run's of it, or a twin copy's
            }
            beforeReplacing.run(); // CONFLICT, nothing replaced, when another writer has committed the step since
            target.put(key, index.duplicate());
            ByteBuffer[] before = written.get(key); // this copy's own, written again with other forms: what it replaced
            written.put(key, new ByteBuffer[] {index, before != null ? before[1] : there});
        }

        /**
         * Best effort, after this copy did not commit: each index it put that the target still holds as this copy put
         * it gets back what it replaced (the other writer's, whose commit names it). One it created where there was
         * none is left, even on a lost create: bytes equal to this copy's may be the winner's own index, which
         * its commit put over this copy's (a save's commit does), and the winner's MANIFEST names them (as the
         * engine's own give-back never deletes, {@code CommitProtocol#giveBackIndex}); an index no MANIFEST names goes
         * with its step's other files when a collection retires or abandons it.
         */
        void giveBack() {
            for (Map.Entry<String, ByteBuffer[]> w : written.entrySet()) {
                try {
                    ByteBuffer now = target.readAll(w.getKey(), ManifestFormat.MAX_BYTES);
                    if (!now.equals(w.getValue()[0].duplicate().rewind())) {
                        continue; // not this copy's (any more)
                    }
                    if (w.getValue()[1] != null) {
                        target.put(w.getKey(), w.getValue()[1].duplicate());
                    }
                } catch (IOException | RuntimeException e) {
                    // Left as it is: verify names an index that does not match its MANIFEST.
                }
            }
        }
    }

    /** A MANIFEST as stored in one source, and what those very bytes parse to. */
    private record Stored(StoreRef source, ByteBuffer bytes, Manifest manifest) {
    }

    /**
     * The MANIFEST of {@code step} from the first source whose copy parses, passes its checks and names this run
     * and step: the bytes copied are the bytes checked. A newer format stops the search (every copy would be).
     */
    private Stored manifest(long step) throws IOException {
        String key = layout.manifestKey(step);
        List<String> tried = new ArrayList<>();
        for (StoreRef s : admin.holders(layout.run(), step)) {
            String where = s.location() + ":" + key;
            try {
                ByteBuffer bytes = ManifestFormat.readBytes(s.store(), key, where); // its size checked first
                Manifest m = ManifestFormat.read(bytes.duplicate(), where, allocator);
                if (m.step() == step && m.run().equals(layout.run())) {
                    return new Stored(s, bytes, m);
                }
                tried.add(where + " describes run " + m.run() + " step " + m.step());
            } catch (CheckpointException e) {
                if (e.reason() == Reason.UNSUPPORTED_VERSION) {
                    throw e;
                }
                tried.add(e.getMessage());
            } catch (IOException e) {
                tried.add(where + ": " + e.getMessage());
            }
        }
        throw new CheckpointException(Reason.CORRUPT, "MANIFEST " + key + " has no readable copy in any store ("
                + String.join("; ", tried) + "); nothing was copied");
    }

    /**
     * Tells the target's catalog the chunks (and chain links) its newest committed step names: a collection never
     * retires the newest step, so it keeps them whatever their age, and the copy counts on them as a save counts on
     * what its tier's newest step names ({@link ChunkCatalog#reusable}). One listing of the target's steps, and that
     * step's manifest.
     */
    private void newestCommitted(Tier to) throws IOException {
        List<Long> steps = admin.commits().committedSteps(to);
        if (!steps.isEmpty()) {
            long newest = steps.get(steps.size() - 1);
            to.catalog().committed(newest, admin.commits().referencedHashes(to, newest));
        }
    }

    private static void await(List<Future<?>> futures) throws IOException {
        try {
            for (Future<?> f : futures) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "copy interrupted; run it again to resume", e);
        } catch (ExecutionException e) {
            futures.forEach(f -> f.cancel(true));
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(cause);
        }
    }
}
