package dev.cairn.tiers.internal.pipeline;

import java.nio.ByteBuffer;

/** A preallocated ring slot: one chunk of one save on its way from capture to the writer. */
final class ChunkEvent {
    SaveJob job;
    int chunk;
    /** The raw bytes: a staging slab's buffer, or the caller's own buffer in zero-copy mode. */
    ByteBuffer source;
    int sourcePosition;
    Slab raw;
    Slab encoded;
    int encodedLength;
    /** Whether the job's first tier does not hold the chunk yet and it must be written. */
    boolean write;

    void load(SaveJob job, int chunk, ByteBuffer source, int sourcePosition, Slab raw) {
        this.job = job;
        this.chunk = chunk;
        this.source = source;
        this.sourcePosition = sourcePosition;
        this.raw = raw;
        this.encoded = null;
        this.encodedLength = 0;
        this.write = false;
    }

    void clear() {
        job = null;
        source = null;
        raw = null;
        encoded = null;
    }
}
