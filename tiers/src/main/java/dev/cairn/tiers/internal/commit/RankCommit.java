package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The commit of a step saved by several ranks, each of which has written its chunks and then its index to the tier.
 * Rank 0 waits until every rank's index is there, checks that every chunk they name is present, and creates the
 * MANIFEST (all ranks' rows) create-only: the single commit point, as for one rank. The other ranks wait until
 * the MANIFEST appears. They meet through the store by default (polling its listing), or through the framework's
 * {@link Coordinator}. A rank that never writes its index makes rank 0 give up at the deadline without writing
 * anything, so the previous checkpoint stays the newest; a rank 0 that never commits makes the others give up.
 * A coordinator that gathers ({@link Coordinator#allGather}) carries each rank's digest of its index to rank 0, which
 * commits an index only with exactly those bytes: another writer's index put under the same key in between (a task
 * of an earlier attempt of a retried stage) fails the step instead of entering it.
 */
final class RankCommit {
    static final long FIRST_POLL_NANOS = 2_000_000;
    static final long MAX_POLL_NANOS = 100_000_000;
    /** Reads of the other ranks' indexes, in parallel: each is a round trip to the peer that holds it. */
    private static final java.util.concurrent.ExecutorService INDEX_READS = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "cairn-index-read");
        t.setDaemon(true);
        return t;
    });

    private final BufferAllocator allocator;
    private final Coordinator coordinator;
    private final Duration wait;
    private final WaitClock clock;

    RankCommit(BufferAllocator allocator, Coordinator coordinator, Duration wait, WaitClock clock) {
        this.allocator = allocator;
        this.coordinator = coordinator;
        this.wait = wait;
        this.clock = clock;
    }

    /**
     * Called with {@code index} (this rank's rows) durable in {@code tier}; returns the committed MANIFEST's contents.
     *
     * @param indexBytes {@code index} as this rank wrote it to the store
     */
    Manifest commit(Tier tier, Manifest index, byte[] indexBytes, CommitProtocol commits) throws IOException {
        long until = clock.nanoTime() + wait.toNanos();
        String barrier = tier.layout().run() + "/" + tier.name() + "/" + index.step();
        // Each rank's digest of the index it wrote, by rank, when the coordinator passes them (Coordinator#allGather):
        // rank 0 then commits exactly those indexes. Null: meet through the store, or a coordinator that cannot.
        List<String> digests = null;
        if (coordinator != null) {
            digests = unlocked(tier, () -> coordinator.allGather(barrier + "/indexed", index.rank(), index.worldSize(),
                    digest(indexBytes), left(until)).orElse(null));
            if (digests != null && digests.size() != index.worldSize()) {
                throw new CheckpointException(Reason.INVALID_CONFIG, "step " + index.step() + " is not committed in tier "
                        + tier.name() + ": the coordinator gathered " + digests.size() + " index digests for a world of "
                        + index.worldSize() + " ranks");
            }
        }
        List<String> expected = digests;
        if (index.rank() != 0) {
            if (coordinator != null && passed(tier, barrier + "/committed", index, until)) {
                // Rank 0 has tried: the MANIFEST is there if it committed, read at once (one call instead of a stat
                // and a read); if it is not, the store is asked until the deadline, as without a coordinator: a peer
                // that restarted or was marked down for a moment may not answer at once.
                try {
                    return commits.read(tier, index.step());
                } catch (NoSuchFileException notYet) {
                    // polled below
                }
            }
            return unlocked(tier, () -> awaitManifest(tier, index, commits, until));
        }
        Exception failure = null;
        Manifest merged = null;
        List<String> pinned = List.of();
        try {
            // After the barrier every index is written; polling stays for a store that does not show one at once
            // (a replacement rank's peer, reached again after being marked down), up to the deadline as before.
            List<Manifest> indexes = unlocked(tier, () -> coordinator != null ? readIndexes(tier, index, expected, until)
                    : awaitIndexes(tier, index, expected, until));
            pinned = pinNamed(tier, indexes, until);
            merged = merge(index, indexes);
            byte[] bytes = ManifestFormat.write(merged, "manifest", allocator);
            // CommitPoint: the one place that creates a MANIFEST, and resolves a create whose answer was lost.
            CommitPoint.create(tier, index.step(), bytes);
            // The newest step, whose chunks this process's collections leave (ChunkCatalog#deleteUnlessPinned), before
            // the pins go: its collector holds the step only once the commit returns.
            tier.catalog().committed(index.step(), merged.referencedHashes());
        } catch (IOException | RuntimeException e) {
            failure = e; // the other ranks still get to the barrier below, instead of waiting out the deadline
        } finally {
            if (!pinned.isEmpty()) {
                tier.catalog().unpinAll(pinned);
            }
        }
        if (coordinator != null) {
            // Only tells the others that rank 0 has tried; whatever happens here, the MANIFEST decided the step.
            passed(tier, barrier + "/committed", index, until);
        }
        if (failure instanceof IOException io) {
            throw io;
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        return merged;
    }

    /**
     * Waits at the coordinator's barrier {@code name}; false if it failed (timeout, a rank gone, closing). Used for
     * the "committed" barrier, after which every rank asks the store, so a failed barrier decides nothing.
     */
    private boolean passed(Tier tier, String name, Manifest index, long until) throws IOException {
        try {
            unlocked(tier, () -> {
                coordinator.barrier(name, index.rank(), index.worldSize(), left(until));
                return null;
            });
            return true;
        } catch (CheckpointException e) {
            return false;
        }
    }

    /**
     * After the "indexed" barrier every rank has written its index: each is read by its key, the other ranks' at once
     * (no listing, no stat first). One that cannot be read yet sends this rank to {@link #awaitIndexes}, which asks
     * the store until the deadline.
     */
    private List<Manifest> readIndexes(Tier tier, Manifest own, List<String> digests, long until) throws IOException {
        int world = own.worldSize();
        List<java.util.concurrent.CompletableFuture<Manifest>> reads = new ArrayList<>();
        for (int r = 1; r < world; r++) {
            int rank = r;
            reads.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return readIndex(tier, tier.layout().indexKey(own.step(), rank), own, rank, digests);
                } catch (IOException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, INDEX_READS));
        }
        List<Manifest> found = new ArrayList<>(world);
        found.add(own);
        try {
            for (java.util.concurrent.CompletableFuture<Manifest> read : reads) {
                found.add(read.join());
            }
            return found;
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof NoSuchFileException) {
                return awaitIndexes(tier, own, digests, until);
            }
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    private List<Manifest> awaitIndexes(Tier tier, Manifest own, List<String> digests, long until) throws IOException {
        int world = own.worldSize();
        Manifest[] found = new Manifest[world];
        found[0] = own;
        Set<Integer> missing = new TreeSet<>();
        for (int r = 1; r < world; r++) {
            missing.add(r);
        }
        long pause = FIRST_POLL_NANOS;
        String prefix = tier.layout().stepPrefix(own.step());
        while (true) {
            Set<String> present = new java.util.HashSet<>();
            for (ObjectInfo o : tier.store().list(prefix)) {
                present.add(o.key());
            }
            for (Integer r : List.copyOf(missing)) {
                String key = tier.layout().indexKey(own.step(), r);
                if (present.contains(key)) {
                    try {
                        found[r] = readIndex(tier, key, own, r, digests);
                        missing.remove(r);
                    } catch (NoSuchFileException listedButNotReadable) {
                        // Listed by one peer, unreadable the next moment: a replacement rank's index held only in its
                        // own memory while this rank's link to it is still marked down. Looked for again below.
                    }
                }
            }
            if (missing.isEmpty()) {
                return List.of(found);
            }
            if (clock.nanoTime() - until >= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "step " + own.step() + " is not committed in tier " + tier.name()
                        + ": rank(s) " + missing + " of " + world + " did not write their index within " + wait);
            }
            pause(pause);
            pause = Math.min(MAX_POLL_NANOS, pause * 2);
        }
    }

    /**
     * Rank {@code rank}'s index of {@code own}'s step. With {@code digests} (see {@link #commit}) its bytes must be the
     * ones that rank wrote for this save: a store may hold another writer's index under the key by now (a task of an
     * earlier attempt of a stage its engine retried, whose write arrived after this attempt's), and committing that
     * would mix two saves in one MANIFEST.
     */
    private Manifest readIndex(Tier tier, String key, Manifest own, int rank, List<String> digests) throws IOException {
        java.nio.ByteBuffer bytes = ManifestFormat.readBytes(tier.store(), key, tier.name() + ":" + key);
        if (digests != null && !digest(bytes).equals(digests.get(rank))) {
            throw new CheckpointException(Reason.CONFLICT, "step " + own.step() + " is not committed in tier " + tier.name()
                    + ": index " + key + " is not the one rank " + rank + " wrote for this save (digest " + digest(bytes)
                    + ", rank " + rank + " reported " + digests.get(rank) + "); another writer replaced it, such as a task"
                    + " of an earlier attempt of a retried stage still running, or a second job under run name "
                    + own.run());
        }
        Manifest m = ManifestFormat.read(bytes, tier.name() + ":" + key, allocator);
        if (!m.run().equals(own.run()) || m.step() != own.step() || m.worldSize() != own.worldSize() || m.rank() != rank) {
            throw new CheckpointException(Reason.CONFLICT, "index " + tier.name() + ":" + key + " is of run " + m.run()
                    + " step " + m.step() + " rank " + m.rank() + " of " + m.worldSize() + ", not rank " + rank + " of "
                    + own.worldSize() + " of this save: are two runs writing under one name?");
        }
        return m;
    }

    /**
     * Each rank confirmed the chunks it did not put itself before its index ({@link CommitProtocol#commit}); what is
     * left is this process's own collector, which runs beside the commit and cannot see the other ranks' pins. Every
     * chunk the indexes name is pinned in this process's catalog (no collection of this process deletes it from now
     * on), and those its collections deleted lately are asked of the store; the step fails with STORAGE naming any
     * that is gone. Returns the pins, released once the step is the catalog's newest or failed.
     */
    private List<String> pinNamed(Tier tier, List<Manifest> indexes, long until) throws IOException {
        java.util.Map<String, Integer> byRank = new java.util.LinkedHashMap<>();
        for (int r = 0; r < indexes.size(); r++) {
            for (String hash : indexes.get(r).referencedHashes()) {
                byRank.putIfAbsent(hash, r);
            }
        }
        List<String> pinned = List.copyOf(byRank.keySet());
        List<String> deleted = tier.catalog().pinNamed(pinned);
        java.util.Map<String, Integer> ask = new java.util.LinkedHashMap<>();
        for (String hash : deleted) {
            ask.put(hash, byRank.get(hash));
        }
        try {
            ChunkConfirmation.confirm(tier, indexes.get(0).step(), ask, until, clock);
        } catch (IOException | RuntimeException e) {
            tier.catalog().unpinAll(pinned);
            throw e;
        }
        return pinned;
    }

    /**
     * One MANIFEST of every rank's rows, in rank 0's format. A manifest names one content hash for all its chunks, so
     * an index keyed by another (a rank on a release of another manifest format) fails the commit instead of being
     * listed under the wrong hash.
     */
    private static Manifest merge(Manifest own, List<Manifest> indexes) {
        List<EntryRecord> entries = new ArrayList<>();
        for (Manifest m : indexes) {
            if (m.contentHash() != own.contentHash() || m.formatVersion() != own.formatVersion()) {
                throw new CheckpointException(Reason.INVALID_CONFIG, "step " + own.step() + " is not committed: rank "
                        + m.rank() + "'s index is format " + m.formatVersion() + " (" + m.contentHash().tag()
                        + " content hashes) and rank 0's is format " + own.formatVersion() + " (" + own.contentHash().tag()
                        + "): every rank of a run must run the same Cairn release");
            }
            entries.addAll(m.entries());
        }
        return new Manifest(own.formatVersion(), own.contentHash(), own.run(), own.step(), own.worldSize(), 0, Instant.now(),
                own.chunkBytes(), entries);
    }

    /**
     * Waits for rank 0's MANIFEST of {@code own}'s step. Rank 0 may already have committed newer steps and retired
     * this one (its retention writes a RETIRED marker, deletes the MANIFEST, then the step's indexes) before this rank
     * looked: the marker, or this rank's own index gone, means exactly that, since an uncommitted step's files are
     * only removed once older than the GC grace, which a multi-rank configuration keeps above the deadline. (On the
     * peer tier a delete reaches the peers it can: this rank's own copy of its index may outlive the step, which is
     * why the marker exists.) Returns null in that case (nothing to cache).
     */
    private Manifest awaitManifest(Tier tier, Manifest own, CommitProtocol commits, long until) throws IOException {
        long pause = FIRST_POLL_NANOS;
        while (!commits.isCommitted(tier, own.step())) {
            try {
                ObjectInfo ownIndex = tier.store().stat(tier.layout().indexKey(own.step(), own.rank()));
                if (retiredSince(tier, own.step(), ownIndex)) {
                    return null; // committed, and retired by rank 0's retention since
                }
            } catch (NoSuchFileException gone) {
                // Retired after its commit (then a newer step is committed), or removed as abandoned (then not).
                List<Long> committed = commits.committedSteps(tier);
                if (!committed.isEmpty() && committed.get(committed.size() - 1) > own.step()) {
                    return null;
                }
                throw new CheckpointException(Reason.STORAGE, "step " + own.step() + " was not committed in tier "
                        + tier.name() + ": rank " + own.rank() + "'s index of it is gone and no newer step is committed");
            }
            if (clock.nanoTime() - until >= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "step " + own.step() + " was not committed in tier " + tier.name()
                        + " by rank 0 in time: rank " + own.rank() + "'s part is written but the step does not exist");
            }
            pause(pause);
            pause = Math.min(MAX_POLL_NANOS, pause * 2);
        }
        try {
            return commits.read(tier, own.step());
        } catch (NoSuchFileException retiredSinceSeen) {
            return null;
        }
    }

    /**
     * Whether retention left its marker for {@code step} after this rank wrote {@code ownIndex}: a marker older than
     * the index is an earlier run's of the same step number (a run restarted from an older step within the GC grace),
     * which says nothing about this save.
     */
    private static boolean retiredSince(Tier tier, long step, ObjectInfo ownIndex) throws IOException {
        try {
            return !tier.store().stat(tier.layout().retiredKey(step)).lastModified().isBefore(ownIndex.lastModified());
        } catch (NoSuchFileException notRetired) {
            return false;
        }
    }

    /** SHA-256 of an index's bytes, in hex: what ranks tell rank 0 through {@link Coordinator#allGather}. */
    static String digest(byte[] bytes) {
        return digest(java.nio.ByteBuffer.wrap(bytes));
    }

    private static String digest(java.nio.ByteBuffer bytes) {
        try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            sha.update(bytes.duplicate());
            return java.util.HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** A wait on the store or the other ranks. */
    @FunctionalInterface
    private interface Wait<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code wait} without the tier's commit lock: while this rank waits, its later steps must still commit
     * their indexes (another rank may be waiting for those), and its GC may run. What the lock guards (the chunk
     * check and the MANIFEST create) runs with it held again.
     */
    private static <T> T unlocked(Tier tier, Wait<T> wait) throws IOException {
        java.util.concurrent.locks.ReentrantLock lock = tier.commitLock();
        int holds = 0;
        while (lock.isHeldByCurrentThread()) {
            lock.unlock();
            holds++;
        }
        try {
            return wait.run();
        } finally {
            for (int i = 0; i < holds; i++) {
                lock.lock();
            }
        }
    }

    /** Waits between polls ({@link WaitClock#pause}); a closing checkpointer interrupts its commit threads. */
    private void pause(long nanos) {
        clock.pause(nanos);
    }

    private Duration left(long until) {
        return Duration.ofNanos(Math.max(0, until - clock.nanoTime()));
    }
}
