package dev.cairn.tiers.manifest;

import dev.cairn.DType;
import java.util.List;

/**
 * One entry of a checkpoint and its chunks in order. {@code dtype} and {@code shape} are null for a blob.
 */
public record EntryRecord(String name, boolean tensor, DType dtype, long[] shape, long byteSize, int rank,
                          List<ChunkRef> chunks) {
    public EntryRecord {
        chunks = List.copyOf(chunks);
    }
}
