package dev.cairn.tiers.internal.manifest;

import dev.cairn.DType;
import dev.cairn.ShardSpec;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.util.Arrays;

/**
 * One row of a paged MANIFEST or of one of its pages (format 5, {@link Pages}): what one child holds of one entry.
 * The child is a rank index ({@code level} 0, {@code number} its rank) or a page of the level above the rows it holds
 * ({@code level} 1 and up, {@code number} its place in that level), bound by its length and SHA-256 as
 * {@link IndexRef} binds an index. Under an index child the row is exactly that rank's entry (its slice, size and
 * rank); under a page child it summarizes every row of the entry in that page: the box that holds their slices
 * ({@code low} corner and {@code extent}), their bytes, and the lowest and highest rank among them.
 *
 * @param low    for a tensor, the box's low corner in the global tensor; null for a blob
 * @param extent for a tensor, the box's lengths; null for a blob
 */
public record PageRow(String name, String kind, DType dtype, long[] globalShape, long[] low, long[] extent, long bytes,
                      int firstRank, int lastRank, int level, int number, long length, String digest) {
    static final String TENSOR = "tensor";
    static final String BLOB = "blob";
    static final String RANK_BLOB = "rank-blob";

    public PageRow {
        if (level < 0 || number < 0 || firstRank < 0 || lastRank < firstRank || bytes < 0 || length < 1
                || length > ManifestFormat.MAX_BYTES || !IndexRef.isDigest(digest)
                || (level == 0 && (firstRank != lastRank || number != firstRank))) {
            throw new IllegalArgumentException("page row of '" + name + "': level " + level + " number " + number
                    + " ranks " + firstRank + ".." + lastRank + " length " + length);
        }
    }

    /** The row of rank {@code ref.rank()}'s entry {@code e}, whose chunk rows are in the index {@code ref} binds. */
    static PageRow of(EntryRecord e, IndexRef ref) {
        String kind = e.tensor() ? TENSOR : e.perRank() ? RANK_BLOB : BLOB;
        return new PageRow(e.name(), kind, e.dtype(), e.globalShape(), e.tensor() ? e.shardOffsets() : null,
                e.tensor() ? e.shape() : null, e.byteSize(), e.rank(), e.rank(), 0, e.rank(), ref.length(), ref.digest());
    }

    public boolean tensor() {
        return TENSOR.equals(kind);
    }

    /** Whether a rank's own copy of this entry is wanted (a per-rank blob), not the lowest rank's (a global blob). */
    public boolean perRankBlob() {
        return RANK_BLOB.equals(kind);
    }

    /** Whether the child is a rank index (this row is that rank's entry). */
    public boolean namesIndex() {
        return level == 0;
    }

    /** Whether {@code rank} is among the ranks under the child that hold this entry (bounds: may be a false yes). */
    public boolean mayHoldRank(int rank) {
        return firstRank <= rank && rank <= lastRank;
    }

    /**
     * Whether some slice under this row may share an element with {@code want} (a slice of the same tensor): its box
     * does. A target of no elements overlaps nothing; the caller asks for such a tensor's rows otherwise.
     */
    public boolean overlaps(ShardSpec want) {
        if (!tensor() || low.length != want.offsets().length) {
            return false;
        }
        for (int d = 0; d < low.length; d++) {
            long from = Math.max(low[d], want.offsets()[d]);
            long to = Math.min(low[d] + extent[d], want.offsets()[d] + want.lengths()[d]);
            if (to <= from) {
                return false;
            }
        }
        return true;
    }

    /** The entry this row is (without chunks: they are in the index). Only for a row naming an index. */
    public EntryRecord entry() {
        if (!namesIndex()) {
            throw new IllegalStateException("row of '" + name + "' names page " + level + "." + number + ", not an entry");
        }
        return new EntryRecord(name, tensor(), dtype, extent, globalShape, low, perRankBlob(), bytes, firstRank,
                java.util.List.of());
    }

    /** The index this row's chunk rows are in. Only for a row naming an index. */
    public IndexRef indexRef() {
        return new IndexRef(number, length, digest);
    }

    /** The key of the child: the rank index, or the page of the directory {@code id}. */
    public String childKey(StoreLayout layout, long step, String id) {
        return namesIndex() ? layout.indexKey(step, number) : layout.pageKey(step, id, level, number);
    }

    /** Whether {@code other} names the same child with the same bytes. */
    boolean sameChild(PageRow other) {
        return level == other.level && number == other.number && length == other.length && digest.equals(other.digest);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PageRow p && name.equals(p.name) && kind.equals(p.kind) && dtype == p.dtype
                && Arrays.equals(globalShape, p.globalShape) && Arrays.equals(low, p.low) && Arrays.equals(extent, p.extent)
                && bytes == p.bytes && firstRank == p.firstRank && lastRank == p.lastRank && sameChild(p);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(name, level, number, firstRank);
    }
}
