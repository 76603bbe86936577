package dev.cairn.tiers;

import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointDescription.Chunk;
import dev.cairn.CheckpointDescription.Entry;
import dev.cairn.CheckpointDescription.Kind;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.util.ArrayList;
import java.util.List;

/** Between the engine's manifest records and the public {@link CheckpointDescription}, both ways for a chunk. */
final class Descriptions {
    private Descriptions() {
    }

    static CheckpointDescription of(Manifest m) {
        StoreLayout layout = new StoreLayout(m.run());
        List<Entry> entries = new ArrayList<>(m.entries().size());
        for (EntryRecord r : m.entries()) {
            List<Chunk> chunks = new ArrayList<>(r.chunks().size());
            for (ChunkRef c : r.chunks()) {
                chunks.add(new Chunk(c.offset(), c.rawLength(), c.hash(), c.codec(), c.storedLength(), c.bases(),
                        c.errorBound(), c.contentHash().tag(), layout.chunkKey(c.hash())));
            }
            Kind kind = r.tensor() ? Kind.TENSOR : r.perRank() ? Kind.RANK_BLOB : Kind.BLOB;
            entries.add(new Entry(r.name(), kind, r.dtype(), r.shape(), r.globalShape(), r.shardOffsets(), r.rank(),
                    r.byteSize(), chunks));
        }
        return new CheckpointDescription(m.run(), m.step(), m.formatVersion(), m.contentHash().tag(), m.worldSize(),
                m.chunkBytes(), m.createdAt(), entries);
    }

    /** The engine's record of {@code c}, for reading it: INVALID_INPUT for a content hash this release does not know. */
    static ChunkRef ref(Chunk c) {
        return new ChunkRef(c.offset(), c.rawLength(), c.hash(), c.codec(), c.storedLength(), c.bases(), c.errorBound(),
                contentHash(c.contentHash()));
    }

    static ContentHash contentHash(String tag) {
        return ContentHash.fromTag(tag).orElseThrow(() -> new CheckpointException(Reason.INVALID_INPUT,
                "unknown content hash '" + tag + "'"));
    }
}
