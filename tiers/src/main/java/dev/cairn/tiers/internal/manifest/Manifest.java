package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.codec.ContentHash;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What one checkpoint (or one rank's index of it) holds. Immutable. Every chunk of it is keyed by one
 * {@code contentHash}; formats 1 and 2 can only say {@link ContentHash#MURMUR3_128}.
 *
 * <p>{@code indexed} is null when the chunk rows are inline (every index, every MANIFEST up to format 3, a MANIFEST of
 * one rank). A format-5 MANIFEST of several ranks keeps even its entries under pages ({@link Pages}): as read, it lists
 * no entry, and a restore asks {@link CommittedManifest#select} for the pages of its slices. A format-4 MANIFEST of several ranks keeps them in the ranks' indexes ({@link IndexedRows}):
 * as read, its entries name no chunk, and what needs chunks asks {@link CommittedManifest} for the indexes. Until
 * every index is read ({@link #complete()}), the methods that answer for every chunk refuse rather than answer for
 * none: a collector that took such a manifest for one naming no chunk would delete a retained step's chunks.
 */
public record Manifest(int formatVersion, ContentHash contentHash, String run, long step, int worldSize, int rank,
                       Instant createdAt, int chunkBytes, List<EntryRecord> entries, IndexedRows indexed) {
    public Manifest {
        entries = List.copyOf(entries);
        if (indexed != null) {
            if (formatVersion < ManifestFormat.FIRST_WITH_INDEXED_ROWS || worldSize < 2 || indexed.indexes().size() != worldSize
                    || (indexed.pages() != null) != (formatVersion >= ManifestFormat.FIRST_WITH_PAGES)) {
                throw new IllegalArgumentException("format " + formatVersion + " of " + worldSize + " rank(s) cannot keep its"
                        + " rows in " + indexed.indexes().size() + " rank indexes" + (indexed.pages() == null ? "" : " under pages"));
            }
        }
        if (formatVersion < ManifestFormat.FIRST_WITH_HASH_NAMED && contentHash != ContentHash.MURMUR3_128) {
            throw new IllegalArgumentException("format " + formatVersion + " cannot record content hash " + contentHash.tag());
        }
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                if (c.contentHash() != contentHash) {
                    throw new IllegalArgumentException("chunk " + c.hash() + " of '" + e.name() + "' is keyed by "
                            + c.contentHash().tag() + ", not by this manifest's " + contentHash.tag());
                }
            }
        }
    }

    /** A manifest with its chunk rows inline. */
    public Manifest(int formatVersion, ContentHash contentHash, String run, long step, int worldSize, int rank,
                    Instant createdAt, int chunkBytes, List<EntryRecord> entries) {
        this(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, entries, null);
    }

    /** A manifest keyed by the hash {@code formatVersion} was written with: MurmurHash3 up to 2, XXH3 from 3. */
    public Manifest(int formatVersion, String run, long step, int worldSize, int rank, Instant createdAt, int chunkBytes,
                    List<EntryRecord> entries) {
        this(formatVersion, ManifestFormat.hashOfNewSaves(formatVersion), run, step, worldSize, rank, createdAt, chunkBytes,
                entries);
    }

    /**
     * Whether {@code other}, a MANIFEST of the same step (in another tier), commits the same checkpoint as this one: a
     * promotion carries the time rank 0 made its part of the step ({@code createdAt}) into every tier, where another
     * save of the same step number (an earlier run's, kept in a slower tier) has its own. Multi-rank MANIFESTs written
     * before promotions carried it never match one of another tier.
     */
    public boolean sameCommitAs(Manifest other) {
        return other == this || (other.step == step && other.worldSize == worldSize && other.createdAt.equals(createdAt));
    }

    /** The same manifest with other entries (another tier's stored forms). */
    public Manifest withEntries(List<EntryRecord> other) {
        return new Manifest(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, other, indexed);
    }

    /**
     * This manifest (every rank's rows, inline) as the MANIFEST that commits {@code indexes} instead of carrying the rows:
     * what {@link ManifestFormat#write} then writes holds one row per entry and the references. It stays resolved: its
     * entries keep their chunks for the committing process.
     */
    public Manifest withRowsIn(List<IndexRef> indexes) {
        return new Manifest(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, entries,
                new IndexedRows(indexes, countChunks(), sumStoredBytes(), true));
    }

    /**
     * This manifest (every rank's rows, inline) as the format-5 MANIFEST that commits the indexes {@code indexes} under
     * the directory {@code pages} ({@link PageTree}); it stays resolved.
     */
    public Manifest withPages(List<IndexRef> indexes, Pages pages) {
        return new Manifest(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, entries,
                new IndexedRows(indexes, countChunks(), sumStoredBytes(), true, pages));
    }

    /** The same manifest with {@code other} as its {@link IndexedRows}. */
    public Manifest withIndexed(IndexedRows other) {
        return new Manifest(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, entries, other);
    }

    /** Whether the entries and index references are under pages (format 5 of several ranks): see {@link Pages}. */
    public boolean paged() {
        return indexed != null && indexed.pages() != null;
    }

    /** Entries over every rank (as the MANIFEST states it when they are under pages). */
    public long entryCount() {
        return paged() && !complete() ? indexed.pages().entryCount() : entries.size();
    }

    /** Whether the chunk rows are in the rank indexes rather than inline. */
    public boolean rowsInIndexes() {
        return indexed != null;
    }

    /** Whether every entry carries its chunks: inline rows, or every index read. */
    public boolean complete() {
        return indexed == null || indexed.resolved();
    }

    private void requireComplete(String what) {
        if (!complete()) {
            throw new IllegalStateException(what + " of step " + step + " needs its rank indexes: its MANIFEST keeps the"
                    + " chunk rows there (read them through CommittedManifest)");
        }
    }

    /** Every chunk hash referenced, in first-use order. */
    public Set<String> chunkHashes() {
        requireComplete("the chunk hashes");
        Set<String> out = new LinkedHashSet<>();
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                out.add(c.hash());
            }
        }
        return out;
    }

    /**
     * Every chunk hash a restore of this manifest may read: the chunks and the bases of differential ones. GC keeps
     * all of them while the manifest is retained.
     */
    public Set<String> referencedHashes() {
        requireComplete("the referenced chunks");
        Set<String> out = new LinkedHashSet<>();
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                out.add(c.hash());
                out.addAll(c.bases());
            }
        }
        return out;
    }

    /** Raw bytes of every entry (as the MANIFEST states them when its entries are under pages). */
    public long rawBytes() {
        if (paged() && !complete()) {
            return indexed.pages().rawBytes();
        }
        long n = 0;
        for (EntryRecord e : entries) {
            n += e.byteSize();
        }
        return n;
    }

    /** Stored bytes of the distinct chunks referenced (as the MANIFEST states them when its rows are in the indexes). */
    public long storedBytes() {
        return indexed != null ? indexed.storedBytes() : sumStoredBytes();
    }

    private long sumStoredBytes() {
        Set<String> seen = new java.util.HashSet<>();
        long n = 0;
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                if (seen.add(c.hash())) {
                    n += c.storedLength();
                }
            }
        }
        return n;
    }

    /** Chunk rows over every entry (as the MANIFEST states them when its rows are in the indexes). */
    public long chunkCount() {
        return indexed != null ? indexed.chunkCount() : countChunks();
    }

    private long countChunks() {
        long n = 0;
        for (EntryRecord e : entries) {
            n += e.chunks().size();
        }
        return n;
    }
}
