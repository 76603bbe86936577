package dev.cairn.tiers.internal.pipeline;

import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.restore.StoredChunks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads, before a chunk enters the ring, the base its differential form would be encoded against: the previous
 * version of the chunk's position ({@link PreviousVersions}), rebuilt along its stored chain
 * ({@link StoredChunks#materialize}) into a slab of its own, so that the encoders never read a store. Runs on the
 * pipeline's feeder thread, the one thread that publishes to the ring.
 *
 * <p>A base is read only where the encoder would try the differential form of a changed chunk: differential on, a
 * first tier that compresses (an uncompressed one stores every chunk whole) in this process's memory (elsewhere its previous versions would be read back from disk or the network),
 * a previous version keyed by the same hash, no skip after a try that did not pay, a stored chain below the bound,
 * and a chunk that changed. That last is known only from the chunk's hash: the feeder takes it here, after the cheap
 * checks, and compares it with the previous version's, so that an unchanged chunk (most of them, in a differential
 * save) costs a hash instead of a read, a decode and a hash check of its base. The hash is handed on to the encoder
 * when it is of the bytes the encoder reads (a staging slab of an entry stored losslessly), so it is not taken twice;
 * a rounded chunk is hashed again by its encoder from its own copy, and the
 * feeder's hash only decides whether to read the base. A base read goes unused when the tier turns out to hold the
 * chunk already (the encoder gives the slab and the chain's pins back).
 */
final class DeltaBases implements AutoCloseable {
    private final int fullEvery;
    private final long freshForMillis;
    private final PreviousVersions previous;
    private final SlabPool slabs;
    private final long waitNanos;
    private final Scratch scratch;
    private final StoredChunks chunks;
    private final ContentHash.Hasher hasher = SaveJob.CONTENT_HASH.hasher();

    /**
     * @param slabs    where the bases are rebuilt, one chunk each: bounds the bases read ahead of the encoders
     * @param scratch  the reader's own, closed with this
     */
    DeltaBases(int fullEvery, java.time.Duration freshFor, PreviousVersions previous, SlabPool slabs, long waitNanos,
               Scratch scratch) {
        this.fullEvery = fullEvery;
        this.freshForMillis = freshFor.toMillis();
        this.previous = previous;
        this.slabs = slabs;
        this.waitNanos = waitNanos;
        this.scratch = scratch;
        this.chunks = new StoredChunks(scratch);
    }

    /**
     * Loads {@code e.prev} (the previous version of chunk {@code e.chunk}'s position, or null) and, where the encoder
     * may try the differential form, the base's raw bytes into {@code e.base} with its chain, nearest base first,
     * pinned, in {@code e.chain}; else leaves both null. Where it hashed the chunk ({@code src[0, length)}, its staging
     * slab, which nothing changes until the encoder has read it), the hash goes into {@code e.hash}. Fails when the
     * tier cannot say how it stores the base, or no slab is free within the deadline.
     */
    void resolve(ChunkEvent e, SavePlan plan, Tier tier, ChunkCatalog catalog, ByteBuffer src) throws IOException {
        PreviousVersions.Version prev = previous.get(plan, e.chunk);
        e.prev = prev;
        if (fullEvery <= 1 || tier.uncompressed() || !tier.store().inMemory() || prev == null || prev.skip() > 0
                || prev.contentHash() != SaveJob.CONTENT_HASH) {
            return;
        }
        int len = plan.length(e.chunk);
        boolean lossy = plan.lossyBits(e.chunk) != 0;
        if (!lossy) {
            // A rounded chunk's hash is of its rounded bytes, which only its encoder makes: read its base as it comes.
            String hash = hasher.hex(src, 0, len);
            e.hash = hash;
            if (hash.equals(prev.hash())) {
                return; // unchanged: stored without a base
            }
        }
        // The base's own chain is the one the tier stores it with, which need not be the form this pipeline encoded
        // for it (another save may have stored that content first: ChunkForms). Pinned first, its form cannot change.
        catalog.pin(prev.hash());
        ChunkCatalog.Form stored;
        try {
            stored = ChunkForms.held(tier, prev.hash());
        } catch (IOException | RuntimeException | Error e2) {
            catalog.unpin(prev.hash());
            throw e2;
        }
        if (stored == null || stored.bases().size() + 1 >= fullEvery) {
            catalog.unpin(prev.hash());
            return;
        }
        List<String> chain = new ArrayList<>(stored.bases().size() + 1);
        chain.add(prev.hash());
        chain.addAll(stored.bases());
        if (!catalog.pinChain(stored.bases()) || !catalog.reusable(chain, System.currentTimeMillis() - freshForMillis)) {
            catalog.unpinAll(chain);
            return;
        }
        Slab base;
        try {
            base = slabs.acquire(waitNanos);
        } catch (RuntimeException | Error full) {
            catalog.unpinAll(chain);
            throw full;
        }
        try {
            chunks.materialize(tier.store(), tier.layout(), prev.hash(), prev.contentHash(), len, base.buffer(), 0, 0);
        } catch (IOException | RuntimeException unreadable) {
            base.release();
            catalog.unpinAll(chain);
            return; // stored whole instead; a restore of the step that holds it will repair or report it
        } catch (Error fatal) {
            base.release();
            catalog.unpinAll(chain);
            throw fatal; // fails the job (SavePipeline#feed)
        }
        e.base = base;
        e.chain = chain; // pinned: the encoder keeps the pins with the chunk or releases them
    }

    /** Bases read and not yet given back by the encoders. */
    int slabsInUse() {
        return slabs.inUse();
    }

    /** On the feeder thread as it stops: frees the reader, which no other thread uses. */
    @Override
    public void close() {
        chunks.close();
        scratch.close();
    }

    /** Frees the idle slabs; those the encoders still hold are freed as they come back. */
    void closeSlabs() {
        slabs.close();
    }
}
