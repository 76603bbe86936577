package dev.cairn.tiers.internal.pipeline;

import dev.cairn.tiers.internal.ChunkCatalog;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A preallocated ring slot: one chunk of one save on its way from the feeder to the writer. The feeder fills it with
 * everything the encoder needs from outside memory (the source bytes, an output slab, the tier's catalog, the
 * previous version and its base), so that the ring's handlers only compute.
 */
final class ChunkEvent {
    SaveJob job;
    int chunk;
    /** The raw bytes from index 0: a staging slab's buffer (in both save modes), or null for a failed job. */
    ByteBuffer source;
    Slab raw;
    /** Where the encoder puts the stored form; null for a failed job. */
    Slab encoded;
    int encodedLength;
    /** The first tier's catalog, loaded. */
    ChunkCatalog catalog;
    /** The previous version of the chunk's position, or null. */
    PreviousVersions.Version prev;
    /**
     * The chunk's content hash when the feeder already computed it from the very bytes the encoder reads (a staging
     * slab, not rounded), else null: the encoder then hashes the chunk itself.
     */
    String hash;
    /** The raw bytes of {@link #prev} when the differential form may be tried ({@link DeltaBases}), else null. */
    Slab base;
    /** The pinned chain of {@link #base}, nearest first, or null. */
    List<String> chain;
    /** Whether the job's first tier does not hold the chunk yet and it must be written. */
    boolean write;
    /**
     * Whether {@link #encoded} is the chunk's raw staging slab, to be stored uncompressed straight from it
     * ({@link dev.cairn.tiers.internal.codec.ChunkCodec#rawParts}), not a slab holding the stored form.
     */
    boolean rawInStaging;

    void load(SaveJob job, int chunk, ByteBuffer source, Slab raw, Slab encoded, ChunkCatalog catalog,
              String hash, PreviousVersions.Version prev, Slab base, List<String> chain) {
        this.job = job;
        this.chunk = chunk;
        this.source = source;
        this.raw = raw;
        this.encoded = encoded;
        this.encodedLength = 0;
        this.catalog = catalog;
        this.hash = hash;
        this.prev = prev;
        this.base = base;
        this.chain = chain;
        this.write = false;
        this.rawInStaging = false;
    }

    void clear() {
        job = null;
        source = null;
        raw = null;
        encoded = null;
        catalog = null;
        hash = null;
        prev = null;
        base = null;
        chain = null;
        rawInStaging = false;
    }
}
