package dev.cairn.tiers.internal.manifest;

import dev.cairn.DType;
import dev.cairn.ShardSpec;
import java.util.List;

/**
 * One entry of a checkpoint as one rank saved it, and its chunks in order. For a tensor, {@code shape} is the shape
 * of the bytes held (the slice's), and {@code globalShape} with {@code shardOffsets} place that slice in the global
 * tensor (equal to {@code shape} and zeros for an unsharded tensor). {@code dtype}, {@code shape},
 * {@code globalShape} and {@code shardOffsets} are null for a blob; {@code perRank} is true for a per-rank blob.
 */
public record EntryRecord(String name, boolean tensor, DType dtype, long[] shape, long[] globalShape, long[] shardOffsets,
                          boolean perRank, long byteSize, int rank, List<ChunkRef> chunks) {
    public EntryRecord {
        chunks = List.copyOf(chunks);
    }

    /** An unsharded tensor, or a global blob. */
    public EntryRecord(String name, boolean tensor, DType dtype, long[] shape, long byteSize, int rank, List<ChunkRef> chunks) {
        this(name, tensor, dtype, shape, shape, tensor ? new long[shape.length] : null, false, byteSize, rank, chunks);
    }

    /** Whether {@code b} lists the same entry as this: name, rank, kind, type, shapes, slice and size; chunks aside. */
    public boolean sameEntryAs(EntryRecord b) {
        return name.equals(b.name) && tensor == b.tensor && dtype == b.dtype && perRank == b.perRank
                && byteSize == b.byteSize && rank == b.rank && java.util.Arrays.equals(shape, b.shape)
                && java.util.Arrays.equals(globalShape, b.globalShape) && java.util.Arrays.equals(shardOffsets, b.shardOffsets);
    }

    /** The slice this tensor entry holds. */
    public ShardSpec shard() {
        return ShardSpec.of(globalShape, shardOffsets, shape);
    }

    /** The same entry with other chunks (another tier's stored forms). */
    public EntryRecord withChunks(List<ChunkRef> other) {
        return new EntryRecord(name, tensor, dtype, shape, globalShape, shardOffsets, perRank, byteSize, rank, other);
    }
}
