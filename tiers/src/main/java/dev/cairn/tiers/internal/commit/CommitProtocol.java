package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CommitReport;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Writes and reads commits in a tier. Committed manifests never change (create-only), so parsed ones are cached
 * by key until GC deletes them: the whole one once its rank indexes were read, else the MANIFEST as read. A MANIFEST
 * of several ranks keeps its chunk rows in the ranks' indexes ({@link dev.cairn.tiers.internal.manifest.IndexedRows}):
 * {@link #read} follows every index ({@link CommittedManifest}), {@link #readGlobal} and {@link #withRanks} let a
 * restoring rank read only the indexes it needs.
 */
public final class CommitProtocol {
    private final BufferAllocator allocator;
    private final Map<String, Manifest> cache;
    /** MANIFESTs being read right now, by cache key: see {@link #readGlobal}. */
    private final ConcurrentHashMap<String, java.util.concurrent.CompletableFuture<Manifest>> reading;
    private final RankCommit ranks;
    private final Parser parser;
    private final WaitClock clock;
    private final java.time.Duration wait;
    private final StepMarks marks;
    /** The restoring rank's pacing of its metadata reads ({@link #restoring}); null: not paced. */
    private final RestorePacing pacing;
    /** Pages and rank indexes read ahead for a restore ({@link #readAheadRows}), shared with {@link #restoring}'s. */
    private final ReadAheadRows readAhead;
    /**
     * How recently a chunk a commit did not put itself must have been written for the commit to name it as it is,
     * unless the tier's newest committed step names it ({@code SavePipeline#freshFor};
     * {@link ChunkConfirmation#refreshLapsed}).
     */
    private final long freshForMillis;

    /**
     * How the bytes of a committed MANIFEST become a {@link Manifest}: {@link ManifestFormat#read} by default. A
     * simulation that plays thousands of ranks in one process supplies one that parses each distinct MANIFEST once
     * (every rank still reads its bytes from the store), as each rank's own process would parse its own copy.
     */
    @FunctionalInterface
    public interface Parser {
        Manifest parse(ByteBuffer bytes, String label);
    }

    public CommitProtocol(BufferAllocator allocator) {
        this(allocator, null, dev.cairn.CairnConfig.DEFAULT_DEADLINE);
    }

    /**
     * @param coordinator the framework's barrier for multi-rank commits, or null to meet through the store
     * @param wait        how long a multi-rank commit waits for the other ranks
     */
    public CommitProtocol(BufferAllocator allocator, dev.cairn.Coordinator coordinator, java.time.Duration wait) {
        this(allocator, coordinator, wait, WaitClock.SYSTEM, null);
    }

    /**
     * As {@link #CommitProtocol(BufferAllocator, dev.cairn.Coordinator, java.time.Duration)}, with the clock a
     * multi-rank commit waits on and the parser of MANIFESTs read back (null: {@link ManifestFormat#read}).
     */
    public CommitProtocol(BufferAllocator allocator, dev.cairn.Coordinator coordinator, java.time.Duration wait,
                          WaitClock clock, Parser parser) {
        this(allocator, coordinator, wait, clock, parser, DEFAULT_FRESH_FOR);
    }

    /**
     * How recently a chunk must have been written for a commit to name it without writing it again, unless the
     * tier's newest step names it, where no run's configuration says ({@code SavePipeline#freshFor} of the defaults):
     * half the command line's default grace.
     */
    public static final java.time.Duration DEFAULT_FRESH_FOR = dev.cairn.CairnConfig.DEFAULT_GC_GRACE.dividedBy(2);

    /**
     * As {@link #CommitProtocol(BufferAllocator, dev.cairn.Coordinator, java.time.Duration, WaitClock, Parser)}, with
     * how recently a chunk a commit found stored must have been written for the commit to name it as it is, unless
     * the tier's newest committed step names it: the run's {@code SavePipeline#freshFor}, as its saves decide.
     */
    public CommitProtocol(BufferAllocator allocator, dev.cairn.Coordinator coordinator, java.time.Duration wait,
                          WaitClock clock, Parser parser, java.time.Duration freshFor) {
        this.freshForMillis = freshFor.toMillis();
        this.allocator = allocator;
        this.cache = new ConcurrentHashMap<>();
        this.reading = new ConcurrentHashMap<>();
        this.ranks = new RankCommit(allocator, coordinator, wait, clock);
        this.clock = clock;
        this.wait = wait;
        this.marks = new StepMarks(clock);
        this.parser = parser != null ? parser : (bytes, label) -> ManifestFormat.read(bytes, label, allocator);
        this.pacing = null;
        this.readAhead = new ReadAheadRows();
    }

    private CommitProtocol(CommitProtocol of, RestorePacing pacing) {
        this.allocator = of.allocator;
        this.ranks = of.ranks;
        this.clock = of.clock;
        this.wait = of.wait;
        this.marks = of.marks;
        this.parser = of.parser;
        this.pacing = pacing;
        this.freshForMillis = of.freshForMillis;
        this.cache = of.cache;
        this.reading = of.reading;
        this.readAhead = of.readAhead;
    }

    /**
     * This protocol, sharing its cache, as rank {@code rank} of a restore on {@code worldSize} ranks reads: its reads
     * of a MANIFEST, its directory pages and rank indexes ({@link #newestCommitted}'s confirmation, {@link #readGlobal},
     * {@link #select}, {@link #withRanks}) paced from now so that all the restoring ranks stay under the store's rate
     * of the step's prefix ({@link RestorePacing}); this protocol itself, unpaced, for a world whose ranks' slots all
     * fit in the pacing's burst (up to 125 ranks: nothing would wait) and for a restore of one rank.
     */
    public CommitProtocol restoring(int rank, int worldSize) {
        return RestorePacing.needed(worldSize) ? new CommitProtocol(this, new RestorePacing(clock, rank, worldSize)) : this;
    }

    /** The store of {@code tier} as this protocol reads it: paced while restoring ({@link #restoring}). */
    private dev.cairn.ObjectStore reads(Tier tier) {
        return pacing == null ? tier.store() : pacing.paced(tier.store());
    }

    /**
     * {@link #commit(Tier, Manifest, Set, long, long)} of a manifest none of whose chunks is known to be put by this
     * save: every chunk it names is confirmed in the store, and written again where it lapsed.
     */
    public CommitReport commit(Tier tier, Manifest manifest, long chunksWritten, long bytesWritten) throws IOException {
        return commitPromoted(tier, manifest, Set.of(), chunksWritten, bytesWritten);
    }

    /**
     * The commit of a promotion's {@code manifest}: every chunk it names is confirmed in the store, with several ranks
     * too (a promotion does not tell the chunks it put from those it found); those it found, not {@code written} (the
     * chunks the promotion put itself), are written again where they lapsed ({@link ChunkConfirmation#refreshLapsed}),
     * as a save's are.
     */
    public CommitReport commitPromoted(Tier tier, Manifest manifest, Set<String> written, long chunksWritten,
                                       long bytesWritten) throws IOException {
        return commit(tier, manifest, Set.of(), written, chunksWritten, bytesWritten);
    }

    /**
     * Commits {@code manifest} in {@code tier}: the names of its chunks made durable, a confirmation in the store of
     * every chunk the manifest names that this save did not put itself ({@link ChunkConfirmation}), the index, then
     * MANIFEST create-only. Call with every chunk the manifest references written to the tier (its bytes durable; its
     * name may await this commit). With several ranks {@code manifest} is this rank's part and {@link RankCommit}
     * completes the step with the others; each rank confirms its own chunks, before its index.
     *
     * <p>Right after each confirmation, every chunk it confirmed that this save did not put is asked again whether the
     * commit may still count on it as it is (the reasons its save counted on it may have lapsed since:
     * {@link ChunkConfirmation#refreshLapsed}), and written again, as stored, where it may not.
     *
     * @param put          the chunks this save put into the tier itself ({@code SaveJob#putHashes}): with several ranks, not
     *                     asked again (one rank asks for every chunk, see below); never written again
     * @param bytesWritten bytes of chunks this save wrote, for the report
     */
    public CommitReport commit(Tier tier, Manifest manifest, Set<String> put, long chunksWritten, long bytesWritten)
            throws IOException {
        return commit(tier, manifest, put, put, chunksWritten, bytesWritten);
    }

    /**
     * {@link #commit(Tier, Manifest, Set, long, long)}, where the chunks not asked again with several ranks
     * ({@code put}) and those never written again ({@code written}) may differ: a promotion confirms every chunk and
     * writes again none of those it put.
     */
    private CommitReport commit(Tier tier, Manifest manifest, Set<String> put, Set<String> written, long chunksWritten,
                                long bytesWritten) throws IOException {
        long step = manifest.step();
        if (manifest.worldSize() > 1 ? ranks.alreadyCommitted(tier, manifest, this) : isCommitted(tier, step)) {
            // Checked before the index too: a losing writer must not replace the committed step's index. (A writer
            // whose check passes may still lose the create: then it gives the index back, see giveBackIndex.) With
            // several ranks, RankCommit asks where thousands of ranks may ask at once (ranks other than 0 only when
            // their index create finds one there, below).
            throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier " + tier.name()
                    + ": saving a step twice is refused");
        }
        // Loaded now if it is not yet: nothing after the MANIFEST create may fail the commit.
        dev.cairn.tiers.internal.ChunkCatalog catalog = tier.catalog();
        syncChunkNames(tier, manifest);
        if (manifest.worldSize() > 1) {
            // Every chunk this rank found stored and did not put itself: a collector in another process may have
            // deleted it since (ChunkConfirmation says why the ones it put are not asked again at this scale, and which
            // window that leaves). Asked by each rank of its own chunks, before its index, so that what an index names
            // was seen in the store; against a peer tier whose peer is down for a moment the store cannot tell, so
            // asked again until the deadline.
            Map<String, Integer> byRank = new LinkedHashMap<>();
            for (String h : manifest.referencedHashes()) {
                if (!put.contains(h)) {
                    byRank.put(h, manifest.rank());
                }
            }
            Map<String, Long> recorded = ChunkConfirmation.recordedLengths(List.of(manifest));
            ChunkConfirmation.confirm(tier, step, byRank, recorded, clock.nanoTime() + wait.toNanos(), clock);
            // Then, still before the index, what this rank counted on without putting it and may no longer count on
            // as it is, written again. Rank 0 creates the MANIFEST within its wait for the ranks' indexes (the
            // deadline, at most half of gcGrace with several ranks): what this rank names is then named by its newest
            // step, or at most freshFor and that wait old.
            ChunkConfirmation.refreshLapsed(tier, step, byRank, written, recorded, freshForMillis,
                    "a new save writes them again");
        }
        // One rank: its index and MANIFEST hold the same rows, encoded once for both (the MANIFEST is created below,
        // after the index and the chunks' confirmation, as ever).
        byte[][] files = manifest.worldSize() > 1 ? null : ManifestFormat.writeIndexAndManifest(manifest, allocator);
        byte[] index = files != null ? files[0] : ManifestFormat.write(manifest, "index", allocator);
        String indexKey = tier.layout().indexKey(step, manifest.rank());
        long putStart = ranks.nanoTime();
        if (manifest.worldSize() > 1 && ranks.createsIndex(manifest)) {
            // Created, so that the check for a committed step costs a request only where an index is there already.
            if (!tier.store().putIfAbsent(indexKey, ByteBuffer.wrap(index))) {
                if (ranks.committedBeforeIndex(tier, manifest, this)) {
                    throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier "
                            + tier.name() + ": saving a step twice is refused");
                }
                tier.store().put(indexKey, ByteBuffer.wrap(index)); // an earlier attempt's, not committed
            }
        } else {
            tier.store().put(indexKey, ByteBuffer.wrap(index));
        }
        long indexPutNanos = ranks.nanoTime() - putStart;
        String key = tier.layout().manifestKey(step);
        long manifestBytes = 0;
        try {
            if (manifest.worldSize() > 1) {
                RankCommit.Committed committed = ranks.commit(tier, manifest, index, this, indexPutNanos);
                if (committed.manifest() != null) { // null: checked, not read whole (or committed and retired since)
                    cache.put(cacheKey(tier, key), committed.manifest());
                }
                if (committed.hashes() != null) {
                    catalog.committed(step, committed.hashes());
                }
            } else {
                // One rank: every chunk the step names, put by this save or not, is asked of the store after the index
                // and right before the MANIFEST, so that even a collector run with a grace shorter than the save (the
                // command line's gc --grace 0s) makes the step fail instead of committing a chunk it deleted
                // (ConcurrentWritersTest). A few hundred HEADs a GiB, which only thousands of ranks cannot afford.
                Map<String, Integer> byRank = new LinkedHashMap<>();
                manifest.referencedHashes().forEach(h -> byRank.put(h, manifest.rank()));
                Map<String, Long> recorded = ChunkConfirmation.recordedLengths(List.of(manifest));
                ChunkConfirmation.confirm(tier, step, byRank, recorded);
                // What the save counted on without putting it, where the reason lapsed meanwhile (the newest step that
                // named it superseded, or too old by now), is written again: no request where nothing lapsed.
                ChunkConfirmation.refreshLapsed(tier, step, byRank, written, recorded, freshForMillis,
                        "a new save writes them again");
                byte[] bytes = files[1];
                marks.markBefore(tier, step, 1);
                CommitPoint.create(tier, step, bytes);
                cache.put(cacheKey(tier, key), manifest);
                catalog.committed(step, manifest.referencedHashes());
                manifestBytes = bytes.length;
                // The index is what the MANIFEST names for this rank: a losing writer of the same step may have
                // replaced it after its own check above and before our create.
                confirmIndex(tier, indexKey, index);
            }
        } catch (CheckpointException e) {
            if (e.reason() == Reason.CONFLICT) {
                giveBackIndex(tier, manifest, indexKey, index);
            }
            throw e;
        }
        return new CommitReport(tier.name(), step, manifest.chunkCount(), chunksWritten, manifest.rawBytes(),
                manifest.storedBytes(), bytesWritten + index.length + manifestBytes);
    }

    /**
     * Makes durable the names of every chunk {@code manifest} names (ChunkForms writes them with
     * {@link dev.cairn.ObjectStore#putSyncingNameLater}): their bytes were durable when written, and from here on a
     * crash cannot lose a chunk that the index and MANIFEST written next name. Chunks this process found stored are
     * included: a store forces again what it cannot tell is durable.
     */
    private static void syncChunkNames(Tier tier, Manifest manifest) throws IOException {
        Set<String> hashes = manifest.referencedHashes();
        List<String> keys = new ArrayList<>(hashes.size());
        for (String hash : hashes) {
            keys.add(tier.layout().chunkKey(hash));
        }
        tier.store().syncNames(keys);
    }

    /**
     * Puts {@code index} at {@code key} again unless the store holds exactly it. Best effort, after the commit: a
     * store error here leaves the step committed (verify names an index that does not match its MANIFEST). Also after
     * a copy's commit ({@code CheckpointAdmin.copy}), for each index it put.
     */
    public static void confirmIndex(Tier tier, String key, byte[] index) {
        try {
            ByteBuffer there;
            try {
                there = ManifestFormat.readBytes(tier.store(), key, tier.name() + ":" + key);
            } catch (NoSuchFileException gone) {
                there = null;
            }
            if (there == null || !there.equals(ByteBuffer.wrap(index))) {
                tier.store().put(key, ByteBuffer.wrap(index));
            }
        } catch (IOException | RuntimeException e) {
            // Committed all the same.
        }
    }

    /**
     * After losing the MANIFEST create to another writer of the same step: the index this writer put may have
     * replaced the winner's (the check before it and the winner's create can interleave), leaving an index that
     * names other chunks than the commit. If the store still holds this writer's index, it is replaced by the
     * committed MANIFEST's rows of this rank. Best effort: the CONFLICT is reported either way, and verify names an
     * index that does not match its MANIFEST.
     */
    private void giveBackIndex(Tier tier, Manifest own, String key, byte[] index) {
        try {
            if (!ManifestFormat.readBytes(tier.store(), key, tier.name() + ":" + key).equals(ByteBuffer.wrap(index))) {
                return; // not ours (any more): the winner's, or rewritten by it
            }
            Manifest committed = ManifestFormat.load(tier.store(), tier.layout().manifestKey(own.step()),
                    tier.name() + ":" + tier.layout().manifestKey(own.step()), allocator);
            if (committed.rowsInIndexes()) {
                return; // the rows were in the index replaced: the MANIFEST's reference refuses it at restore
            }
            List<dev.cairn.tiers.internal.manifest.EntryRecord> rows = committed.entries().stream()
                    .filter(r -> r.rank() == own.rank()).toList();
            Manifest theirs = new Manifest(ManifestFormat.FORMAT_VERSION, committed.run(), committed.step(),
                    committed.worldSize(), own.rank(), committed.createdAt(), committed.chunkBytes(), rows);
            tier.store().put(key, ByteBuffer.wrap(ManifestFormat.write(theirs, "index", allocator)));
        } catch (IOException | RuntimeException e) {
            // Left as it is; verify reports the mismatch.
        }
    }

    /**
     * Steps with a MANIFEST in {@code tier}, ascending: a listing of its steps, for the admin and GC paths and the
     * checkpoints' list. The newest one is found without a listing by {@link StepMarks#newest}; the engine's paths that
     * run on every rank use {@link #stepFolders} instead.
     */
    public List<Long> committedSteps(Tier tier) throws IOException {
        List<Long> listed = listCommitted(tier, false);
        if (listed.isEmpty() && tier.store().listsMayBePartial()) {
            // Members that did not answer were left out (peer memory): "none" only from a whole listing, which fails
            // while one is silent, so that no caller takes a step only they hold for no checkpoint at all.
            return listCommitted(tier, true);
        }
        return listed;
    }

    /**
     * As {@link #committedSteps}, from a {@link dev.cairn.ObjectStore#listWhole}: for garbage collection, which must
     * not take a step it does not see for gone.
     */
    public List<Long> committedStepsListedWhole(Tier tier) throws IOException {
        return listCommitted(tier, true);
    }

    /** {@link #committedSteps}; {@code whole}: from a {@link dev.cairn.ObjectStore#listWhole}. */
    static List<Long> listCommitted(Tier tier, boolean whole) throws IOException {
        String prefix = tier.layout().stepsPrefix();
        TreeSet<Long> steps = new TreeSet<>();
        for (ObjectInfo o : whole ? tier.store().listWhole(prefix) : tier.store().list(prefix)) {
            if (tier.layout().isManifestKey(o.key())) {
                tier.layout().stepOf(o.key()).ifPresent(steps::add);
            }
        }
        return new ArrayList<>(steps);
    }

    /**
     * The steps that have a folder under {@code steps/} in {@code tier}, committed or not (a MANIFEST, an index, a
     * RETIRED marker), ascending: a request per 1,000 steps ({@link dev.cairn.ObjectStore#listFolders}, S3's
     * CommonPrefixes), where a listing of the steps ({@link #committedSteps}) is a request per 1,000 keys, every rank's
     * index of every retained step. Paced as this protocol's reads while restoring ({@link #restoring}).
     */
    public List<Long> stepFolders(Tier tier) throws IOException {
        return stepFolders(tier, reads(tier));
    }

    /** {@link #stepFolders(Tier)} through {@code store}; folders whose name is not a step as this layout writes it are left out. */
    static List<Long> stepFolders(Tier tier, dev.cairn.ObjectStore store) throws IOException {
        TreeSet<Long> steps = new TreeSet<>(); // by number: the store sorts names, "10/" before "9/"
        for (String folder : store.listFolders(tier.layout().stepsPrefix())) {
            java.util.OptionalLong step = tier.layout().stepOf(folder);
            if (step.isPresent() && tier.layout().stepPrefix(step.getAsLong()).equals(folder)) {
                steps.add(step.getAsLong());
            }
        }
        return new ArrayList<>(steps);
    }

    /**
     * Steps with a MANIFEST in {@code tier}, ascending, from its step folders and a HEAD of each one's MANIFEST (in
     * flight together where the store can, {@link dev.cairn.ObjectStore#statAll}): what {@link #committedSteps} lists,
     * at a request per 1,000 steps and one per retained step instead of one per 1,000 keys. For a committer's first
     * marks in a tier that holds none ({@link StepMarks}).
     */
    static List<Long> committedInFolders(Tier tier) throws IOException {
        Map<String, Long> byKey = new LinkedHashMap<>();
        for (long step : stepFolders(tier, tier.store())) {
            byKey.put(tier.layout().manifestKey(step), step);
        }
        List<Long> committed = new ArrayList<>();
        Set<String> held = tier.store().statAll(byKey.keySet()).keySet();
        byKey.forEach((key, step) -> {
            if (held.contains(key)) {
                committed.add(step);
            }
        });
        return committed;
    }

    /** The marks of committed steps this protocol's commits put before each MANIFEST ({@link StepMarks}). */
    public StepMarks marks() {
        return marks;
    }

    /**
     * The newest committed step of {@code tier} as rank {@code rank} of {@code worldSize} finds it ({@link StepMarks#newest}),
     * each marked step confirmed by a read of its MANIFEST into the cache, which the restore or read-ahead that follows
     * takes instead of asking again. A MANIFEST that is there but cannot be read counts as committed, as a listing
     * shows it: the restore reports why it cannot be read.
     */
    public long newestCommitted(Tier tier, int rank, int worldSize) throws IOException {
        return newestCommitted(tier, rank, worldSize, false);
    }

    /**
     * {@link #newestCommitted(Tier, int, int)} for a restore: in a tier whose listings may leave out members that did
     * not answer (the peer tier), "none" (-1) only once every member answered; while one is silent an IOException
     * ("cannot tell"), which the restore reports as STORAGE, never NOT_FOUND: the silent member may hold the run's
     * only MANIFESTs (a replacement rank's replica target), and a job that starts over on NOT_FOUND loses its run.
     */
    public long newestCommittedToRestore(Tier tier, int rank, int worldSize) throws IOException {
        return newestCommitted(tier, rank, worldSize, true);
    }

    private long newestCommitted(Tier tier, int rank, int worldSize, boolean noneOnlyIfWhole) throws IOException {
        return marks.newestRemembered(tier, rank, worldSize, noneOnlyIfWhole, step -> {
            try {
                readGlobal(tier, step);
                return true;
            } catch (NoSuchFileException absent) {
                return false;
            } catch (CheckpointException unreadable) {
                if (unreadable.reason() == Reason.CLOSED) {
                    throw unreadable; // closing while the read waited for its slot: no answer, not an unreadable one
                }
                return true;
            }
        });
    }

    /**
     * {@link #newestCommitted} as a process's open looks ({@code HighestCommitted}): its confirmation, the read of the
     * newest marked step's MANIFEST into the cache, paced as rank {@code rank} of a restore on {@code worldSize} ranks
     * reads it ({@link #restoring}). In a resumed run every process opens at once and reads that one MANIFEST: at
     * 10,000 ranks 10,000 HEADs and GETs of one key in a moment, where S3 serves 5,500 GET/HEAD a second on a prefix
     * and issue 15 allows no key more than 1,000. Paced, rank r's two requests wait for its first two slots of the
     * restore's schedule ({@link RestorePacing}: (12 r - 1,500) / 4,000 s after the look began, 29.6 s for rank 9,999,
     * 2.6 s for rank 999), about 667 a second on the key after the first 125 ranks' 250 at once; a world of up to 125
     * ranks, a single process and a store in this process's memory do not wait at all. The restore that follows takes
     * the MANIFEST from the shared cache, or waits for this read where it is still in its slot, and reads it no more.
     * The marks' listing and what every process asks alike in a new run are paced apart ({@link LookPacing}).
     */
    public long newestAtOpen(Tier tier, int rank, int worldSize) throws IOException {
        return restoring(rank, worldSize).newestCommitted(tier, rank, worldSize);
    }

    public boolean isCommitted(Tier tier, long step) throws IOException {
        try {
            reads(tier).stat(tier.layout().manifestKey(step));
            return true;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /**
     * The parsed, checked MANIFEST of {@code step} with every entry carrying its chunks: a MANIFEST that keeps its
     * rows in the rank indexes is completed by reading every one of them ({@link CommittedManifest#whole}); CORRUPT or
     * UNSUPPORTED_VERSION when it or an index cannot be trusted.
     */
    public Manifest read(Tier tier, long step) throws IOException {
        Manifest global = readGlobal(tier, step);
        if (global.complete()) {
            return global;
        }
        Manifest whole = loader(tier).whole(global);
        cache.put(cacheKey(tier, tier.layout().manifestKey(step)), whole);
        return whole;
    }

    /**
     * {@code global} (a MANIFEST of {@code tier} as {@link #readGlobal} gave it) with the entries of {@code ranks}
     * carrying their chunks: only those ranks' indexes are read when its rows are in the indexes.
     */
    public Manifest withRanks(Tier tier, Manifest global, java.util.Set<Integer> ranks) throws IOException {
        return loader(tier).withRanks(global, ranks);
    }

    /**
     * {@code global} (as {@link #readGlobal} gave it) with the entries {@code choice} leads to when it keeps them under
     * pages (format 5: only the pages on the way are read); {@code global} itself otherwise.
     */
    public Manifest select(Tier tier, Manifest global, CommittedManifest.PageChoice choice) throws IOException {
        return loader(tier).select(global, choice);
    }

    /**
     * Every chunk hash a restore of {@code step} may read ({@link Manifest#referencedHashes} of the whole manifest), for
     * GC: from the cached whole manifest when this process has it (rank 0 merged it at the commit), else with the rank
     * indexes read one at a time and not kept ({@link CommittedManifest#referencedHashes}).
     */
    public java.util.Set<String> referencedHashes(Tier tier, long step) throws IOException {
        Manifest global = readGlobal(tier, step);
        return global.complete() ? global.referencedHashes() : loader(tier).referencedHashes(global);
    }

    private CommittedManifest loader(Tier tier) {
        return loader(tier, reads(tier), readAhead.takingFor(tier));
    }

    private CommittedManifest loader(Tier tier, dev.cairn.ObjectStore from, CommittedManifest.ReadAhead ahead) {
        return new CommittedManifest(from, tier.layout(), tier.name(), parser::parse, allocator, ahead);
    }

    /** A restore begins: no read ahead starts from now on ({@link #readAheadRows}); those running are waited for. */
    public void readAheadOvertaken() {
        readAhead.restoreBegins();
    }

    /**
     * The first restore has ended: what was read ahead for it and not taken ({@link #readAheadRows}) is let go, and
     * nothing more is kept.
     */
    public void readAheadDone() {
        readAhead.clear();
    }

    /**
     * Reads ahead, into this protocol's {@link ReadAheadRows}, the pages and the rank indexes that a restore of
     * {@code step} by rank {@code rank} of a world of {@code worldSize} reads first: its own rows, as a replacement of a
     * lost rank restores them, and rank 0's, which hold the entries saved once for all ranks (a global blob, a
     * replicated tensor). The store's round trips, Arrow's parsing and their first compilation are then paid
     * while the process builds its model, not inside its first restore. Nothing where the MANIFEST holds its rows
     * itself, where its world is another (a resharding restore reads other ranks' rows), or where the restore paces
     * its reads ({@link RestorePacing}: thousands of ranks, each read once, in its slot).
     */
    public void readAheadRows(Tier tier, long step, int rank, int worldSize) throws IOException {
        Manifest global = readGlobal(tier, step);
        if (global.complete() || global.worldSize() != worldSize || rank < 0 || rank >= worldSize
                || RestorePacing.needed(worldSize)) {
            return;
        }
        loader(tier, tier.store(), readAhead.keepingFor(tier)).withRanks(global, rank == 0 ? Set.of(0) : Set.of(rank, 0));
    }

    /**
     * The parsed, checked MANIFEST of {@code step} as stored: when it keeps its chunk rows in the rank indexes, its
     * entries name no chunk ({@link Manifest#complete} false) until {@link #withRanks} or {@link #read} reads them.
     */
    public Manifest readGlobal(Tier tier, long step) throws IOException {
        String key = tier.layout().manifestKey(step);
        String cacheKey = cacheKey(tier, key);
        Manifest cached = cache.get(cacheKey);
        if (cached != null) {
            return cached;
        }
        // One read of a MANIFEST at a time: a caller that finds it being read (the open's read-ahead, a restore on
        // another thread) takes that read's answer instead of reading it again.
        java.util.concurrent.CompletableFuture<Manifest> mine = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CompletableFuture<Manifest> theirs = reading.putIfAbsent(cacheKey, mine);
        if (theirs != null) {
            try {
                return theirs.join();
            } catch (java.util.concurrent.CompletionException e) {
                if (e.getCause() instanceof IOException io) {
                    throw io;
                }
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw e;
            }
        }
        try {
            // Read and cached by another caller between our look at the cache and our claim: it puts into the cache
            // before it gives its claim up, so a second look now sees it.
            Manifest readMeanwhile = cache.get(cacheKey);
            if (readMeanwhile != null) {
                mine.complete(readMeanwhile);
                return readMeanwhile;
            }
            String label = tier.name() + ":" + key;
            Manifest m = parser.parse(ManifestFormat.readBytes(reads(tier), key, label), label);
            if (m.step() != step || !m.run().equals(tier.layout().run())) {
                throw new CheckpointException(Reason.CORRUPT, "manifest " + tier.name() + ":" + key + " describes run "
                        + m.run() + " step " + m.step() + ", not run " + tier.layout().run() + " step " + step);
            }
            Manifest raced = cache.putIfAbsent(cacheKey, m); // a whole one read meanwhile stays
            Manifest result = raced != null ? raced : m;
            mine.complete(result);
            return result;
        } catch (IOException | RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            reading.remove(cacheKey, mine);
        }
    }

    /** Forgets a manifest that GC removed. */
    public void evict(Tier tier, long step) {
        cache.remove(cacheKey(tier, tier.layout().manifestKey(step)));
    }

    private static String cacheKey(Tier tier, String key) {
        return tier.index() + "/" + key;
    }
}
