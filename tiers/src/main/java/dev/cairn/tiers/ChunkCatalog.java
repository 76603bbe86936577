package dev.cairn.tiers;

import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * What one tier is known to hold, by chunk hash, and which hashes saves in flight rely on. The dedup check and the
 * GC sweep meet here: a save pins a hash before it decides to skip or write it, and the sweep never deletes a pinned
 * hash, so a chunk a save counts on cannot vanish before that save commits.
 */
public final class ChunkCatalog {
    private final Map<String, Long> present = new HashMap<>();
    private final Map<String, Integer> pins = new HashMap<>();
    /** The codec of each present chunk, where known: chunks found by listing the store are learned on demand. */
    private final Map<String, String> codecs = new HashMap<>();

    /** Pins {@code hash}; returns its stored size when the tier already holds it, else -1. */
    public synchronized long pin(String hash) {
        pins.merge(hash, 1, Integer::sum);
        Long size = present.get(hash);
        return size == null ? -1 : size;
    }

    /** The stored size of {@code hash} when the tier is known to hold it, else -1; pins nothing. */
    public synchronized long sizeOf(String hash) {
        Long size = present.get(hash);
        return size == null ? -1 : size;
    }

    public synchronized void unpin(String hash) {
        pins.computeIfPresent(hash, (k, n) -> n == 1 ? null : n - 1);
    }

    public synchronized void markPresent(String hash, long storedSize) {
        present.put(hash, storedSize);
    }

    /** Marks {@code hash} present, stored with {@code codec} (null when unknown). */
    public synchronized void markPresent(String hash, long storedSize, String codec) {
        present.put(hash, storedSize);
        if (codec == null) {
            codecs.remove(hash);
        } else {
            codecs.put(hash, codec);
        }
    }

    /** Records the codec of a chunk already present (found by listing); ignored once the chunk is gone. */
    public synchronized void learnCodec(String hash, String codec) {
        if (present.containsKey(hash)) {
            codecs.put(hash, codec);
        }
    }

    /** The codec {@code hash} is stored with, or null when this catalog does not know it. */
    public synchronized String codecOf(String hash) {
        return codecs.get(hash);
    }

    /**
     * Deletes a chunk unless a save has pinned it, atomically with respect to {@link #pin}: a save either pins first
     * and the chunk stays, or pins after and finds it absent, so it writes the chunk again.
     */
    public synchronized boolean deleteUnlessPinned(String hash, Deletion deletion) throws IOException {
        if (pins.containsKey(hash)) {
            return false;
        }
        present.remove(hash);
        codecs.remove(hash);
        deletion.run();
        return true;
    }

    /** A store deletion run under the catalog's lock. */
    @FunctionalInterface
    public interface Deletion {
        void run() throws IOException;
    }

    public synchronized boolean isPinned(String hash) {
        return pins.containsKey(hash);
    }

    public synchronized Set<String> pinned() {
        return new HashSet<>(pins.keySet());
    }

    public synchronized int size() {
        return present.size();
    }
}
