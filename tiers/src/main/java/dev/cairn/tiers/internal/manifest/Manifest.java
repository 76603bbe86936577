package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.codec.ContentHash;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What one checkpoint (or one rank's index of it) holds. Immutable. Every chunk of it is keyed by one
 * {@code contentHash}; formats 1 and 2 can only say {@link ContentHash#MURMUR3_128}.
 */
public record Manifest(int formatVersion, ContentHash contentHash, String run, long step, int worldSize, int rank,
                       Instant createdAt, int chunkBytes, List<EntryRecord> entries) {
    public Manifest {
        entries = List.copyOf(entries);
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

    /** A manifest keyed by the hash {@code formatVersion} was written with: MurmurHash3 up to 2, XXH3 from 3. */
    public Manifest(int formatVersion, String run, long step, int worldSize, int rank, Instant createdAt, int chunkBytes,
                    List<EntryRecord> entries) {
        this(formatVersion, ManifestFormat.hashOfNewSaves(formatVersion), run, step, worldSize, rank, createdAt, chunkBytes,
                entries);
    }

    /** The same manifest with other entries (another tier's stored forms). */
    public Manifest withEntries(List<EntryRecord> other) {
        return new Manifest(formatVersion, contentHash, run, step, worldSize, rank, createdAt, chunkBytes, other);
    }

    /** Every chunk hash referenced, in first-use order. */
    public Set<String> chunkHashes() {
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
        Set<String> out = new LinkedHashSet<>();
        for (EntryRecord e : entries) {
            for (ChunkRef c : e.chunks()) {
                out.add(c.hash());
                out.addAll(c.bases());
            }
        }
        return out;
    }

    public long rawBytes() {
        long n = 0;
        for (EntryRecord e : entries) {
            n += e.byteSize();
        }
        return n;
    }

    /** Stored bytes of the distinct chunks referenced. */
    public long storedBytes() {
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

    public long chunkCount() {
        long n = 0;
        for (EntryRecord e : entries) {
            n += e.chunks().size();
        }
        return n;
    }
}
