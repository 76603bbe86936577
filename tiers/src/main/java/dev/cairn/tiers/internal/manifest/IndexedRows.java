package dev.cairn.tiers.internal.manifest;

import java.util.List;

/**
 * How a format-4 MANIFEST of several ranks holds its chunk rows: not inline, but in the ranks' indexes, each bound by
 * an {@link IndexRef}. The MANIFEST itself keeps one row per entry and rank (name, kind, dtype, shape, slice, size, and
 * the rank whose index holds its chunk rows), so a restoring rank reads it and only the indexes whose slices it needs
 * ({@link CommittedManifest}).
 *
 * @param indexes     one per rank of the world, by rank
 * @param chunkCount  chunk rows over every index, for listings that do not read the indexes
 * @param storedBytes stored bytes of the distinct chunks over every index, likewise
 * @param resolved    whether every entry of the {@link Manifest} holding this carries its chunks (every index was
 *                    read, or it was merged from them); false for a MANIFEST as read, whose entries name no chunk, and
 *                    for one with only some ranks' indexes read ({@link CommittedManifest#withRanks})
 */
public record IndexedRows(List<IndexRef> indexes, long chunkCount, long storedBytes, boolean resolved) {
    public IndexedRows {
        indexes = List.copyOf(indexes);
        for (int r = 0; r < indexes.size(); r++) {
            if (indexes.get(r).rank() != r) {
                throw new IllegalArgumentException("index references out of rank order at " + r);
            }
        }
        if (chunkCount < 0 || storedBytes < 0) {
            throw new IllegalArgumentException("negative totals");
        }
    }

    /** The same, saying whether the entries carry their chunks. */
    public IndexedRows resolved(boolean carried) {
        return new IndexedRows(indexes, chunkCount, storedBytes, carried);
    }
}
