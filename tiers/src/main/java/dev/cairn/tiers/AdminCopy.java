package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin.CopyReport;
import dev.cairn.CheckpointAdmin.Progress;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.StoreRef;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitPoint;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.restore.ChunkReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One {@link CairnAdmin#copy}: a committed checkpoint into another store in the engine's commit order: every chunk
 * first (as stored, never re-encoded; each decoded and checked against its hash before it is written), then the rank
 * indexes, then the MANIFEST, created by {@link CommitPoint#create} (create-only, an ambiguous answer
 * resolved by reading it back) last. Each put is atomic, so a copy that is interrupted leaves no torn object and no
 * commit, and running it again sends only what is still missing.
 *
 * <p>A chunk the target already holds is skipped only once the target's copy decodes to its hash (through its whole
 * chain for a differential chunk): a target whose copy is missing a link, cut short or of other bytes of the same
 * length gets the verified copy from the sources, like a missing chunk. The same check runs when the target already
 * holds this very MANIFEST, so running the copy again repairs a damaged step instead of saying there is nothing to
 * copy. As a save does with what it reuses, the copy counts only on chunks the target wrote recently
 * ({@link #FRESH_FOR}; older ones are sent again, which restarts their age for a collector's grace) or that the
 * target's newest committed step names (a collection keeps those), and asks the
 * target again for every chunk it skipped right before the MANIFEST, failing with STORAGE, uncommitted, if a
 * collection beside it deleted one.
 *
 * <p>Each rank index, like each chunk, comes from the first source whose copy is good: it parses and is the part of
 * the MANIFEST its rank wrote ({@link RankIndexes}); for a MANIFEST that keeps its chunk rows in the indexes (format 4
 * of several ranks), exactly the bytes it references, and those indexes name the chunks to send. Such an index the
 * target lost or holds replaced is sent again even when the target holds the MANIFEST already. The MANIFEST itself comes from the first source holding a
 * readable one that names this run and step.
 */
final class AdminCopy {
    /**
     * How recently the target must have written a chunk for the copy to count on it instead of sending it again:
     * half the command line's default grace, as a save's {@code SavePipeline#freshFor}.
     */
    static final java.time.Duration FRESH_FOR = CairnConfig.DEFAULT_GC_GRACE.dividedBy(2);

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
        ObjectStore target = to.store();
        String manifestKey = layout.manifestKey(step);
        Stored located = manifest(step);
        Manifest m = located.manifest();
        ByteBuffer manifestBytes = located.bytes();
        boolean committedAlready = committedAlready(target, manifestKey, manifestBytes, targetName);
        List<StoreRef> order = new ArrayList<>();
        order.add(located.source());
        admin.stores().stream().filter(s -> s != located.source()).forEach(order::add);

        // A MANIFEST that keeps its chunk rows in the rank indexes: the indexes are chosen first (each the copy the
        // MANIFEST references), and their rows name the chunks to send.
        Map<String, ByteBuffer> indexes = null;
        // A format-5 MANIFEST's directory: every page, from the store the MANIFEST came from, each checked against
        // what names it; sent before the MANIFEST under the same keys.
        Map<String, ByteBuffer> pages = new java.util.LinkedHashMap<>();
        if (m.paged()) {
            m = new CommittedManifest(located.source().store(), layout, located.source().location(),
                    (b, label) -> ManifestFormat.read(b, label, allocator), allocator)
                    .select(m, CommittedManifest.PageChoice.ALL, pages::put);
        }
        Manifest whole = m;
        if (m.rowsInIndexes()) {
            indexes = RankIndexes.verified(m, layout, order, allocator);
            Map<Integer, Manifest> parsed = new java.util.HashMap<>();
            for (Map.Entry<String, ByteBuffer> index : indexes.entrySet()) {
                parsed.put(layout.rankOfIndexKey(index.getKey()).getAsInt(),
                        ManifestFormat.read(index.getValue().duplicate(), index.getKey(), allocator));
            }
            whole = CommittedManifest.resolve(m, parsed);
        }
        List<ChunkRef> distinct = new ArrayList<>();
        List<String> entryOf = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (EntryRecord r : whole.entries()) {
            for (ChunkRef c : r.chunks()) {
                if (seen.add(c.hash())) {
                    distinct.add(c);
                    entryOf.add(r.name());
                }
            }
        }
        Set<String> kept = committedAlready ? Set.of() : namedByNewest(to);
        AtomicLong copied = new AtomicLong();
        AtomicLong skipped = new AtomicLong();
        ConcurrentLinkedQueue<ChunkRef> reused = new ConcurrentLinkedQueue<>();
        AtomicLong bytes = new AtomicLong();
        ConcurrentLinkedQueue<ChunkReader> readers = new ConcurrentLinkedQueue<>();
        ThreadLocal<ChunkReader> reader = ThreadLocal.withInitial(() -> {
            ChunkReader r = new ChunkReader();
            readers.add(r);
            return r;
        });
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "cairn-copy");
            t.setDaemon(true);
            return t;
        });
        progress.start(m.storedBytes());
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int i = 0; i < distinct.size(); i++) {
                ChunkRef c = distinct.get(i);
                String entry = entryOf.get(i);
                futures.add(pool.submit(() -> {
                    String key = layout.chunkKey(c.hash());
                    // Any age where nothing is committed (the MANIFEST stands: a repair), or where a collection keeps
                    // the chunk whatever its age (the target's newest step names it and its chain).
                    long freshSince = committedAlready || (kept.contains(c.hash()) && kept.containsAll(c.bases()))
                            ? Long.MIN_VALUE : System.currentTimeMillis() - FRESH_FOR.toMillis();
                    if (holdsFresh(target, key, c.storedLength(), freshSince)
                            && allHeldFresh(target, layout, c.bases(), freshSince)
                            && reader.get().check(target, layout, c).ok()) {
                        skipped.incrementAndGet();
                        reused.add(c);
                    } else {
                        Verified v = verifiedStored(reader.get(), order, layout, c, entry);
                        // A differential chunk's chain goes along, as stored: the manifest names it. Every link is
                        // sent, since the target's chain failed the check somewhere (the source's passed it).
                        for (String base : c.bases()) {
                            String baseKey = layout.chunkKey(base);
                            target.put(baseKey, v.source().store().readAll(baseKey));
                        }
                        target.put(key, v.stored());
                        copied.incrementAndGet();
                        bytes.addAndGet(c.storedLength());
                    }
                    progress.advance(c.storedLength());
                    return null;
                }));
            }
            await(futures);
        } finally {
            pool.shutdownNow();
            readers.forEach(ChunkReader::close);
        }
        if (committedAlready) {
            // The target's MANIFEST stands; every rank index it expects that is lost there, or is not the part of it
            // that its rank wrote, is sent again: where the MANIFEST references its indexes, and also where it holds
            // the rows itself (one rank, or format 3 and older), whose index a copy onward takes (RankIndexes).
            int repaired = 0;
            for (int rank : RankIndexes.expected(m)) {
                String key = layout.indexKey(step, rank);
                String where = targetName + ":" + key;
                String problem;
                try {
                    ByteBuffer there = ManifestFormat.readBytes(target, key, where);
                    problem = m.rowsInIndexes() ? m.indexed().indexes().get(rank).mismatch(there)
                            : RankIndexes.mismatch(there, ManifestFormat.read(there.duplicate(), where, allocator), rank, m);
                } catch (NoSuchFileException e) {
                    problem = "missing";
                } catch (CheckpointException e) {
                    problem = e.getMessage();
                }
                if (problem != null) {
                    if (indexes == null) {
                        indexes = RankIndexes.verified(m, layout, order, allocator);
                    }
                    target.put(key, indexes.get(key).duplicate());
                    repaired++;
                }
            }
            for (Map.Entry<String, ByteBuffer> page : pages.entrySet()) {
                ByteBuffer there;
                try {
                    there = ManifestFormat.readBytes(target, page.getKey(), targetName + ":" + page.getKey());
                } catch (NoSuchFileException | CheckpointException e) {
                    there = null;
                }
                if (there == null || !there.equals(page.getValue().duplicate().rewind())) {
                    target.put(page.getKey(), page.getValue().duplicate());
                    repaired++;
                }
            }
            return new CopyReport(layout.run(), step, located.source().location(), targetName, distinct.size(), copied.get(),
                    skipped.get(), bytes.get(), repaired, true);
        }
        if (indexes == null) {
            indexes = RankIndexes.verified(m, layout, order, allocator);
        }
        // As a save's commit (CommitProtocol#commit): asked again right before the indexes, so that a writer that
        // committed this step in the target since the check above does not get its indexes replaced; then each index
        // is created, and one found there is replaced only after the MANIFEST is asked for once more. What a replaced
        // index held is kept, to be put back if this copy does not commit after all.
        notCommittedByAnother(target, manifestKey, manifestBytes, targetName);
        IndexPuts puts = new IndexPuts(target);
        byte[] commit = new byte[manifestBytes.remaining()];
        manifestBytes.duplicate().get(commit);
        try {
            for (Map.Entry<String, ByteBuffer> index : indexes.entrySet()) {
                puts.put(index.getKey(), index.getValue(), () -> notCommittedByAnother(target, manifestKey, manifestBytes,
                        targetName));
            }
            for (Map.Entry<String, ByteBuffer> page : pages.entrySet()) {
                target.put(page.getKey(), page.getValue()); // under the committing MANIFEST's own page id
            }
            confirmReused(target, reused, targetName, step);
            // Marked first, as every commit is (StepMarks), so that the copy's readers find it without a listing.
            new dev.cairn.tiers.internal.commit.StepMarks(dev.cairn.tiers.internal.commit.WaitClock.SYSTEM)
                    .markBefore(to, step, m.worldSize());
            CommitPoint.create(to, step, commit);
        } catch (IOException | RuntimeException e) {
            // Not committed by this copy (or, STORAGE from the create, perhaps committed: then the indexes are its
            // own, which a rerun confirms): what its index puts replaced is put back, and on a CONFLICT an index it
            // created where there was none is removed, as the winner's MANIFEST names no index of this copy.
            puts.giveBack(e instanceof CheckpointException c && c.reason() == Reason.CONFLICT);
            if (e instanceof CheckpointException c && c.reason() == Reason.CONFLICT) {
                throw new CheckpointException(Reason.CONFLICT, targetName + " already holds a different commit of "
                        + manifestKey + ": refusing to overwrite it", e);
            }
            throw e;
        }
        // Committed: each index is the one the MANIFEST names, unless a losing writer of the same step replaced one
        // after its own check and before this create (CommitProtocol#confirmIndex, as after a save's commit).
        for (Map.Entry<String, ByteBuffer> index : indexes.entrySet()) {
            ByteBuffer held = index.getValue().duplicate();
            byte[] own = new byte[held.remaining()];
            held.get(own);
            dev.cairn.tiers.internal.commit.CommitProtocol.confirmIndex(to, index.getKey(), own);
        }
        return new CopyReport(layout.run(), step, located.source().location(), targetName, distinct.size(), copied.get(), skipped.get(),
                bytes.get(), indexes.size(), false);
    }

    /**
     * CONFLICT when the target holds a MANIFEST of this step other than {@code manifest} (this copy's: a twin copy's
     * commit of the very same bytes is this one).
     */
    private static void notCommittedByAnother(ObjectStore target, String key, ByteBuffer manifest, String targetName)
            throws IOException {
        committedAlready(target, key, manifest, targetName);
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

        void put(String key, ByteBuffer index, Check beforeReplacing) throws IOException {
            if (target.putIfAbsent(key, index.duplicate())) {
                written.put(key, new ByteBuffer[] {index, null});
                return;
            }
            ByteBuffer there;
            try {
                there = target.readAll(key, ManifestFormat.MAX_BYTES);
            } catch (NoSuchFileException gone) { // deleted since: created again, or found taken again below
                put(key, index, beforeReplacing);
                return;
            }
            if (there.equals(index.duplicate().rewind())) {
                return; // this very index: an earlier run of this copy's, or a twin copy's
            }
            beforeReplacing.run(); // CONFLICT, nothing replaced, when another writer has committed the step since
            target.put(key, index.duplicate());
            written.put(key, new ByteBuffer[] {index, there});
        }

        /**
         * Best effort, after this copy did not commit: each index it put that the target still holds as this copy put
         * it gets back what it replaced (the other writer's, whose commit names it); on a {@code lost} create, one it
         * created where there was none is removed, as no commit names it (the winner's own index under that key would
         * have been found by the create, or would have replaced it since).
         */
        void giveBack(boolean lost) {
            for (Map.Entry<String, ByteBuffer[]> w : written.entrySet()) {
                try {
                    ByteBuffer now = target.readAll(w.getKey(), ManifestFormat.MAX_BYTES);
                    if (!now.equals(w.getValue()[0].duplicate().rewind())) {
                        continue; // not this copy's (any more)
                    }
                    if (w.getValue()[1] != null) {
                        target.put(w.getKey(), w.getValue()[1].duplicate());
                    } else if (lost) {
                        target.delete(w.getKey());
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

    /** True when the target holds this very MANIFEST; a different one there is a CONFLICT. */
    private static boolean committedAlready(ObjectStore target, String key, ByteBuffer manifest, String targetName)
            throws IOException {
        ByteBuffer there;
        try {
            there = ManifestFormat.readBytes(target, key, targetName + ":" + key);
        } catch (NoSuchFileException e) {
            return false;
        }
        if (!there.equals(manifest.duplicate().rewind())) {
            throw new CheckpointException(Reason.CONFLICT, targetName + " already holds a different commit of " + key
                    + ": refusing to overwrite it");
        }
        return true;
    }

    /**
     * Whether {@code target} holds {@code key} at {@code storedLength} (any length when negative), written at
     * {@code freshSince} or later. An older
     * copy is sent again, which restarts its age: a collector ({@code cairn gc}, a run's sweep) deletes a chunk no kept
     * step names once it is older than its grace, and the steps the target keeps may not name this one (those the
     * target's newest step names are asked with any age: {@link #namedByNewest}).
     */
    private static boolean holdsFresh(ObjectStore target, String key, long storedLength, long freshSince)
            throws IOException {
        try {
            ObjectInfo held = target.stat(key);
            return (storedLength < 0 || held.size() == storedLength)
                    && !held.lastModified().isBefore(Instant.ofEpochMilli(freshSince));
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /**
     * The chunks (and chain links) the target's newest committed step names: a collection never retires the newest
     * step, so it keeps them whatever their age, and the copy counts on them as a save counts on what its tier's newest
     * step names. One listing of the target's steps, and that step's manifest.
     */
    private Set<String> namedByNewest(Tier to) throws IOException {
        List<Long> steps = admin.commits().committedSteps(to);
        return steps.isEmpty() ? Set.of() : admin.commits().referencedHashes(to, steps.get(steps.size() - 1));
    }

    /**
     * Asks the target, right before the MANIFEST, for every chunk the copy found there instead of sending (and its
     * chain), as a save's commit confirms what it reused ({@code ChunkConfirmation}): a collector whose grace is
     * shorter than the copy may have deleted one since. Fails with STORAGE naming them, before anything is committed;
     * the copy run again sends them.
     */
    private void confirmReused(ObjectStore target, Collection<ChunkRef> reused, String targetName, long step)
            throws IOException {
        Map<String, Long> lengths = new java.util.LinkedHashMap<>();
        for (ChunkRef c : reused) {
            lengths.put(layout.chunkKey(c.hash()), c.storedLength());
            for (String base : c.bases()) {
                lengths.putIfAbsent(layout.chunkKey(base), -1L);
            }
        }
        if (lengths.isEmpty()) {
            return;
        }
        Map<String, ObjectInfo> held = target.statAll(lengths.keySet());
        List<String> gone = new ArrayList<>();
        lengths.forEach((key, length) -> {
            ObjectInfo info = held.get(key);
            if (info == null || (length >= 0 && info.size() != length)) {
                gone.add(key);
            }
        });
        if (!gone.isEmpty()) {
            throw new CheckpointException(Reason.STORAGE, gone.size() + " chunk(s) of step " + step + " that " + targetName
                    + " held when the copy began are gone or replaced now (a collection beside the copy?), so the step"
                    + " was not committed there; run the copy again: " + String.join(", ", gone.subList(0, Math.min(5, gone.size())))
                    + (gone.size() > 5 ? ", ..." : ""));
        }
    }

    private record Verified(StoreRef source, ByteBuffer stored) {
    }

    private static boolean allHeldFresh(ObjectStore target, StoreLayout layout, List<String> hashes, long freshSince)
            throws IOException {
        for (String h : hashes) {
            if (!holdsFresh(target, layout.chunkKey(h), -1, freshSince)) { // a link's stored length is not recorded
                return false;
            }
        }
        return true;
    }

    /**
     * The stored bytes of {@code c} from the first source whose copy decodes to its hash (a differential chunk
     * through its whole chain in that source).
     */
    private static Verified verifiedStored(ChunkReader reader, List<StoreRef> order, StoreLayout layout, ChunkRef c, String entry) {
        List<String> tried = new ArrayList<>();
        for (StoreRef s : order) {
            try {
                ByteBuffer stored = reader.readStored(s.store(), layout, c);
                ByteBuffer copy = ByteBuffer.allocate(stored.remaining()).put(stored.duplicate()).flip();
                reader.verify(s.store(), layout, stored.duplicate(), c);
                return new Verified(s, copy);
            } catch (NoSuchFileException e) {
                tried.add(s.location() + ": missing");
            } catch (IOException | RuntimeException e) {
                tried.add(s.location() + ": " + e.getMessage());
            }
        }
        throw new CheckpointException(Reason.CORRUPT, "chunk " + c.hash() + " of '" + entry + "' at offset " + c.offset()
                + " has no good copy to send (" + String.join("; ", tried) + "); nothing was committed in the target");
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
