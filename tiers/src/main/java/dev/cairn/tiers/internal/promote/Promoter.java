package dev.cairn.tiers.internal.promote;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CommitReport;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.ScratchPool;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.commit.TierCommitter;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.StoredChunks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Copies committed checkpoints from a faster tier to a slower one. Chunks are copied on the target's I/O threads in
 * parallel; both catalogs pin every chunk of the step (in the source with its differential bases) until the target
 * commits, so neither tier's GC can take a chunk the copy still needs, even if the source retires the step meanwhile.
 * Rank 0 of a multi-rank run, whose collector cannot see the other ranks' pins, does not retire the step in the source
 * until the target's commit ({@link Tier#holdWhilePromoted}).
 *
 * <p>A chunk is copied verbatim unless one of two things holds. A differential chunk is materialized (its chain
 * decoded in the source, every link checked) and stored whole: slower tiers hold only whole chunks, so they never
 * depend on bases they may lack (stored raw in an uncompressed target). A whole chunk is re-encoded when the target's
 * zstd level is stronger than the source's, or when the source is uncompressed and the target is not, and the result
 * is smaller ({@link #encodes}). The target's manifest records the target's own codec, stored length and bases.
 * Whatever the path, the chunk is decoded and its content hash checked before anything of it is written
 * ({@link #verified}): a chunk damaged in the source fails the promotion with CORRUPT instead of reaching the slower
 * tier, whose copy is the one a restore repairs from.
 *
 * <p>Each copy runs in a workspace (a reader, encoders by level, their scratch) borrowed from the promoter's pool and
 * given back when it ends; {@link #close} frees the workspaces, each once no copy uses it.
 */
public final class Promoter implements AutoCloseable {
    private final java.util.concurrent.Executor committer;
    private final ScratchPool<Workspace> workspaces;
    /**
     * How recently a chunk the target holds must have been written for a promotion to name it without writing it again
     * (unless the target's newest step names it), as for a save ({@code SavePipeline#freshFor}): a collector in another
     * process deletes unreferenced chunks older than its grace, and confirms nothing a commit is about to name. The
     * target's commit asks again for the chunks the copy found there ({@code CommitProtocol#commitPromoted}).
     */
    private final long freshForMillis;

    /**
     * @param committer where the target's commit runs once the chunks are copied: in place, on the last copy's I/O
     *                  thread, or (multi-rank runs, whose commit waits for the other ranks) on a thread that no chunk
     *                  copy waits for
     * @param scratch   where the workspaces' scratch is allocated
     */
    public Promoter(java.util.concurrent.Executor committer, BufferAllocator scratch, java.time.Duration freshFor) {
        this.committer = committer;
        this.freshForMillis = freshFor.toMillis();
        this.workspaces = new ScratchPool<>("promotion", () -> new Workspace(scratch), Workspace::close);
    }

    /**
     * Starts copying {@code manifest} (committed in {@code source}) to the tier of {@code targetCommitter}, which
     * commits it there; completes {@code done} with the target's commit report or a CheckpointException. Call before
     * the caller releases its own pins in source.
     */
    public void promote(Manifest manifest, Tier source, TierCommitter targetCommitter, CompletableFuture<CommitReport> done,
                        java.util.function.BooleanSupplier claim) {
        Tier target = targetCommitter.tier();
        // Rank 0 of a multi-rank run does not retire the step in source until the target's commit of it has an outcome,
        // or done completes otherwise (the save's deadline, close): the other ranks' copies read it there, and their
        // pins are not rank 0's (Tier#holdWhilePromoted). Released by the commit below before it completes done, by
        // done's completion where something else completes it, and once the commit has run in any case.
        Runnable release = source.holdWhilePromoted(manifest.step());
        done.whenComplete((r, e) -> release.run());
        Map<String, Long> chunks = new LinkedHashMap<>();
        Map<String, ChunkRef> refs = new LinkedHashMap<>();
        Map<String, Integer> widths = new java.util.HashMap<>();
        for (EntryRecord e : manifest.entries()) {
            for (ChunkRef c : e.chunks()) {
                chunks.putIfAbsent(c.hash(), c.storedLength());
                refs.putIfAbsent(c.hash(), c);
                widths.putIfAbsent(c.hash(), e.tensor() && e.dtype().isFloatingPoint() ? e.dtype().byteSize() : 0);
            }
        }
        long freshSince = System.currentTimeMillis() - freshForMillis;
        java.util.Set<String> sourcePins = manifest.referencedHashes();
        java.util.Queue<String> targetChainPins = new java.util.concurrent.ConcurrentLinkedQueue<>();
        ChunkCatalog from;
        ChunkCatalog to;
        try {
            from = source.catalog();
            to = target.catalog();
        } catch (IOException e) {
            done.completeExceptionally(failure(manifest, target, e));
            return;
        }
        for (String h : sourcePins) {
            from.pin(h);
        }
        Map<String, Long> missing = new LinkedHashMap<>();
        // Chunks the target already holds may be stored there in another form (another codec, level or chain): its
        // manifest must record the target's own form, or a read would stop short and GC would keep the wrong bases.
        Map<String, ChunkRef> targetForms = new java.util.concurrent.ConcurrentHashMap<>();
        Map<String, Boolean> heldInTarget = new java.util.HashMap<>();
        for (String hash : chunks.keySet()) {
            heldInTarget.put(hash, to.pin(hash) >= 0);
        }
        try {
            for (Map.Entry<String, Long> c : chunks.entrySet()) {
                String hash = c.getKey();
                ChunkCatalog.Form held = heldInTarget.get(hash) ? ChunkForms.held(target, hash) : null;
                // Its chain is pinned before it is judged, as a save does (ChunkEncoder): judged first, a sweep of the
                // target could take a base between the check and the pin, and the step would name a chunk the tier
                // can no longer rebuild (the commit's confirmation would then fail it with STORAGE). A chain that lost
                // a link (pinChain says so) or that is old and named by no newest step is let go, and the chunk is
                // copied: whole, over a broken chain, or written again, over an old one (ChunkForms.put).
                if (held != null && !(to.pinChain(held.bases()) && to.reusable(hash, held.bases(), freshSince))) {
                    to.unpinAll(held.bases());
                    held = null;
                }
                if (held == null) {
                    missing.put(hash, c.getValue());
                    continue;
                }
                targetChainPins.addAll(held.bases()); // pinned above, let go with the others (unpin)
                targetForms.put(hash, refs.get(hash).storedAs(held.codec(), held.length(), held.bases()));
            }
        } catch (IOException | RuntimeException e) { // a RuntimeException too: it would leave every pin taken above
            unpin(source, target, chunks.keySet(), sourcePins, targetChainPins);
            done.completeExceptionally(failure(manifest, target, e));
            return;
        }
        AtomicInteger left = new AtomicInteger(missing.size());
        // The chunks this promotion puts itself: its commit writes again only those it found stored that lapsed since.
        java.util.Set<String> put = java.util.concurrent.ConcurrentHashMap.newKeySet();
        AtomicLong written = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicReference<Throwable> error = new AtomicReference<>();
        Runnable commit = () -> {
            try {
                targetCommitter.promoted(withTargetForms(manifest, targetForms), put, written.get(), bytes.get(),
                        error.get(), done, claim, release);
            } finally {
                release.run();
                unpin(source, target, chunks.keySet(), sourcePins, targetChainPins);
            }
        };
        Runnable finish = () -> {
            try {
                committer.execute(commit);
            } catch (RuntimeException rejected) {
                error.compareAndSet(null, rejected);
                commit.run(); // fails the future and releases the pins
            }
        };
        if (missing.isEmpty()) {
            try {
                target.io().execute(finish);
            } catch (RuntimeException rejected) {
                error.compareAndSet(null, rejected);
                finish.run(); // fails the future and releases the pins
            }
            return;
        }
        for (Map.Entry<String, Long> c : missing.entrySet()) {
            try {
                target.io().execute(() -> {
                    try {
                        if (error.get() == null && !done.isDone()) {
                            ChunkRef ref = refs.get(c.getKey());
                            targetForms.put(c.getKey(), copy(ref, manifest.step(), widths.get(c.getKey()), source, target,
                                    written, bytes, targetChainPins, put));
                        }
                    } catch (Throwable t) {
                        error.compareAndSet(null, t);
                    } finally {
                        if (left.decrementAndGet() == 0) {
                            finish.run();
                        }
                    }
                });
            } catch (RuntimeException rejected) {
                error.compareAndSet(null, rejected);
                if (left.decrementAndGet() == 0) {
                    finish.run();
                }
            }
        }
    }

    /** {@code m} with each chunk as the target holds it (the form it had, or the one the promotion wrote). */
    private static Manifest withTargetForms(Manifest m, Map<String, ChunkRef> forms) {
        java.util.List<EntryRecord> entries = new java.util.ArrayList<>();
        for (EntryRecord e : m.entries()) {
            java.util.List<ChunkRef> refs = new java.util.ArrayList<>();
            for (ChunkRef c : e.chunks()) {
                ChunkRef held = forms.get(c.hash());
                refs.add(held == null ? c : c.storedAs(held.codec(), held.storedLength(), held.bases()));
            }
            entries.add(e.withChunks(refs));
        }
        return m.withEntries(entries);
    }

    /**
     * Copies one stored chunk from source to target, once it is verified: verbatim, or materialized whole when it is
     * differential, or re-encoded when the target's level is stronger and that is smaller. Returns the chunk as the
     * target holds it.
     */
    private ChunkRef copy(ChunkRef ref, long step, int floatWidth, Tier source, Tier target, AtomicLong written,
                          AtomicLong bytes, java.util.Queue<String> targetChainPins, java.util.Set<String> put)
            throws IOException {
        Workspace w = workspaces.borrow();
        try {
            return copy(w, ref, step, floatWidth, source, target, written, bytes, targetChainPins, put);
        } finally {
            workspaces.giveBack(w);
        }
    }

    /** As above; adds the hash to {@code put} when this copy put the chunk into the target itself. */
    private ChunkRef copy(Workspace w, ChunkRef ref, long step, int floatWidth, Tier source, Tier target,
                          AtomicLong written, AtomicLong bytes, java.util.Queue<String> targetChainPins,
                          java.util.Set<String> put) throws IOException {
        long storedLength = ref.storedLength();
        int bound = ChunkCodec.maxStoredBytes(Math.toIntExact(ref.rawLength()));
        String key = source.layout().chunkKey(ref.hash());
        // A byte more than recorded is asked for: an object written again since in a longer form (the same content,
        // another encoding) must fail the copy, not be cut to the recorded length and committed as that chunk.
        // The reads stop at the recorded length, as before, each asking up to the limit: still one request.
        int limit = Math.toIntExact(storedLength) + 1;
        ByteBuffer b;
        try {
            b = StoredChunks.read(source.store(), key, w.in.atLeast(Math.max(bound, limit)).limit(limit), storedLength);
        } catch (IOException e) {
            if (!dev.cairn.UnusableObjectException.in(e)) {
                throw e;
            }
            // The store's own verdict of damage (an S3 object whose bytes no longer match their recorded CRC32C, a
            // link at a file store's key): marked as a hash that does not match is (verified, below).
            source.catalog().markDamaged(ref.hash());
            throw new CheckpointException(Reason.CORRUPT, "promotion of step " + step + " to tier " + target.name()
                    + " failed: chunk " + key + " in tier " + source.name() + " is damaged (" + e.getMessage()
                    + "); nothing of it was written to tier " + target.name() + ", where the step is not committed; the"
                    + " next save of the damaged content in tier " + source.name() + " writes it again", e);
        }
        int n = b.limit();
        if (n < storedLength) {
            throw new IOException("chunk " + key + " in tier " + source.name() + " ended at " + n + " of " + storedLength + " bytes");
        }
        if (n > storedLength) {
            throw new IOException("chunk " + key + " in tier " + source.name() + " holds more than the " + storedLength
                    + " bytes its manifest records: it was stored again in another form since");
        }
        Codec stored = StoredChunkHeader.codecOf(b, 0, n);
        String codec = StoredChunkHeader.codecNameOf(b, 0, n);
        boolean differential = stored == Codec.XOR;
        ByteBuffer raw = verified(w, step, ref, key, source, target, b, differential);
        ByteBuffer out = b;
        if (differential || encodes(source, target, stored)) {
            ByteBuffer encodedOut = w.out.atLeast(bound);
            int rawLength = Math.toIntExact(ref.rawLength());
            int len;
            if (target.uncompressed()) {
                len = ChunkCodec.encodeRaw(raw, 0, rawLength, encodedOut);
                codec = Codec.RAW.manifestName();
            } else {
                len = w.codec(target.level()).encodeChoosing(raw, 0, rawLength, floatWidth, encodedOut, w.encoded).length();
                if (differential || len < n) {
                    codec = w.encoded.codec().manifestName();
                }
            }
            if (differential || len < n) {
                out = encodedOut.limit(len);
            }
        }
        int length = out.remaining();
        // Another promotion (of another step naming the same content) may have stored it meanwhile, perhaps in
        // another form: the tier keeps that one.
        ChunkCatalog.Form held = ChunkForms.put(target, ref.hash(), out, codec, java.util.List.of(),
                ref.rawLength(), ref.contentHash(), System.currentTimeMillis() - freshForMillis);
        if (held != null) {
            targetChainPins.addAll(held.bases());
            return ref.storedAs(held.codec(), held.length(), held.bases());
        }
        put.add(ref.hash());
        written.incrementAndGet();
        bytes.addAndGet(length);
        return ref.storedAs(codec, length, java.util.List.of());
    }

    /**
     * The raw bytes of the stored chunk {@code b} of {@code ref}, read from {@code source}, once they are proved right:
     * decoded (a differential chunk onto its chain in the source, every link checked) and hashed. Every copy is
     * checked, the verbatim ones too, before anything is written: the slower tier's copy is the one a restore repairs
     * a bad chunk of the faster tier from, so a chunk damaged in the source (a bit flipped in memory, a bad read from
     * disk) must not reach it. The stored form carries no check of its own (its zstd frames are written without
     * zstd's checksum, and a raw block is the bytes themselves, which decode without error however damaged), so the
     * content hash of the decoded bytes is the one check there is. It takes the workspace's reader and buffers, which
     * re-encoding takes anyway (nothing allocated per chunk); per 4 MiB chunk on one core, measured: 0.7 ms stored raw
     * (a copy and XXH3), 2 ms compressed at level 3 (weight-like floats), against 4 to 5 ms for a disk's forced write
     * of it. The promoter knows only the source and the target, so a chunk that fails it is not fetched from another
     * tier: the promotion fails with CORRUPT, writing nothing for it, and the step is not committed in the target (with
     * STORAGE where the source's store failed to read a link of a differential chunk's chain: its trouble, not the
     * chain's).
     *
     * <p>Where the failure is about the stored bytes (a content hash that does not match, a frame of the chunk or of a
     * link of its chain that does not decode, a link missing, a chain that loops; not a RuntimeException of the
     * reader, nor a codec name of the row this release does not know: {@link ChunkReader#damaged}), the
     * source's catalog is told the stored chunk is damaged ({@link ChunkCatalog#markDamaged}: the link of a
     * differential chain whose hash failed, else the chunk read): otherwise every later save of the same content (a
     * frozen layer, a data loader's state) would find the key held and name the damaged object again, and every later
     * promotion of the steps naming it would fail the same way, so that the slower tiers got no step while the run went
     * on. The next save that names the content writes it again, over the damaged object, and its step is promoted.
     */
    private static ByteBuffer verified(Workspace w, long step, ChunkRef ref, String key, Tier source, Tier target,
                                       ByteBuffer b, boolean differential) throws IOException {
        try {
            return w.reader.verify(source.store(), source.layout(), b, ref);
        } catch (IOException | RuntimeException e) {
            if (differential && e instanceof IOException io && w.reader.failedToRead(io)) {
                // A differential chunk's chain is read from the source's store: a read of a link that failed there
                // (the store's trouble: an EIO, a 503) says nothing of the chunk, and fails the promotion as any store
                // error does (STORAGE). Anything else (the chunk's or a link's frame that does not decode, a link
                // missing, unusable or of the wrong kind, a chain that loops) is the stored chain's own, as a restore
                // classifies it (ChunkReader.damaged): left unmarked, every later save would name the chunk again and
                // every promotion of its steps fail the same way while the content stays the same.
                throw io;
            }
            // A verdict on the stored bytes (a hash that does not match, a frame or a chain that does not decode), not
            // the reader's own failure (a RuntimeException: a buffer it could not get) nor the row's (a codec name this
            // release does not know): ChunkReader.damaged names the chunk, or the link whose hash failed. Even so only
            // a hint (a zstd failure of its own also reads "does not decode"): the writer that meets the mark reads
            // the object whole again and puts over it only where that too finds it damaged (ChunkForms.put).
            String damaged = w.reader.damaged(ref, e);
            if (damaged != null) {
                source.catalog().markDamaged(damaged);
            }
            throw new CheckpointException(Reason.CORRUPT, "promotion of step " + step + " to tier " + target.name()
                    + " failed: chunk " + key + " in tier " + source.name() + " does not verify ("
                    + (e.getMessage() == null ? e.toString() : e.getMessage()) + "); nothing of it was written to tier "
                    + target.name() + ", where the step is not committed; the next save of the damaged content in tier "
                    + source.name() + " writes it again", e);
        }
    }

    /**
     * Whether a whole chunk stored as {@code stored} in {@code source} is encoded again for {@code target} (and kept
     * if smaller): into a compressed tier, a chunk that an uncompressed tier stored {@link Codec#RAW} (there RAW means
     * "not compressed", not "does not compress"), or any chunk but a RAW one when the target's level is stronger.
     * Into an uncompressed tier a whole chunk goes as stored: decoding it is the reader's work either way.
     */
    static boolean encodes(Tier source, Tier target, Codec stored) {
        if (target.uncompressed()) {
            return false;
        }
        if (source.uncompressed()) {
            return stored == Codec.RAW;
        }
        return target.level() > source.level() && stored != Codec.RAW;
    }

    /** A copy's workspace: a reader for chains and re-encoding, encoders by level, and the buffers they use. */
    private static final class Workspace {
        final Scratch scratch;
        final ChunkReader reader;
        final Map<Integer, ChunkCodec> codecs = new java.util.HashMap<>();
        final ChunkCodec.Encoded encoded = new ChunkCodec.Encoded();
        /** The stored bytes read from the source. */
        final Scratch.Buffer in;
        /** The chunk re-encoded for the target. */
        final Scratch.Buffer out;

        Workspace(BufferAllocator parent) {
            scratch = new Scratch(parent, "promotion");
            reader = new ChunkReader(scratch);
            in = scratch.buffer();
            out = scratch.buffer();
        }

        ChunkCodec codec(int level) {
            return codecs.computeIfAbsent(level, l -> new ChunkCodec(l, scratch));
        }

        void close() {
            codecs.values().forEach(ChunkCodec::close);
            reader.close();
            scratch.close();
        }
    }

    /** Frees the workspaces: now the idle ones, the others as their copies end. */
    @Override
    public void close() {
        workspaces.close();
    }

    private static void unpin(Tier source, Tier target, java.util.Set<String> chunks, java.util.Set<String> sourcePins,
                              java.util.Collection<String> targetChainPins) {
        try {
            ChunkCatalog from = source.catalog();
            ChunkCatalog to = target.catalog();
            for (String hash : sourcePins) {
                from.unpin(hash);
            }
            for (String hash : chunks) {
                to.unpin(hash);
            }
            for (String hash : targetChainPins) {
                to.unpin(hash);
            }
        } catch (IOException e) {
            // Both catalogs were loaded when the pins were taken.
        }
    }

    private static CheckpointException failure(Manifest m, Tier target, Throwable t) {
        if (t instanceof CheckpointException c) {
            return c;
        }
        return new CheckpointException(Reason.STORAGE, "promotion of step " + m.step() + " to tier " + target.name()
                + " failed: " + t, t);
    }
}
