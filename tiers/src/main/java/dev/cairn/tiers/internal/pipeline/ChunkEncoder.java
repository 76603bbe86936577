package dev.cairn.tiers.internal.pipeline;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.Sequence;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.CodecChoice;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.MantissaRounding;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.XorDelta;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Encoder {@code k} of {@code n}: takes the events whose sequence is {@code k} modulo {@code n}, hashes the raw
 * bytes, asks the catalog of the save's first tier whether the tier already holds that content (pinning it), and
 * encodes the chunk only when the tier needs it, in the codec that suits its bytes ({@link ChunkCodec#encodeChoosing}),
 * or in the one chosen for the same position by an earlier save ({@link ChunkCodec#encodeReusing}, kept in
 * {@link PreviousVersions}), which spares the probe of a sample in most saves.
 * Raw staging is returned as soon as the chunk is encoded.
 *
 * <p>Only computes: it never reads or writes a store and never waits. Everything it needs from outside memory comes
 * in the event, put there by the feeder before the chunk entered the ring: the output slab, the loaded catalog, and
 * the previous version's base ({@link DeltaBases}), and the chunk's hash where the feeder took it to decide whether to
 * read that base. A chunk the catalog knows to be present but in a form it has not
 * learned yet (found by listing the store, whose headers it has not read) is encoded whole and handed to the writer,
 * which reads the stored form on an I/O thread and keeps it ({@link dev.cairn.tiers.internal.ChunkForms#put}).
 *
 * <p>A first tier that is {@link Tier#uncompressed() uncompressed} takes each chunk it lacks as it is
 * ({@link ChunkCodec#encodeRaw}): hashed and looked up as above, then copied into its stored form, with neither a probe,
 * nor a compression, nor a differential form. Where that tier is in this process's memory and the chunk lies in a staging
 * slab as it is (not rounded), the slab itself goes to the writer, whose store copies the raw bytes into place between
 * the stored form's headers: one copy from staging into the tier instead of two.
 *
 * <p>Differential chunks: a changed chunk whose previous version (the same position in an earlier save of this
 * pipeline, from {@link PreviousVersions}) is still in the save's first tier is also encoded as the XOR against it
 * ({@link XorDelta}), and the smaller form is kept. The previous raw bytes are not kept in memory: the feeder rebuilt
 * them from the tier, along their own chain, which the chain bound ({@code fullEvery}) keeps short. A delta of at
 * most 1/{@value #DELTA_SURE_RATIO} of the raw size is kept without also encoding the chunk whole: no whole encoding
 * of floats comes near that. A differential sample of the first {@value ChunkCodec#SAMPLE_BYTES} bytes that does not
 * halve skips the differential form at once.
 *
 * <p>Chunks are keyed by {@link SaveJob#CONTENT_HASH} (XXH3-128, manifest format 3). Every hash this encoder looks
 * up or builds on is one it computed with that hash, or a base named by a chunk stored under such a key: a chunk of a
 * format-2 checkpoint in the same tier (keyed by MurmurHash3) is not taken as a base, and is found for new content
 * only if its MurmurHash3 key equals the content's XXH3 key, a 128-bit accident.
 *
 * <p>Lossy entries are rounded ({@link MantissaRounding}) into the encoder's scratch before hashing, never in the
 * caller's buffers. Every chunk reaches the encoders in a staging slab (ZERO_COPY's too, copied by the capture thread),
 * so the bytes hashed are the bytes encoded.
 *
 * <p>Each encoder owns its scratch (rounded input, a differential form), freed when the pipeline closes.
 */
final class ChunkEncoder implements EventHandler<ChunkEvent> {
    static final int DELTA_SURE_RATIO = 4;
    private final int k;
    private final int n;
    /** Codecs by zstd level: the first tier of a save encodes at its own level. */
    private final Map<Integer, ChunkCodec> codecs = new HashMap<>();
    private final Map<Integer, XorDelta> deltas = new HashMap<>();
    private final Scratch scratch;
    /** What the codec chose for the chunk at hand. */
    private final ChunkCodec.Encoded encoded = new ChunkCodec.Encoded();
    private final ContentHash.Hasher hasher = SaveJob.CONTENT_HASH.hasher();
    private final long freshForMillis;
    private final PreviousVersions previous;
    /**
     * Saves of a chunk position that store it whole without trying the differential form, after a try that did not
     * pay: rebuilding the base costs a read and a decode per chunk, wasted where training changes every value. Doubled
     * for each further miss in a row, up to {@link #MAX_SKIP_AFTER_MISSES}.
     */
    static final int SKIP_AFTER_MISS = 4;
    /**
     * The longest skip: each miss in a row doubles the one before ({@value #SKIP_AFTER_MISS}, 8, 16, ... this), so
     * that a position where training changes every value, every step, rebuilds its base about once in this many
     * saves, while one whose changes become sparse again is tried within as many.
     */
    static final int MAX_SKIP_AFTER_MISSES = 64;
    private final Scratch.Buffer rounded;
    private final Scratch.Buffer deltaOut;
    private final ChunkWriter writer;
    private Sequence progress;
    /** Counted down once {@link #onShutdown} has freed the codecs and scratch. */
    private final java.util.concurrent.CountDownLatch released = new java.util.concurrent.CountDownLatch(1);

    /**
     * @param freshFor how recently a stored chunk that the tier's newest committed step does not name must have been
     *                 written for a save to count on it instead of writing it again ({@link SavePipeline#freshFor})
     * @param scratch  this encoder's own, closed with it
     */
    ChunkEncoder(int k, int n, java.time.Duration freshFor, PreviousVersions previous, ChunkWriter writer, Scratch scratch) {
        this.writer = writer;
        this.scratch = scratch;
        this.rounded = scratch.buffer();
        this.deltaOut = scratch.buffer();
        this.k = k;
        this.n = n;
        this.freshForMillis = freshFor.toMillis();
        this.previous = previous;
    }

    /**
     * The ring only learns a handler's progress at the end of a batch; reporting it after every event frees each slot
     * for the feeder as soon as its chunk is handed on.
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
            if (e.base != null) {
                e.base.release();
                e.base = null;
            }
            if (e.chain != null) {
                e.catalog.unpinAll(e.chain); // a base not used, or a failure before it was
                e.chain = null;
            }
            writer.take(e);
            progress.set(sequence);
        }
    }

    private void encode(ChunkEvent e, SavePlan plan, ChunkResults results, Tier tier) throws Exception {
        int i = e.chunk;
        int len = plan.length(i);
        ByteBuffer src = e.source;
        int pos = 0;
        if (plan.lossyBits(i) != 0) {
            ByteBuffer r = rounded.atLeast(len);
            MantissaRounding.round(plan.dtype(i), plan.lossyBits(i), src, pos, len, r, 0);
            src = r;
            pos = 0;
        }
        // Hashed already by the feeder when it looked for a base, from these very bytes (DeltaBases).
        String hash = e.hash != null ? e.hash : hasher.hex(src, pos, len);
        results.hashed(i, hash);
        ChunkCatalog catalog = e.catalog;
        PreviousVersions.Version prev = e.prev;
        long size = catalog.pin(hash);
        ChunkCatalog.Form held = size < 0 ? null : catalog.formOf(hash);
        if (held != null) {
            // Held already, in the one form the tier keeps under this key; usable only with its whole chain, pinned
            // before we count on it, and only where no collector of another process may take it meanwhile.
            List<String> chain = held.bases();
            if (catalog.pinChain(chain) && catalog.reusable(hash, chain, System.currentTimeMillis() - freshForMillis)) {
                results.held(i, held);
                e.write = false;
                previous.put(plan, i, hash, hasher.contentHash(), prev == null ? 0 : prev.skip(),
                        prev == null ? 0 : prev.misses(), prev == null ? null : prev.choice());
                return;
            }
            // A chunk whose chain lost a link (an orphan of a failed save): encoded whole, which replaces it (where
            // the link is only marked damaged, the writer reads the chain again first, and keeps the stored form
            // where it is intact: ChunkForms#put). One old
            // enough for another process's collector to delete: encoded whole too, but the writer keeps the stored
            // form and only writes it again, which restarts its age (ChunkForms#put).
            catalog.unpinAll(chain);
        }
        boolean present = size >= 0;
        ByteBuffer out = e.encoded.buffer();
        if (tier.uncompressed()) {
            // Stored as it is: no probe, no compression, and no differential form (the feeder read no base for it).
            if (e.raw != null && src == e.source && tier.store().inMemory()) {
                // Straight from staging: the store copies the raw bytes into place between the frame's headers
                // (ObjectStore#putIfAbsentGathered), the one copy after the capture's; the output slab goes back unused.
                e.encoded.release();
                e.encoded = e.raw;
                e.raw = null;
                e.rawInStaging = true;
                e.encodedLength = ChunkCodec.rawStoredLength(len);
            } else {
                e.encodedLength = ChunkCodec.encodeRaw(src, pos, len, out);
            }
            results.encoded(i, Codec.RAW.manifestName(), List.of());
            e.write = true;
            previous.put(plan, i, hash, hasher.contentHash(), 0, 0, prev == null ? null : prev.choice());
            return;
        }
        boolean skipped = prev != null && prev.skip() > 0;
        // The base the feeder read serves a changed chunk the tier does not hold; otherwise it goes back unused.
        List<String> chain = e.chain != null && !present && !prev.hash().equals(hash) ? e.chain : null;
        Slab base = e.base;
        int deltaLength = -1;
        if (chain != null) {
            ByteBuffer d = deltaOut.atLeast(out.capacity());
            ByteBuffer b = base.buffer();
            // A sample first: where much changed, the whole XOR would be compressed only to be thrown away.
            int probe = Math.min(len, ChunkCodec.SAMPLE_BYTES);
            if (probe == len || delta(tier).encode(src, pos, b, 0, probe, chain.get(0), d, probe / 2) >= 0) {
                deltaLength = delta(tier).encode(src, pos, b, 0, len, chain.get(0), d, len - (len >>> 5));
            }
        }
        boolean keptDelta = false;
        CodecChoice choice = prev == null ? null : prev.choice();
        if (deltaLength >= 0 && deltaLength <= len / DELTA_SURE_RATIO) {
            keepDelta(e, results, i, chain, deltaLength);
            keptDelta = true;
        } else {
            codec(tier).encodeReusing(choice, src, pos, len, plan.floatWidth(i), out, encoded);
            choice = encoded.choice();
            e.encodedLength = encoded.length();
            results.encoded(i, encoded.codec().manifestName(), List.of());
            if (deltaLength >= 0 && deltaLength < e.encodedLength) {
                keepDelta(e, results, i, chain, deltaLength);
                keptDelta = true;
            }
            // A base not used goes back with its pins in onEvent: they would keep older chunks past retirement.
        }
        e.write = true;
        if (present && held == null) {
            // Present in a form not learned yet: as if held (the writer keeps the stored form), for the skip count too.
            previous.put(plan, i, hash, hasher.contentHash(), prev == null ? 0 : prev.skip(),
                    prev == null ? 0 : prev.misses(), choice);
            return;
        }
        boolean missed = chain != null && !keptDelta;
        int misses = missed ? prev.misses() + 1 : keptDelta ? 0 : prev == null ? 0 : prev.misses();
        previous.put(plan, i, hash, hasher.contentHash(), missed ? skipAfter(misses) : skipped ? prev.skip() - 1 : 0,
                misses, choice);
    }

    /** Saves to skip the differential form after {@code misses} tries in a row that did not pay (at least one). */
    static int skipAfter(int misses) {
        return SKIP_AFTER_MISS << Math.min(misses - 1, Integer.numberOfTrailingZeros(MAX_SKIP_AFTER_MISSES / SKIP_AFTER_MISS));
    }

    private void keepDelta(ChunkEvent e, ChunkResults results, int i, List<String> chain, int deltaLength) {
        results.addPins(i, chain);
        e.chain = null; // its pins now go with the chunk's
        e.encoded.buffer().put(0, deltaOut.atLeast(deltaLength), 0, deltaLength);
        e.encodedLength = deltaLength;
        results.encoded(i, Codec.XOR.manifestName(), chain);
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

    /**
     * Frees what this encoder owns on its own thread, once the ring has stopped it: nothing else touches its codecs
     * and scratch, and an encoder still busy when the ring is halted frees them as it leaves.
     */
    @Override
    public void onShutdown() {
        try {
            codecs.values().forEach(ChunkCodec::close);
            deltas.values().forEach(XorDelta::close);
            scratch.close();
        } finally {
            released.countDown();
        }
    }

    /**
     * Waits up to {@code waitNanos} for {@link #onShutdown}; an encoder still running then keeps its scratch, which its
     * allocator reports.
     */
    void close(long waitNanos) {
        try {
            released.await(waitNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
