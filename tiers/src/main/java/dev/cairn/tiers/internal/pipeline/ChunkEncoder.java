package dev.cairn.tiers.internal.pipeline;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.Sequence;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.MantissaRounding;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.XorDelta;
import dev.cairn.tiers.internal.restore.StoredChunks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Encoder {@code k} of {@code n}: takes the events whose sequence is {@code k} modulo {@code n}, hashes the raw
 * bytes, asks each target tier whether it already holds that content (pinning it), and encodes the chunk only
 * when some tier needs it, in the codec that suits its bytes ({@link ChunkCodec#encodeChoosing}). Raw staging is
 * returned as soon as the chunk is encoded.
 *
 * <p>Differential chunks: a changed chunk whose previous version (the same position in an earlier save of this
 * pipeline, from {@link PreviousVersions}) is still in the save's first tier is also encoded as the XOR against it
 * ({@link XorDelta}), and the smaller form is kept. The previous raw bytes are not kept in memory: they are read
 * back from the tier and rebuilt along their own chain ({@link StoredChunks#materialize}), which the chain bound
 * ({@code fullEvery}) keeps short. A delta of at most 1/{@value #DELTA_SURE_RATIO} of the raw size is kept without
 * also encoding the chunk whole: no whole encoding of floats comes near that. A differential sample of the first
 * {@value ChunkCodec#SAMPLE_BYTES} bytes that does not halve skips the differential form at once.
 *
 * <p>Chunks are keyed by {@link SaveJob#CONTENT_HASH} (XXH3-128, manifest format 3). Every hash this encoder looks
 * up or builds on is one it computed with that hash, or a base named by a chunk stored under such a key: a chunk of a
 * format-2 checkpoint in the same tier (keyed by MurmurHash3) is not taken as a base, and is found for new content
 * only if its MurmurHash3 key equals the content's XXH3 key, a 128-bit accident.
 *
 * <p>Lossy entries are rounded ({@link MantissaRounding}) into the encoder's scratch before hashing, never in the
 * caller's buffers. Chunks read in the caller's buffers (ZERO_COPY) are copied into the encoder's scratch before
 * hashing, so that the bytes hashed are the bytes encoded even if the caller's change meanwhile.
 *
 * <p>Each encoder owns its scratch (rounded or copied input, a previous version, a differential form), freed when the
 * pipeline closes, and its pool of output slabs. With one shared pool, an encoder that runs ahead could take every
 * slab while a slower one still waits for its first: the writer, which frees slabs in sequence order, would then
 * wait on the slow encoder forever.
 */
final class ChunkEncoder implements EventHandler<ChunkEvent> {
    static final int DELTA_SURE_RATIO = 4;
    private final int k;
    private final int n;
    /** Codecs by zstd level: the first tier of a save encodes at its own level. */
    private final Map<Integer, ChunkCodec> codecs = new HashMap<>();
    private final Map<Integer, XorDelta> deltas = new HashMap<>();
    private final Scratch scratch;
    private final StoredChunks chunks;
    /** What the codec chose for the chunk at hand. */
    private final ChunkCodec.Encoded encoded = new ChunkCodec.Encoded();
    private final ContentHash.Hasher hasher = SaveJob.CONTENT_HASH.hasher();
    private final int fullEvery;
    private final long freshForMillis;
    private final PreviousVersions previous;
    /**
     * Saves of a chunk position that store it whole without trying the differential form, after a try that did not
     * pay: rebuilding the base costs a read and a decode per chunk, wasted where training changes every value.
     */
    static final int SKIP_AFTER_MISS = 4;
    private final SlabPool encodedPool;
    private final long slabWaitNanos;
    private final Scratch.Buffer rounded;
    /** A chunk read in the caller's own buffer, copied once so that it is hashed and encoded from the same bytes. */
    private final Scratch.Buffer inPlace;
    /** The raw bytes of the previous version, rebuilt by {@link #deltaBase}. */
    private final Scratch.Buffer base;
    private final Scratch.Buffer deltaOut;
    private Sequence progress;
    /** Counted down once {@link #onShutdown} has freed the codecs and scratch. */
    private final java.util.concurrent.CountDownLatch released = new java.util.concurrent.CountDownLatch(1);

    /**
     * @param freshFor how recently a stored chunk that the tier's newest committed step does not name must have been
     *                 written for a save to count on it instead of writing it again ({@link SavePipeline#freshFor})
     * @param scratch  this encoder's own, closed with it
     */
    ChunkEncoder(int k, int n, int fullEvery, java.time.Duration freshFor, PreviousVersions previous, SlabPool encodedPool,
                 long slabWaitNanos, Scratch scratch) {
        this.scratch = scratch;
        this.chunks = new StoredChunks(scratch);
        this.rounded = scratch.buffer();
        this.inPlace = scratch.buffer();
        this.base = scratch.buffer();
        this.deltaOut = scratch.buffer();
        this.k = k;
        this.n = n;
        this.fullEvery = fullEvery;
        this.freshForMillis = freshFor.toMillis();
        this.previous = previous;
        this.encodedPool = encodedPool;
        this.slabWaitNanos = slabWaitNanos;
    }

    /**
     * The ring only learns a handler's progress at the end of a batch; an encoder waiting for an encoded slab in the
     * middle of a long batch would then hide the events it already finished from the writer, which is the one that
     * frees slabs. Reporting progress after every event breaks that cycle.
     */
    @Override
    public void setSequenceCallback(Sequence sequenceCallback) {
        this.progress = sequenceCallback;
    }

    @Override
    public void onEvent(ChunkEvent e, long sequence, boolean endOfBatch) {
        if (sequence % n != k) {
            progress.set(sequence);
            return;
        }
        SaveJob job = e.job;
        try {
            if (job.failure() == null) {
                encode(e, job.plan(), job.results(), job.firstTier());
            }
        } catch (Throwable t) {
            job.fail(t);
        } finally {
            if (e.raw != null) {
                e.raw.release();
                e.raw = null;
            }
            if (job.results().lastEncoded()) {
                job.handle().capturedFuture().complete(null);
            }
            progress.set(sequence);
        }
    }

    private void encode(ChunkEvent e, SavePlan plan, ChunkResults results, Tier tier) throws Exception {
        int i = e.chunk;
        int len = plan.length(i);
        ByteBuffer src = e.source;
        int pos = e.sourcePosition;
        if (plan.lossyBits(i) != 0) {
            ByteBuffer r = rounded.atLeast(len);
            MantissaRounding.round(plan.dtype(i), plan.lossyBits(i), src, pos, len, r, 0);
            src = r;
            pos = 0;
        } else if (e.raw == null) {
            // Read in place (ZERO_COPY): the hash, the delta and the encoding each read the bytes, at different
            // moments; if the caller's bytes change in between (a file mapped by the import and rewritten by
            // another process) the chunk would be stored under the hash of other bytes. One copy taken first makes
            // all three read the same bytes.
            ByteBuffer copy = inPlace.atLeast(len);
            copy.put(0, src, pos, len);
            src = copy;
            pos = 0;
        }
        String hash = hasher.hex(src, pos, len);
        results.hashed(i, hash);
        ChunkCatalog catalog = tier.catalog();
        long size = catalog.pin(hash);
        ChunkCatalog.Form held = size < 0 ? null : ChunkForms.held(tier, hash);
        if (held != null) {
            // Held already, in the one form the tier keeps under this key; usable only with its whole chain, pinned
            // before we count on it, and only where no collector of another process may take it meanwhile.
            List<String> chain = held.bases();
            if (catalog.pinChain(chain) && catalog.reusable(hash, chain, freshSince())) {
                results.held(i, held);
                e.write = false;
                PreviousVersions.Version prev = previous.get(plan, i);
                previous.put(plan, i, hash, hasher.contentHash(), prev == null ? 0 : prev.skip());
                return;
            }
            // A chunk whose chain lost a link (an orphan of a failed save): encoded whole, which replaces it. One old
            // enough for another process's collector to delete: encoded whole too, but the writer keeps the stored
            // form and only writes it again, which restarts its age (ChunkForms#put).
            catalog.unpinAll(chain);
        }
        ChunkCodec codec = codec(tier);
        e.encoded = encodedPool.acquire(slabWaitNanos);
        ByteBuffer out = e.encoded.buffer();
        PreviousVersions.Version prev = previous.get(plan, i);
        boolean skipped = prev != null && prev.skip() > 0;
        List<String> chain = held == null && !skipped ? deltaBase(prev, plan, i, tier, hash) : null;
        int deltaLength = -1;
        if (chain != null) {
            ByteBuffer d = deltaOut.atLeast(out.capacity());
            ByteBuffer b = base.atLeast(len);
            // A sample first: where much changed, the whole XOR would be compressed only to be thrown away.
            int probe = Math.min(len, ChunkCodec.SAMPLE_BYTES);
            if (probe == len || delta(tier).encode(src, pos, b, 0, probe, chain.get(0), d, probe / 2) >= 0) {
                deltaLength = delta(tier).encode(src, pos, b, 0, len, chain.get(0), d, len - (len >>> 5));
            }
        }
        boolean keptDelta = false;
        if (deltaLength >= 0 && deltaLength <= len / DELTA_SURE_RATIO) {
            keepDelta(e, results, i, chain, deltaLength);
            keptDelta = true;
        } else {
            codec.encodeChoosing(src, pos, len, plan.floatWidth(i), out, encoded);
            e.encodedLength = encoded.length();
            results.encoded(i, encoded.codec().manifestName(), List.of());
            if (deltaLength >= 0 && deltaLength < e.encodedLength) {
                keepDelta(e, results, i, chain, deltaLength);
                keptDelta = true;
            } else if (chain != null) {
                // Pins on bases not used would keep an older step's chunks past its retirement.
                catalog.unpinAll(chain);
            }
        }
        e.write = true;
        boolean missed = chain != null && !keptDelta;
        previous.put(plan, i, hash, hasher.contentHash(), missed ? SKIP_AFTER_MISS : skipped ? prev.skip() - 1 : 0);
    }

    private long freshSince() {
        return System.currentTimeMillis() - freshForMillis;
    }

    private void keepDelta(ChunkEvent e, ChunkResults results, int i, List<String> chain, int deltaLength) {
        results.addPins(i, chain);
        e.encoded.buffer().put(0, deltaOut.atLeast(deltaLength), 0, deltaLength);
        e.encodedLength = deltaLength;
        results.encoded(i, Codec.XOR.manifestName(), chain);
    }

    /**
     * The chain a differential chunk {@code i} would have, nearest base first, with the base's raw bytes rebuilt in
     * {@link #base}; null when it cannot be one: differential off, a first tier not in memory (its previous versions
     * would be read back from disk or the network), no previous version, the previous version not (or no longer
     * whole-chained) in the tier, or its stored chain at the bound. Its chain is pinned when returned.
     */
    private List<String> deltaBase(PreviousVersions.Version prev, SavePlan plan, int i, Tier tier, String hash) throws IOException {
        if (fullEvery <= 1 || !tier.store().inMemory() || prev == null || prev.hash().equals(hash)
                || prev.contentHash() != hasher.contentHash()) {
            return null;
        }
        // The base's own chain is the one the tier stores it with, which need not be the form this pipeline encoded
        // for it (another save may have stored that content first: ChunkForms). Pinned first, its form cannot change.
        ChunkCatalog catalog = tier.catalog();
        catalog.pin(prev.hash());
        ChunkCatalog.Form stored = ChunkForms.held(tier, prev.hash());
        if (stored == null || stored.bases().size() + 1 >= fullEvery) {
            catalog.unpin(prev.hash());
            return null;
        }
        List<String> chain = new ArrayList<>(stored.bases().size() + 1);
        chain.add(prev.hash());
        chain.addAll(stored.bases());
        if (!catalog.pinChain(stored.bases()) || !catalog.reusable(chain, freshSince())) {
            catalog.unpinAll(chain);
            return null;
        }
        int len = plan.length(i);
        try {
            chunks.materialize(tier.store(), tier.layout(), prev.hash(), prev.contentHash(), len, base.atLeast(len), 0, 0);
        } catch (IOException | RuntimeException unreadable) {
            catalog.unpinAll(chain);
            return null; // stored whole instead; a restore of the step that holds it will repair or report it
        }
        return chain; // pinned: the caller keeps the pins with the chunk or releases them
    }

    private ChunkCodec codec(Tier tier) {
        ChunkCodec c = codecs.get(tier.level());
        if (c == null) {
            c = new ChunkCodec(tier.level(), scratch);
            codecs.put(tier.level(), c);
        }
        return c;
    }

    private XorDelta delta(Tier tier) {
        XorDelta d = deltas.get(tier.level());
        if (d == null) {
            d = new XorDelta(tier.level(), scratch);
            deltas.put(tier.level(), d);
        }
        return d;
    }

    int slabsInUse() {
        return encodedPool.inUse();
    }

    /**
     * Frees what this encoder owns on its own thread, once the ring has stopped it: nothing else touches its codecs
     * and scratch, and an encoder still busy when the ring is halted frees them as it leaves.
     */
    @Override
    public void onShutdown() {
        try {
            codecs.values().forEach(ChunkCodec::close);
            deltas.values().forEach(XorDelta::close);
            chunks.close();
            scratch.close();
        } finally {
            released.countDown();
        }
    }

    /**
     * Closes the pool of encoded slabs (those still out are freed as they come back) and waits up to {@code waitNanos}
     * for {@link #onShutdown}; an encoder still running then keeps its scratch, which its allocator reports.
     */
    void close(long waitNanos) {
        encodedPool.close();
        try {
            released.await(waitNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
