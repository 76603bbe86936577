package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.IndexRef;
import dev.cairn.tiers.internal.manifest.IndexedRows;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.manifest.PageTree;
import java.io.IOException;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The commit of a step saved by several ranks, each of which has written its chunks and then its index to the tier.
 * Rank 0 waits until every rank's index is there, checks that every chunk they name is present, and creates the
 * MANIFEST create-only: the single commit point, as for one rank. The chunk rows stay in the indexes, each referenced
 * by its length and SHA-256 as rank 0 read it ({@link IndexedRows}), so an index replaced after the commit is refused
 * where it is read; from format 5 the row per entry and rank naming its index goes into the pages of a directory
 * ({@link PageTree}), put before the MANIFEST under keys of this attempt's own, so that a restoring rank reads only the
 * pages and indexes of the slices it needs. The other ranks wait until
 * the MANIFEST appears. They meet through the store by default, or through the framework's {@link Coordinator}. A
 * rank that never writes its index makes rank 0 give up at the deadline without writing anything, so the previous
 * checkpoint stays the newest; a rank 0 that never commits makes the others give up.
 *
 * <p>Through the store, every request is priced for thousands of ranks against S3's per-prefix rates (the indexes
 * and the MANIFEST of a step share one prefix). The ranks spread their index PUTs over time
 * ({@value #INDEX_PUTS_PER_SECOND} a second). Rank 0 lists where the missing indexes can be (a request per 1,000
 * keys; near the end only the key prefixes of the missing ranks, side by side: {@link IndexListing}) and reads each
 * index as it lands, {@value #INDEX_READS_IN_FLIGHT} in flight beside the next listing, one GET of its listed size. After creating the
 * MANIFEST it puts commit notices to K keys in K prefixes ({@code StoreLayout#noticeKey}, one per
 * {@value dev.cairn.tiers.internal.layout.StoreLayout#RANKS_PER_NOTICE} ranks), each naming what the MANIFEST
 * commits: its digest and the digests of the indexes of the ranks that look at that notice ({@link CommitNotice}).
 * Every other rank looks first when the commit can be there (after the indexes of the ranks above it and a few round
 * trips of rank 0), then at a pace that keeps its notice key under {@value #NOTICE_LOOKS_PER_SECOND} requests a
 * second, at its notice only (one GET of its few KiB). A notice that names the digest of the very index this rank
 * put is that index's commit: the MANIFEST that references those bytes was created before it. Any other notice (of
 * another attempt of the step, naming other indexes; one without a body) is never taken for the commit: it only says
 * when to check the MANIFEST, which the rank then does once (a GET), the ranks spread over time so that the
 * MANIFEST's key sees at most {@value #MANIFEST_CHECKS_PER_SECOND} a second, and one without a MANIFEST (not retired
 * either) is ignored. A MANIFEST there is this rank's commit only where it commits the very index this rank put (the
 * digest it names for this rank, in format 5 read from the directory's pages that may hold this rank's rows): one
 * that commits another index of this rank (a dead attempt's, which rank 0 read before this rank put its own over it)
 * fails this rank's save with CONFLICT. Without any notice (rank 0 died between the create
 * and the notices, or its notice PUT failed) a rank still checks the MANIFEST now and then, the ranks' checks spread
 * over a period of {@code world / }{@value #SHARED_KEY_CHECKS_PER_SECOND} seconds (10 at least, a quarter of the
 * deadline at most).
 *
 * <p>A coordinator that gathers ({@link Coordinator#allGather}) carries each rank's digest of its index to rank 0, which
 * commits an index only with exactly those bytes: another writer's index put under the same key in between (a task
 * of an earlier attempt of a retried stage) fails the step instead of entering it. With a coordinator no notice is
 * written: the ranks meet at its barriers. At the "committed" barrier rank 0 passes {@value #CREATED} and the
 * MANIFEST's digest when it created it, {@value #FAILED} and its reason when it failed the step before trying to
 * (the ranks of that gathering then fail at once with that reason); where the digests were gathered, the other ranks take that as the commit of
 * their own index (rank 0 committed exactly the digests they passed) instead of reading the MANIFEST; a rank that reads
 * the MANIFEST instead (no digests gathered, another gathering than rank 0's, a failed barrier) takes it for its commit
 * only where it names the digest of this rank's index, as through the store.
 */
final class RankCommit {
    /**
     * What rank 0 passes at a coordinator's "committed" barrier when it created the step's MANIFEST, before the
     * MANIFEST's digest and the digest of the index digests it gathered ({@link #gatheredDigest}); it passes
     * {@link #FAILED} when it failed before trying to, and an empty token otherwise.
     */
    static final String CREATED = "created ";
    /**
     * What rank 0 passes at a coordinator's "committed" barrier when it failed the step before it tried to create the
     * MANIFEST (nothing can be committed: a refused slice, an index missing or not the one gathered), before the digest
     * of the index digests it gathered, its failure's {@link Reason} and message. A rank of that very gathering fails
     * at once with that reason, instead of asking the store for a MANIFEST that cannot come until its deadline and
     * failing with TIMEOUT long after rank 0 knew. A failure after the create was tried stays the empty token: the
     * create's outcome may be unknown, and the store decides.
     */
    static final String FAILED = "failed ";
    /** The most characters of rank 0's failure message its {@link #FAILED} token carries to every rank. */
    static final int FAILED_MESSAGE_CHARS = 500;
    static final long FIRST_POLL_NANOS = 2_000_000;
    static final long MAX_POLL_NANOS = 100_000_000;
    private static final long SECOND_NANOS = 1_000_000_000L;
    /** Index PUTs of one step a second that the ranks spread theirs over: under S3's 3,500 writes per prefix. */
    static final int INDEX_PUTS_PER_SECOND = 2_500;
    /**
     * Indexes rank 0 reads at once as they land: about 4,000 GETs a second at 20-60 ms each, under S3's 5,500 a prefix
     * with its listings, and well above the {@value #INDEX_PUTS_PER_SECOND} indexes that land a second (128, about
     * 3,200 a second, kept up only just: at 2,000 simulated ranks rank 0 read its last indexes a round behind).
     */
    static final int INDEX_READS_IN_FLIGHT = 160;
    /**
     * Pages of the MANIFEST's directory rank 0 puts at once: about 3,000 PUTs a second at 20-60 ms each, under S3's
     * 3,500 a prefix.
     */
    static final int PAGE_PUTS_IN_FLIGHT = 128;
    /** Looks at one commit notice a second, by all the ranks that share it. */
    static final int NOTICE_LOOKS_PER_SECOND = 500;
    /** Checks (GETs) of the MANIFEST a second by all ranks after their notices: under 1,000 on the one key. */
    static final int MANIFEST_CHECKS_PER_SECOND = 900;
    /**
     * Checks of the MANIFEST a second by all ranks together while no notice shows (rank 0 died before writing it, or
     * retired the step before this rank looked), each rank every 10 s at least, and at least 4 times in its deadline.
     */
    static final int SHARED_KEY_CHECKS_PER_SECOND = 100;
    /** The shortest period of a rank's checks of the MANIFEST without a notice: each costs up to three requests. */
    static final long MIN_CHECK_PERIOD_NANOS = 10 * SECOND_NANOS;
    /**
     * Round trips of rank 0 from the last index to the notices (list and read it, confirm chunks, write and create the
     * MANIFEST, notify): the scale simulation measured 0.2-0.35 s at 1,000 ranks, about 8 of a rank's index PUT; a
     * first look aimed earlier misses, and each miss costs a request a rank. With format 5's directory pages put
     * before the MANIFEST (125 at 1,000 ranks), 8 left 1,000 ranks 113 requests over their budget; 12 gave 140,582
     * requests (budget 141,000) and the commit seen by every rank 0.91 s after the last index (0.99 s with 8), and
     * 0.68 / 0.75 s at 16 / 256 ranks (0.44 / 0.62 s).
     */
    static final int COMMIT_ROUND_TRIPS = 12;
    /** While rank 0 is slow, a look at a notice waits at most this share (1 / n) of the time waited since the first miss. */
    static final int LOOK_WAIT_SHARE = 8;
    /** ... and at most this long (unless the key's rate asks for longer): what a slow commit adds to its latency. */
    static final long MAX_LOOK_NANOS = 2 * SECOND_NANOS;
    /** The shortest round trip a rank reckons its first look with. */
    static final long MIN_ROUND_TRIP_NANOS = 5_000_000;
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
    /**
     * The reference of each index rank 0 read (by tier, step and rank), from the very bytes it parsed: what the
     * MANIFEST commits. Taken by the commit of that step.
     */
    private final java.util.concurrent.ConcurrentHashMap<String, IndexRef> indexRefs = new java.util.concurrent.ConcurrentHashMap<>();

    RankCommit(BufferAllocator allocator, Coordinator coordinator, Duration wait, WaitClock clock) {
        this.allocator = allocator;
        this.coordinator = coordinator;
        this.wait = wait;
        this.clock = clock;
    }

    /**
     * What a rank's commit learned: the MANIFEST when it has it whole (rank 0, or read after the coordinator's
     * barrier), and the chunks it knows the committed step names (the whole MANIFEST's, or this rank's own rows,
     * which the MANIFEST holds). {@link #RETIRED}: committed, and retired by rank 0's retention since.
     */
    record Committed(Manifest manifest, Set<String> hashes) {
        static final Committed RETIRED = new Committed(null, null);

        static Committed whole(Manifest m) {
            return new Committed(m, m.referencedHashes());
        }

        /**
         * What a rank other than 0 learned from the MANIFEST it read: whole (format 3, or read with its indexes), or
         * only its global part (format 4: the rows are in the indexes), when what it knows the step names is its own
         * rows ({@code own}).
         */
        static Committed read(Manifest m, Manifest own) {
            return m.complete() ? whole(m) : new Committed(null, own.referencedHashes());
        }
    }

    /**
     * Before a rank writes its index: spreads the ranks' index PUTs over time ({@value #INDEX_PUTS_PER_SECOND} a
     * second, rank r after r / that many seconds) when they meet through the store, since a step's indexes share one
     * prefix, then tells whether the step is committed already (a second save of it is refused before its index
     * replaces a committed one). Rank 0 asks the MANIFEST. The others ({@link #createsIndex}) ask nothing here:
     * they create their index, and only when an index of theirs is there already (a committed step holds one for each
     * rank; so does an earlier attempt that did not commit) ask {@link #committedBeforeIndex}, which saves a request
     * per rank and step (with a coordinator, a round trip on each rank's way to the commit).
     */
    boolean alreadyCommitted(Tier tier, Manifest index, CommitProtocol commits) throws IOException {
        if (!createsIndex(index)) {
            return commits.isCommitted(tier, index.step());
        }
        if (coordinator == null) {
            long spread = (long) index.rank() * SECOND_NANOS / INDEX_PUTS_PER_SECOND;
            unlocked(tier, () -> {
                pause(spread);
                return null;
            });
        }
        return false;
    }

    /**
     * Whether {@code index}'s rank writes its index create-only, asking whether the step is committed only when the
     * create finds an index there ({@link #committedBeforeIndex}): every rank but 0.
     */
    boolean createsIndex(Manifest index) {
        return index.rank() != 0;
    }

    /**
     * With an index of this rank's already under its key: whether the step is committed. Meeting through the store,
     * the rank asks its commit notice, spread over K prefixes, where thousands of HEADs of one MANIFEST key at once
     * would be refused: a notice is put only after its MANIFEST, and is removed with it, so it is taken here only to
     * refuse a save. With a coordinator, which writes no notices, it asks the MANIFEST. Not committed: the index there
     * is an earlier attempt's, and this rank's replaces it.
     */
    boolean committedBeforeIndex(Tier tier, Manifest index, CommitProtocol commits) throws IOException {
        if (coordinator != null) {
            return commits.isCommitted(tier, index.step());
        }
        return exists(tier, tier.layout().noticeKey(index.step(), index.rank(), index.worldSize()));
    }

    /** The clock this commit waits on, for the round trip of a rank's index PUT. */
    long nanoTime() {
        return clock.nanoTime();
    }

    /**
     * Called with {@code index} (this rank's rows) durable in {@code tier}; returns what the rank learned of the
     * committed step.
     *
     * @param indexBytes     {@code index} as this rank wrote it to the store
     * @param indexPutNanos  how long the PUT of this rank's index took: the round trip its wait is reckoned in
     */
    Committed commit(Tier tier, Manifest index, byte[] indexBytes, CommitProtocol commits, long indexPutNanos)
            throws IOException {
        long until = clock.nanoTime() + wait.toNanos();
        String barrier = tier.layout().run() + "/" + tier.name() + "/" + index.step();
        // This rank's digest of its index: passed to the coordinator, or matched against its commit notice (rank 0
        // meeting through the store needs none).
        String own = coordinator != null || index.rank() != 0 ? digest(indexBytes) : null;
        // Each rank's digest of the index it wrote, by rank, when the coordinator passes them (Coordinator#allGather):
        // rank 0 then commits exactly those indexes. Null: meet through the store, or a coordinator that cannot.
        List<String> digests = null;
        if (coordinator != null) {
            digests = unlocked(tier, () -> coordinator.allGather(barrier + "/indexed", index.rank(), index.worldSize(),
                    own, left(until)).orElse(null));
            if (digests != null && digests.size() != index.worldSize()) {
                throw new CheckpointException(Reason.INVALID_CONFIG, "step " + index.step() + " is not committed in tier "
                        + tier.name() + ": the coordinator gathered " + digests.size() + " index digests for a world of "
                        + index.worldSize() + " ranks");
            }
        }
        List<String> expected = digests;
        if (index.rank() != 0) {
            if (coordinator == null) {
                return unlocked(tier, () -> awaitNotice(tier, index, own, commits, until, indexPutNanos));
            }
            List<String> told = gathered(tier, barrier + "/committed", index, "", until);
            if (expected != null && told != null && !told.isEmpty()
                    && told.get(0).endsWith(" " + gatheredDigest(expected)) && told.get(0).startsWith(CREATED)
                    && expected.get(index.rank()).equals(own)) {
                // Rank 0 created the MANIFEST, committing exactly the indexes whose digests it gathered in the very
                // gathering this rank was in (the same digest of them all), this rank's own among them: this rank's
                // rows are committed, learned without reading the MANIFEST.
                return new Committed(null, index.referencedHashes());
            }
            if (expected != null && told != null && !told.isEmpty() && told.get(0).startsWith(FAILED)) {
                refusedByRankZero(tier, index, told.get(0), gatheredDigest(expected));
            }
            if (told != null) {
                // Rank 0 has tried: the MANIFEST is there if it committed, read at once (one call instead of a stat
                // and a read); if it is not, the store is asked until the deadline: a peer that restarted or was
                // marked down for a moment may not answer at once. Either way it is this rank's commit only if it
                // commits the index this rank put (rank 0 may have been in another gathering, or gathered nothing).
                try {
                    return ownCommit(tier, index, own, commits, commits.readGlobal(tier, index.step()));
                } catch (NoSuchFileException notYet) {
                    // polled below
                }
            }
            Manifest read = unlocked(tier, () -> awaitManifest(tier, index, commits, until));
            return read == null ? Committed.RETIRED : ownCommit(tier, index, own, commits, read);
        }
        Exception failure = null;
        String created = "";
        Manifest merged = null;
        List<String> pinned = List.of();
        boolean attempted = false; // the MANIFEST's create was tried
        try {
            // The step's marks before its MANIFEST (StepMarks: a reader that finds the newest step by them must never
            // miss one); put now, while the other ranks' indexes land, so that they add no round trip to the commit.
            commits.marks().markBefore(tier, index.step(), index.worldSize());
            // After the barrier every index is written; polling stays for a store that does not show one at once
            // (a replacement rank's peer, reached again after being marked down), up to the deadline as before.
            List<Manifest> indexes = unlocked(tier, () -> coordinator != null ? readIndexes(tier, index, expected, until)
                    : awaitIndexes(tier, index, expected, until));
            pinned = pinNamed(tier, indexes, until);
            merged = merge(index, indexes);
            List<IndexRef> refs = references(tier, index, indexBytes);
            byte[] bytes;
            if (merged.formatVersion() >= ManifestFormat.FIRST_WITH_PAGES) {
                PageTree.Built built = PageTree.build(merged, refs, allocator);
                putPages(tier, built);
                merged = built.committed();
                bytes = built.manifest();
            } else {
                if (merged.formatVersion() >= ManifestFormat.FIRST_WITH_INDEXED_ROWS) {
                    merged = merged.withRowsIn(refs);
                }
                bytes = ManifestFormat.write(merged, "manifest", allocator);
            }
            // CommitPoint: the one place that creates a MANIFEST, and resolves a create whose answer was lost.
            attempted = true;
            CommitPoint.create(tier, index.step(), bytes);
            created = expected == null ? "" : CREATED + digest(bytes) + " " + gatheredDigest(expected);
            // The newest step, whose chunks this process's collections leave (ChunkCatalog#deleteUnlessPinned), before
            // the pins go: its collector holds the step only once the commit returns.
            tier.catalog().committed(index.step(), merged.referencedHashes());
            if (coordinator == null) {
                Manifest step = merged;
                String manifestDigest = digest(bytes);
                unlocked(tier, () -> {
                    notifyRanks(tier, step, manifestDigest, refs);
                    return null;
                });
            }
        } catch (IOException | RuntimeException e) {
            failure = e; // the other ranks still get to the barrier below, instead of waiting out the deadline
        } finally {
            for (int r = 1; r < index.worldSize(); r++) {
                indexRefs.remove(refKey(tier, index.step(), r));
            }
            if (!pinned.isEmpty() && attempted) {
                // The step may be committed: its chunks stay pinned until the tier's retention holds it (TierCommitter
                // lets them go after afterCommit, or after commitFailed).
                tier.catalog().keepPinnedUntil(index.step(), pinned);
            } else if (!pinned.isEmpty()) {
                tier.catalog().unpinAll(pinned);
            }
        }
        if (coordinator != null) {
            // Tells the others that rank 0 has tried, and whether it created the MANIFEST (which decided the step,
            // whatever happens here); a coordinator that passes no data only orders, and the others read the MANIFEST.
            String token = created;
            if (failure != null && !attempted && expected != null) {
                // Certain that nothing was created: the others of this gathering learn it here, not at their deadline.
                Reason why = failure instanceof CheckpointException c ? c.reason() : Reason.STORAGE;
                String message = String.valueOf(failure.getMessage());
                token = FAILED + gatheredDigest(expected) + " " + why.name() + " "
                        + message.substring(0, Math.min(message.length(), FAILED_MESSAGE_CHARS));
            }
            gathered(tier, barrier + "/committed", index, token, until);
        }
        if (failure instanceof IOException io) {
            throw io;
        }
        if (failure instanceof RuntimeException r) {
            throw r;
        }
        return Committed.whole(merged);
    }

    /**
     * Rank 0's {@link #FAILED} token {@code told} at the "committed" barrier: when it names {@code gathered}, the
     * gathering this rank was in, rank 0 of this very save failed the step before trying its MANIFEST, and this rank
     * fails with rank 0's reason now. A token of another gathering (another attempt's rank 0) says nothing of this
     * save: the store decides, as before.
     */
    private static void refusedByRankZero(Tier tier, Manifest index, String told, String gathered) {
        String[] parts = told.substring(FAILED.length()).split(" ", 3);
        if (parts.length < 2 || !parts[0].equals(gathered)) {
            return;
        }
        Reason why;
        try {
            why = Reason.valueOf(parts[1]);
        } catch (IllegalArgumentException unknown) {
            why = Reason.STORAGE;
        }
        throw new CheckpointException(why, "step " + index.step() + " is not committed in tier " + tier.name()
                + ": rank 0 refused it before creating its MANIFEST (" + parts[1] + ": "
                + (parts.length > 2 ? parts[2] : "") + "); rank " + index.rank() + "'s part is written but not committed");
    }

    /**
     * Puts the pages of the MANIFEST's directory ({@link PageTree}), {@value #PAGE_PUTS_IN_FLIGHT} in flight, before the
     * MANIFEST that names them: under keys of this commit attempt's own, so that nothing a committed MANIFEST names is
     * replaced, whatever happens to this attempt.
     */
    private void putPages(Tier tier, PageTree.Built built) throws IOException {
        List<String> keys = built.keys(tier.layout());
        List<WaitClock.Call<Void>> puts = new ArrayList<>(keys.size());
        for (int i = 0; i < keys.size(); i++) {
            String key = keys.get(i);
            byte[] page = built.pages().get(i).bytes();
            puts.add(() -> {
                tier.store().put(key, java.nio.ByteBuffer.wrap(page));
                return null;
            });
        }
        if (!puts.isEmpty()) {
            clock.sideBySide(puts, PAGE_PUTS_IN_FLIGHT);
        }
    }

    /**
     * Puts the step's commit notices, all in flight together, after its MANIFEST was created, each naming the
     * MANIFEST's digest and the index digests of its ranks ({@link CommitNotice}). Best effort: the step is committed
     * whatever happens here, and a rank that finds no notice still checks the MANIFEST now and then.
     */
    private void notifyRanks(Tier tier, Manifest step, String manifestDigest, List<IndexRef> refs) {
        List<WaitClock.Call<Void>> puts = new ArrayList<>();
        List<String> keys = tier.layout().noticeKeys(step.step(), step.worldSize());
        for (int k = 0; k < keys.size(); k++) {
            String key = keys.get(k);
            byte[] body = CommitNotice.write(manifestDigest, refs, k, keys.size());
            puts.add(() -> {
                tier.store().put(key, java.nio.ByteBuffer.wrap(body));
                return null;
            });
        }
        try {
            clock.sideBySide(puts, puts.size());
        } catch (IOException | RuntimeException e) {
            // Committed all the same: the ranks learn it from the MANIFEST at their slower pace.
        }
    }

    /**
     * Waits at the coordinator's "committed" barrier {@code name}, passing {@code token} ({@link Coordinator#allGather});
     * returns every rank's token, an empty list from a coordinator that passes no data, or null if the barrier failed
     * (timeout, a rank gone, closing). A failed barrier decides nothing: every rank then asks the store.
     */
    private List<String> gathered(Tier tier, String name, Manifest index, String token, long until) throws IOException {
        try {
            return unlocked(tier, () -> coordinator.allGather(name, index.rank(), index.worldSize(), token, left(until))
                    .orElse(List.of()));
        } catch (CheckpointException e) {
            return null;
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

    /**
     * Waits for every other rank's index through the store, in rounds. Each round lists where the indexes still missing
     * can be ({@link IndexListing}: the listing of every index, one request per 1,000 keys one after another, or, near
     * the end, the listings of the few key prefixes of the missing ranks, side by side) and, side by side with those
     * listings, reads the indexes the round before listed, {@value #INDEX_READS_IN_FLIGHT} in flight, each with one GET
     * of its listed size: a round takes the longer of its listings and its reads, not their sum, so that rank 0 reads
     * the indexes as fast as they land and the last one soon after it does. After a round that listed something to
     * read the next starts {@value #FIRST_POLL_NANOS} ns later; while nothing lands the wait doubles, up to
     * {@value #MAX_POLL_NANOS} ns.
     */
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
        // Listed in the round before, read in this one.
        List<ObjectInfo> listed = new ArrayList<>();
        List<Integer> listedRanks = new ArrayList<>();
        while (true) {
            Set<Integer> unlisted = new TreeSet<>(missing);
            unlisted.removeAll(listedRanks);
            List<String> groups = IndexListing.prefixes(world, unlisted);
            List<WaitClock.Call<Object>> calls = new ArrayList<>(groups.size() + listed.size());
            for (String group : groups) {
                String keys = IndexListing.keyPrefix(tier.layout(), own.step(), group);
                calls.add(() -> tier.store().list(keys));
            }
            for (int i = 0; i < listed.size(); i++) {
                ObjectInfo index = listed.get(i);
                int rank = listedRanks.get(i);
                calls.add(() -> {
                    try {
                        return readIndex(tier, index, own, rank, digests);
                    } catch (NoSuchFileException listedButNotReadable) {
                        // Listed by one peer, unreadable the next moment: a replacement rank's index held only in its
                        // own memory while this rank's link to it is still marked down. Listed again next round.
                        return null;
                    }
                });
            }
            List<Object> results = calls.isEmpty() ? List.of()
                    : clock.sideBySide(calls, groups.size() + INDEX_READS_IN_FLIGHT);
            for (int i = 0; i < listed.size(); i++) {
                if (results.get(groups.size() + i) instanceof Manifest m) {
                    found[listedRanks.get(i)] = m;
                    missing.remove(listedRanks.get(i));
                }
            }
            if (missing.isEmpty()) {
                return List.of(found);
            }
            listed = new ArrayList<>();
            listedRanks = new ArrayList<>();
            for (int g = 0; g < groups.size(); g++) {
                @SuppressWarnings("unchecked")
                List<ObjectInfo> keys = (List<ObjectInfo>) results.get(g);
                for (ObjectInfo o : keys) {
                    java.util.OptionalInt rank = tier.layout().rankOfIndexKey(o.key());
                    if (rank.isPresent() && unlisted.remove(rank.getAsInt()) && o.key().startsWith(prefix)) {
                        listed.add(o);
                        listedRanks.add(rank.getAsInt());
                    }
                }
            }
            if (clock.nanoTime() - until >= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "step " + own.step() + " is not committed in tier " + tier.name()
                        + ": rank(s) " + missing + " of " + world + " did not write their index within " + wait);
            }
            // Between rounds a short wait when there is something to read, a growing one while nothing lands.
            pause = listed.isEmpty() ? Math.min(MAX_POLL_NANOS, pause * 2) : FIRST_POLL_NANOS;
            pause(pause);
        }
    }

    /**
     * Rank {@code rank}'s index, as listed: one GET of one byte more than its listed size, which returns exactly that
     * many bytes when the object is still the one listed; otherwise (replaced since) it is read as any other.
     */
    private Manifest readIndex(Tier tier, ObjectInfo listed, Manifest own, int rank, List<String> digests) throws IOException {
        String key = listed.key();
        if (listed.size() > 0 && listed.size() <= ManifestFormat.MAX_BYTES) {
            java.nio.ByteBuffer dst = java.nio.ByteBuffer.allocate((int) listed.size() + 1);
            if (tier.store().read(key, 0, dst) == listed.size()) {
                return checkedIndex(dst.flip(), key, tier, own, rank, digests);
            }
        }
        return readIndex(tier, key, own, rank, digests);
    }

    /**
     * Rank {@code rank}'s index of {@code own}'s step. With {@code digests} (see {@link #commit}) its bytes must be the
     * ones that rank wrote for this save: a store may hold another writer's index under the key by now (a task of an
     * earlier attempt of a stage its engine retried, whose write arrived after this attempt's), and committing that
     * would mix two saves in one MANIFEST.
     */
    private Manifest readIndex(Tier tier, String key, Manifest own, int rank, List<String> digests) throws IOException {
        return checkedIndex(ManifestFormat.readBytes(tier.store(), key, tier.name() + ":" + key), key, tier, own, rank,
                digests);
    }

    private Manifest checkedIndex(java.nio.ByteBuffer bytes, String key, Tier tier, Manifest own, int rank,
                                  List<String> digests) {
        indexRefs.put(refKey(tier, own.step(), rank), IndexRef.of(rank, bytes));
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
            ChunkConfirmation.confirm(tier, indexes.get(0).step(), ask, ChunkConfirmation.recordedLengths(indexes), until,
                    clock);
        } catch (IOException | RuntimeException e) {
            tier.catalog().unpinAll(pinned);
            throw e;
        }
        return pinned;
    }

    /** What the MANIFEST commits of each rank's index: rank 0's own bytes, and the bytes it read of the others. */
    private List<IndexRef> references(Tier tier, Manifest own, byte[] ownBytes) {
        List<IndexRef> refs = new ArrayList<>(own.worldSize());
        refs.add(IndexRef.of(0, java.nio.ByteBuffer.wrap(ownBytes)));
        for (int r = 1; r < own.worldSize(); r++) {
            IndexRef ref = indexRefs.get(refKey(tier, own.step(), r));
            if (ref == null) {
                throw new IllegalStateException("rank " + r + "'s index of step " + own.step() + " was merged unread");
            }
            refs.add(ref);
        }
        return refs;
    }

    private static String refKey(Tier tier, long step, int rank) {
        return tier.index() + "/" + step + "/" + rank;
    }

    /**
     * One MANIFEST of every rank's rows, in rank 0's format. A manifest names one content hash for all its chunks, so
     * an index keyed by another (a rank on a release of another manifest format) fails the commit instead of being
     * listed under the wrong hash. Ranks whose entries of one name disagree (kind, dtype, global shape, or slices that
     * leave a gap or overlap without being replicas) fail it with INVALID_INPUT ({@link SliceAgreement}): committed,
     * such a step would retire the good ones before it and fail every restore on another world size.
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
        // Every rank's rows are here (each index was read whole), whatever the MANIFEST keeps of them: the ranks'
        // entries of one name must make one entry before the step can be committed (SliceAgreement).
        SliceAgreement.check(own.step(), entries);
        // Rank 0's own time of the step, not now: a promotion carries it, so every tier's MANIFEST of this checkpoint
        // has the same one, and another save of the same step number its own (Manifest#sameCommitAs).
        return new Manifest(own.formatVersion(), own.contentHash(), own.run(), own.step(), own.worldSize(), 0, own.createdAt(),
                own.chunkBytes(), entries);
    }

    /**
     * Waits, without a coordinator, until {@code own}'s step is committed, {@code ownDigest} being the digest of the
     * index bytes this rank put ({@link IndexRef#digestOf}). The first look at this rank's commit notice
     * comes when the commit can be there: after the index PUTs of the ranks above this one (spread at
     * {@value #INDEX_PUTS_PER_SECOND} a second) and {@value #COMMIT_ROUND_TRIPS} round trips of rank 0, a round trip
     * being what this rank's own index PUT took. Later looks come at the interval that keeps the notice key under
     * {@value #NOTICE_LOOKS_PER_SECOND} requests a second from all the ranks that share it (at least
     * {@value #MAX_POLL_NANOS} ns), or an eighth of the time waited since the first miss when that is longer (rank 0
     * slow: fewer looks), up to {@value #MAX_LOOK_NANOS} ns. A notice that names {@code ownDigest} for this rank is
     * the commit ({@link CommitNotice}): nothing more is asked. Any other notice sends the rank to the MANIFEST, in a
     * world of more than {@value #MANIFEST_CHECKS_PER_SECOND} ranks after {@code rank / }{@value #MANIFEST_CHECKS_PER_SECOND}
     * seconds (the ranks' reads of the one key spread over time): there and committing this rank's index, committed
     * (there with another index of this rank, CONFLICT: {@link #ownCommit}); absent and retired, committed and
     * gone; absent otherwise, the notice is not a commit (a crashed or foreign writer's, another attempt's) and later
     * looks take only a notice that names this rank's index.
     * Whatever the notices say, the MANIFEST and the retirement are checked every
     * {@code world / }{@value #SHARED_KEY_CHECKS_PER_SECOND} seconds (at least 10, at most a quarter of the deadline),
     * so that a step whose notices were never written is still seen.
     */
    private Committed awaitNotice(Tier tier, Manifest own, String ownDigest, CommitProtocol commits, long until,
                                  long indexPutNanos) throws IOException {
        int world = own.worldSize();
        int rank = own.rank();
        String notice = tier.layout().noticeKey(own.step(), rank, world);
        int notices = Math.max(1, dev.cairn.tiers.internal.layout.StoreLayout.noticeCount(world));
        long sharing = (world + notices - 1) / notices;
        long lookInterval = Math.max(MAX_POLL_NANOS, sharing * SECOND_NANOS / NOTICE_LOOKS_PER_SECOND);
        long checkEvery = Math.max(1, Math.min(wait.toNanos() / 4,
                Math.max(MIN_CHECK_PERIOD_NANOS, (long) world * SECOND_NANOS / SHARED_KEY_CHECKS_PER_SECOND)));
        long roundTrip = Math.max(MIN_ROUND_TRIP_NANOS, indexPutNanos);
        long pause = (long) (world - 1 - rank) * SECOND_NANOS / INDEX_PUTS_PER_SECOND
                + commitRoundTrips(own) * roundTrip;
        // Each rank's checks without a notice come at its own phase of the period, so that the ranks' checks spread
        // over it rather than all falling in the same second.
        long nextCheck = clock.nanoTime() + checkEvery + checkEvery / world * rank;
        boolean noticeIgnored = false;
        long firstMiss = -1;
        while (true) {
            pause(Math.max(0, Math.min(pause, until - clock.nanoTime())));
            Committed committed = null;
            Look look = look(tier, notice, rank, ownDigest, world, notices);
            if (look == Look.OURS) {
                // Written after the MANIFEST that commits exactly the index this rank put.
                return new Committed(null, own.referencedHashes());
            }
            if (look == Look.OTHER && !noticeIgnored) {
                // All ranks' checks in one second are under the key's rate up to that many ranks; above, each rank
                // takes its slot in a spread of world / MANIFEST_CHECKS_PER_SECOND seconds.
                if (world > MANIFEST_CHECKS_PER_SECOND) {
                    pause((long) rank * SECOND_NANOS / MANIFEST_CHECKS_PER_SECOND);
                }
                committed = committedOrRetired(tier, own, ownDigest, commits);
                // A notice without its MANIFEST is not a commit; this rank keeps looking, for rank 0 to put its own
                // notice over it, but does not ask for the MANIFEST again until its periodic check.
                noticeIgnored = committed == null;
                nextCheck = clock.nanoTime() + checkEvery;
            } else if (clock.nanoTime() - nextCheck >= 0) {
                committed = committedOrRetired(tier, own, ownDigest, commits);
                nextCheck = clock.nanoTime() + checkEvery;
            }
            if (committed != null) {
                return committed;
            }
            if (clock.nanoTime() - until >= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "step " + own.step() + " was not committed in tier " + tier.name()
                        + " by rank 0 in time: rank " + own.rank() + "'s part is written but the step does not exist"
                        + (noticeIgnored ? " (a commit notice was there, but no MANIFEST)" : ""));
            }
            // Not a backoff that starts short: the ranks sharing a notice look at about the same moments (their first
            // looks are aimed at one time), so each look after a miss waits at least the interval that keeps the key
            // under its rate; a long wait (rank 0 slow) stretches it to a share of the time waited, up to 2 s, so that
            // a slow commit costs fewer looks and is still seen within 2 s of its notice.
            if (firstMiss < 0) {
                firstMiss = clock.nanoTime();
            }
            pause = Math.max(lookInterval, Math.min(MAX_LOOK_NANOS, (clock.nanoTime() - firstMiss) / LOOK_WAIT_SHARE));
        }
    }

    /**
     * Round trips of rank 0 from the last index to the notices of {@code own}'s step, as a rank reckons them:
     * {@value #COMMIT_ROUND_TRIPS}, and from manifest format 5 one more for each further
     * {@value #PAGE_PUTS_IN_FLIGHT} pages of the directory rank 0 puts before the MANIFEST, which rank 0 puts one
     * round trip after another (about {@code world x entries / }{@value PageTree#ROWS_PER_PAGE} pages, this rank's
     * own count of entries taken for every rank's: 1,250 pages at 10,000 ranks of 4 entries, 10 round trips).
     */
    static long commitRoundTrips(Manifest own) {
        if (own.formatVersion() < ManifestFormat.FIRST_WITH_PAGES) {
            return COMMIT_ROUND_TRIPS;
        }
        long rows = (long) own.worldSize() * Math.max(1, own.entries().size());
        long pages = (rows + PageTree.ROWS_PER_PAGE - 1) / PageTree.ROWS_PER_PAGE;
        long rounds = (pages + PAGE_PUTS_IN_FLIGHT - 1) / PAGE_PUTS_IN_FLIGHT;
        return COMMIT_ROUND_TRIPS + Math.max(0, rounds - 1);
    }

    /**
     * Whether {@code own}'s step is committed with this rank's index ({@code ownDigest}): its MANIFEST is there (one
     * GET, its reads cached by the protocol) and commits that index ({@link #ownCommit}: CONFLICT when it commits
     * another index of this rank), or it was committed and retired since ({@link Committed#RETIRED}); null when
     * neither.
     */
    private Committed committedOrRetired(Tier tier, Manifest own, String ownDigest, CommitProtocol commits)
            throws IOException {
        Manifest global;
        try {
            global = commits.readGlobal(tier, own.step());
        } catch (NoSuchFileException notThere) {
            return retiredOrGone(tier, own, commits) ? Committed.RETIRED : null;
        }
        return ownCommit(tier, own, ownDigest, commits, global);
    }

    /**
     * What the committed MANIFEST {@code global} of {@code own}'s step means for this rank's save: committed when it
     * commits the index this rank put (SHA-256 {@code ownDigest}); CONFLICT when it commits another index of this rank.
     * That is the index of another attempt of the step (one that died before its MANIFEST, or a late task of a retried
     * stage) that rank 0 read instead of this rank's: the step holds that attempt's rows of this rank, not this save's
     * (and where this rank's index replaced that one in the store, the MANIFEST's reference refuses it at restore). The
     * MANIFEST names each rank's index by its digest: format 4 in the MANIFEST, format 5 in the
     * directory's pages, of which those that may hold this rank's rows are read (only here, where no commit notice
     * named this rank's index). One that keeps its rows inline (format 3, an older release's) never commits this
     * rank's index, which a save of this release writes in format 5.
     */
    private Committed ownCommit(Tier tier, Manifest own, String ownDigest, CommitProtocol commits, Manifest global)
            throws IOException {
        int rank = own.rank();
        IndexRef committed = null;
        boolean known = false;
        if (global.rowsInIndexes()) {
            committed = global.indexed().indexes().get(rank);
            if (committed == null) {
                // Format 5 as stored: the references are in the pages (none where the rank saved no entry).
                committed = commits.select(tier, global, rows -> rows.stream().filter(r -> r.mayHoldRank(rank)).toList())
                        .indexed().indexes().get(rank);
            }
            known = committed == null ? own.entries().isEmpty() : committed.digest().equals(ownDigest);
        }
        if (known) {
            return Committed.read(global, own);
        }
        throw new CheckpointException(Reason.CONFLICT, "step " + own.step() + " was committed in tier " + tier.name()
                + " with another index of rank " + rank + " (another attempt's"
                + (committed == null ? ", rows kept in its MANIFEST" : ", SHA-256 " + committed.digest()) + ", not this"
                + " save's " + ownDigest + "): this save of rank " + rank + " is not in it; the step's rows of rank " + rank
                + " are that attempt's, and cannot be restored where this save's index replaced its index");
    }

    /** What a look at a commit notice found. */
    private enum Look {
        ABSENT,
        /** A notice naming the digest of this rank's index: its commit. */
        OURS,
        /** A notice that does not name this rank's index (another attempt's, an empty one): the MANIFEST decides. */
        OTHER
    }

    /** One GET of notice {@code key} (a few KiB at most): what it says of {@code rank}'s index of {@code digest}. */
    private static Look look(Tier tier, String key, int rank, String digest, int world, int notices) throws IOException {
        java.nio.ByteBuffer body = java.nio.ByteBuffer.allocate(CommitNotice.maxBytes(world, notices) + 1);
        try {
            tier.store().read(key, 0, body);
        } catch (NoSuchFileException absent) {
            return Look.ABSENT;
        }
        return CommitNotice.names(body.flip(), rank, digest) ? Look.OURS : Look.OTHER;
    }

    private static boolean exists(Tier tier, String key) throws IOException {
        try {
            tier.store().stat(key);
            return true;
        } catch (NoSuchFileException absent) {
            return false;
        }
    }

    /**
     * With the MANIFEST of {@code own}'s step not there: true when rank 0 committed and retired it since (the RETIRED
     * marker is newer than this rank's index, or this rank's index is gone and a newer step is committed); false when
     * it may still come; STORAGE when this rank's index is gone and no newer step is committed (removed as abandoned).
     */
    private static boolean retiredOrGone(Tier tier, Manifest own, CommitProtocol commits) throws IOException {
        try {
            ObjectInfo ownIndex = tier.store().stat(tier.layout().indexKey(own.step(), own.rank()));
            return retiredSince(tier, own.step(), ownIndex);
        } catch (NoSuchFileException gone) {
            // Retired after its commit (then a newer step is committed), or removed as abandoned (then not).
            if (commits.newestCommitted(tier, own.rank(), own.worldSize()) > own.step()) {
                return true;
            }
            throw new CheckpointException(Reason.STORAGE, "step " + own.step() + " was not committed in tier "
                    + tier.name() + ": rank " + own.rank() + "'s index of it is gone and no newer step is committed");
        }
    }

    /**
     * After a coordinator's "committed" barrier that failed or found no MANIFEST: waits for rank 0's MANIFEST of
     * {@code own}'s step, asking the store as before notices existed (a coordinator's world meets at barriers, so this
     * is the exception). Rank 0 may already have committed newer steps and retired
     * this one (its retention writes a RETIRED marker, deletes the MANIFEST, then the step's indexes) before this rank
     * looked: the marker, or this rank's own index gone, means exactly that, since an uncommitted step's files are
     * only removed once older than the GC grace, which a multi-rank configuration keeps above the deadline. (On the
     * peer tier a delete reaches the peers it can: this rank's own copy of its index may outlive the step, which is
     * why the marker exists.) Returns null in that case (nothing to cache).
     */
    private Manifest awaitManifest(Tier tier, Manifest own, CommitProtocol commits, long until) throws IOException {
        long pause = FIRST_POLL_NANOS;
        while (!commits.isCommitted(tier, own.step())) {
            if (retiredOrGone(tier, own, commits)) {
                return null; // committed, and retired by rank 0's retention since
            }
            if (clock.nanoTime() - until >= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "step " + own.step() + " was not committed in tier " + tier.name()
                        + " by rank 0 in time: rank " + own.rank() + "'s part is written but the step does not exist");
            }
            pause(pause);
            pause = Math.min(MAX_POLL_NANOS, pause * 2);
        }
        try {
            return commits.readGlobal(tier, own.step());
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
    /** The SHA-256 of the index digests of a gathering, in rank order: which gathering rank 0 committed. */
    static String gatheredDigest(List<String> digests) {
        return digest(String.join("\n", digests).getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    static String digest(byte[] bytes) {
        return digest(java.nio.ByteBuffer.wrap(bytes));
    }

    /** The same digest as the MANIFEST's reference to an index ({@link IndexRef#digestOf}). */
    private static String digest(java.nio.ByteBuffer bytes) {
        return IndexRef.digestOf(bytes);
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
