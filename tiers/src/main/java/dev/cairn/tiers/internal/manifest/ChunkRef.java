package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.codec.ContentHash;
import java.util.List;

/**
 * One stored chunk of an entry: bytes {@code [offset, offset + rawLength)} of the entry, kept under its content
 * {@code hash} as {@code storedLength} bytes encoded with {@code codec}.
 *
 * @param bases      for a chunk stored as a difference against earlier versions, the content hashes it depends on,
 *                   nearest first (empty for a chunk stored whole): GC keeps them as long as this chunk is referenced
 * @param errorBound 0 for a lossless chunk; else the largest relative error of any value, as the lossy codec
 *                   stated it when it encoded the chunk
 * @param contentHash the hash that {@code hash} and {@code bases} are of: the one of the manifest the chunk is
 *                    listed in, and the one a reader verifies the chunk (and its bases) with
 */
public record ChunkRef(long offset, long rawLength, String hash, String codec, long storedLength, List<String> bases,
                       double errorBound, ContentHash contentHash) {
    public ChunkRef {
        bases = List.copyOf(bases);
        java.util.Objects.requireNonNull(contentHash, "contentHash");
    }

    /** A chunk of a new save ({@link ContentHash#CURRENT}), stored whole and losslessly. */
    public ChunkRef(long offset, long rawLength, String hash, String codec, long storedLength) {
        this(offset, rawLength, hash, codec, storedLength, List.of(), 0, ContentHash.CURRENT);
    }

    /** The same chunk as another store holds it. */
    public ChunkRef storedAs(String otherCodec, long otherLength, List<String> otherBases) {
        return new ChunkRef(offset, rawLength, hash, otherCodec, otherLength, otherBases, errorBound, contentHash);
    }

    public boolean lossy() {
        return errorBound != 0;
    }
}
