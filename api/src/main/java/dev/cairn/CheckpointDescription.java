package dev.cairn;

import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * What one committed checkpoint holds, as its MANIFEST says: every entry each rank saved, and every chunk of it.
 * Read by {@link CheckpointAdmin#describe}; reading it reads no chunk. Immutable.
 *
 * @param formatVersion the manifest format it was written in
 * @param contentHash   what its chunk hashes are of: {@code "xxh3-128"} (format 3) or {@code "murmur3-128"} (1 and 2)
 * @param chunkBytes    the chunk size it was saved with
 * @param entries       every entry of every rank, in the order the MANIFEST lists them
 */
public record CheckpointDescription(String run, long step, int formatVersion, String contentHash, int worldSize,
                                    int chunkBytes, Instant createdAt, List<Entry> entries) {
    public CheckpointDescription {
        Objects.requireNonNull(run, "run");
        Objects.requireNonNull(contentHash, "contentHash");
        Objects.requireNonNull(createdAt, "createdAt");
        entries = List.copyOf(entries);
    }

    /** What an entry is. */
    public enum Kind {
        TENSOR,
        /** A blob of the whole run, saved once. */
        BLOB,
        /** A blob each rank saves its own copy of (a data loader's position, an RNG state). */
        RANK_BLOB
    }

    /**
     * One entry as one rank saved it, and its chunks in order. For a tensor, {@code shape} is the shape of the bytes
     * held (the rank's slice), and {@code globalShape} with {@code shardOffsets} place the slice in the whole tensor
     * (equal to {@code shape} and zeros when it is not sharded); all three and {@code dtype} are null for a blob.
     */
    public record Entry(String name, Kind kind, DType dtype, long[] shape, long[] globalShape, long[] shardOffsets, int rank,
                        long byteSize, List<Chunk> chunks) {
        public Entry {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(kind, "kind");
            shape = copy(shape);
            globalShape = copy(globalShape);
            shardOffsets = copy(shardOffsets);
            chunks = List.copyOf(chunks);
        }

        public boolean isTensor() {
            return kind == Kind.TENSOR;
        }

        /** The slice of the whole tensor this entry holds; only for a tensor. */
        public ShardSpec shard() {
            return ShardSpec.of(globalShape, shardOffsets, shape);
        }

        @Override
        public long[] shape() {
            return copy(shape);
        }

        @Override
        public long[] globalShape() {
            return copy(globalShape);
        }

        @Override
        public long[] shardOffsets() {
            return copy(shardOffsets);
        }

        private static long[] copy(long[] a) {
            return a == null ? null : a.clone();
        }
    }

    /**
     * One stored chunk: bytes {@code [offset, offset + rawLength)} of its entry, stored under {@code key} as
     * {@code storedLength} bytes in {@code codec}.
     *
     * @param hash        its content hash, by {@code contentHash}: equal hashes are equal bytes
     * @param bases       for a chunk stored as a difference against earlier versions, the hashes it depends on,
     *                    nearest first; empty for a chunk stored whole
     * @param errorBound  0 for a lossless chunk; else the largest relative error of any value, as its codec stated it
     * @param contentHash the hash {@code hash} and {@code bases} are of (the checkpoint's)
     * @param key         the object the chunk is stored as, in every store of the run
     */
    public record Chunk(long offset, long rawLength, String hash, String codec, long storedLength, List<String> bases,
                        double errorBound, String contentHash, String key) {
        public Chunk {
            Objects.requireNonNull(hash, "hash");
            Objects.requireNonNull(codec, "codec");
            Objects.requireNonNull(contentHash, "contentHash");
            Objects.requireNonNull(key, "key");
            bases = List.copyOf(bases);
        }

        /** The same chunk at another offset: for the bytes of several entries read as one. */
        public Chunk at(long otherOffset) {
            return new Chunk(otherOffset, rawLength, hash, codec, storedLength, bases, errorBound, contentHash, key);
        }
    }

    /** Bytes of the state. */
    public long rawBytes() {
        long n = 0;
        for (Entry e : entries) {
            n += e.byteSize();
        }
        return n;
    }

    /** Stored bytes of the distinct chunks it references. */
    public long storedBytes() {
        Set<String> seen = new HashSet<>();
        long n = 0;
        for (Entry e : entries) {
            for (Chunk c : e.chunks()) {
                if (seen.add(c.hash())) {
                    n += c.storedLength();
                }
            }
        }
        return n;
    }

    /** Chunks of all entries, a chunk shared by several counted each time. */
    public long chunkCount() {
        long n = 0;
        for (Entry e : entries) {
            n += e.chunks().size();
        }
        return n;
    }
}
