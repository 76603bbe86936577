package dev.cairn.tiers.internal.manifest;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * How a MANIFEST of several ranks holds its chunk rows from format 4: not inline, but in the ranks' indexes, each
 * bound by an {@link IndexRef}. A format-4 MANIFEST keeps one row per entry and rank (name, kind, dtype, shape, slice,
 * size, and the rank whose index holds its chunk rows) and every reference. A format-5 MANIFEST keeps those rows, each
 * with its index's reference, in pages under a directory ({@link Pages}), so that a restoring rank reads the pages and
 * indexes of its own slices only ({@link CommittedManifest}).
 *
 * @param indexes     one per rank of the world, by rank; null where not known yet (format 5: the pages naming that
 *                    rank's index were not read)
 * @param chunkCount  chunk rows over every index, for listings that do not read the indexes
 * @param storedBytes stored bytes of the distinct chunks over every index, likewise
 * @param resolved    whether every entry of the {@link Manifest} holding this carries its chunks (every page and index
 *                    was read, or it was merged from them); false for a MANIFEST as read, whose entries name no chunk,
 *                    and for one with only some ranks' indexes read ({@link CommittedManifest#withRanks})
 * @param pages       format 5: the directory; null for format 4
 */
public record IndexedRows(List<IndexRef> indexes, long chunkCount, long storedBytes, boolean resolved, Pages pages) {
    public IndexedRows {
        indexes = Collections.unmodifiableList(new ArrayList<>(indexes));
        for (int r = 0; r < indexes.size(); r++) {
            IndexRef ref = indexes.get(r);
            if (ref == null ? pages == null : ref.rank() != r) {
                throw new IllegalArgumentException("index references missing or out of rank order at " + r);
            }
        }
        if (chunkCount < 0 || storedBytes < 0) {
            throw new IllegalArgumentException("negative totals");
        }
    }

    /** Format 4: every reference known, no pages. */
    public IndexedRows(List<IndexRef> indexes, long chunkCount, long storedBytes, boolean resolved) {
        this(indexes, chunkCount, storedBytes, resolved, null);
    }

    /** The same, saying whether the entries carry their chunks. */
    public IndexedRows resolved(boolean carried) {
        return new IndexedRows(indexes, chunkCount, storedBytes, carried, pages);
    }

    /** The same with other index references known ({@code refs}, by rank, nulls for those still unknown). */
    public IndexedRows withIndexes(List<IndexRef> refs) {
        return new IndexedRows(refs, chunkCount, storedBytes, resolved, pages);
    }

    /** Whether every rank's index reference is known (format 4 always; format 5 once every page was read). */
    public boolean allIndexesKnown() {
        return !indexes.contains(null);
    }
}
