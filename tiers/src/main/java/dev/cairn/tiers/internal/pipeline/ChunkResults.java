package dev.cairn.tiers.internal.pipeline;

import dev.cairn.tiers.internal.ChunkCatalog;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What each chunk of one save became in the tier the pipeline writes (the save's first; slower tiers are filled by
 * promotion): its content hash, the form it is stored in (codec, stored length, bases) and the pins held for it. Chunk
 * {@code i}'s slots are written by the one thread that handles the chunk at each stage (its encoder, then its write),
 * which the ring's sequences and the countdowns order; the commit reads them after the last countdown.
 */
final class ChunkResults {
    private final String[] hash;
    /** The codec chunk i is stored with: the one chosen, or the one the tier already stores it with. */
    private final String[] codec;
    private final long[] stored;
    /** Whether this save put chunk i into the tier (rather than finding it held there). */
    private final boolean[] put;
    /** The bases chunk i is stored against, nearest first (null or empty when whole). */
    private final List<String>[] bases;
    /** Pins held for chunk i beyond its own hash (the bases it relies on), released with it. */
    private final List<String>[] extraPins;
    private final AtomicInteger notYetWritten;
    private final AtomicLong chunksWritten = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    private final AtomicReference<Throwable> writeFailure = new AtomicReference<>();

    @SuppressWarnings("unchecked")
    ChunkResults(int chunks) {
        hash = new String[chunks];
        codec = new String[chunks];
        stored = new long[chunks];
        put = new boolean[chunks];
        bases = new List[chunks];
        extraPins = new List[chunks];
        notYetWritten = new AtomicInteger(chunks);
    }

    void hashed(int i, String h) {
        hash[i] = h;
    }

    /** Chunk {@code i} is encoded as {@code c} against {@code chain} (empty when whole), to be written. */
    void encoded(int i, String c, List<String> chain) {
        codec[i] = c;
        bases[i] = chain;
    }

    /**
     * Chunk {@code i} is held by the tier already in {@code form}, whose chain this save has pinned (and keeps
     * pinned until it ends).
     */
    void held(int i, ChunkCatalog.Form form) {
        addPins(i, form.bases());
        stored[i] = form.length();
        codec[i] = form.codec();
        bases[i] = form.bases();
    }

    /** Chunk {@code i} was written, {@code length} bytes. */
    void written(int i, int length) {
        stored[i] = length;
        put[i] = true;
        bytesWritten.addAndGet(length);
        chunksWritten.incrementAndGet();
    }

    /** Records pins taken for chunk {@code i} beyond its own hash; called by the one thread that handles the chunk. */
    void addPins(int i, List<String> hashes) {
        if (hashes.isEmpty()) {
            return;
        }
        if (extraPins[i] == null) {
            extraPins[i] = new ArrayList<>(hashes);
        } else {
            extraPins[i].addAll(hashes);
        }
    }

    /** Whether this save put chunk {@code i} into the tier itself. */
    boolean put(int i) {
        return put[i];
    }

    String hash(int i) {
        return hash[i];
    }

    String codec(int i) {
        return codec[i];
    }

    long stored(int i) {
        return stored[i];
    }

    List<String> bases(int i) {
        return bases[i] == null ? List.of() : bases[i];
    }

    /** Counts a chunk down as durable in the tier (or failed); true for the last. */
    boolean lastWritten() {
        return notYetWritten.decrementAndGet() == 0;
    }

    void failWrites(Throwable t) {
        writeFailure.compareAndSet(null, t);
    }

    Throwable writeFailure() {
        return writeFailure.get();
    }

    long chunksWritten() {
        return chunksWritten.get();
    }

    long bytesWritten() {
        return bytesWritten.get();
    }

    /** Releases every pin this save holds in {@code catalog}: each chunk's hash and its extra pins. */
    void unpin(ChunkCatalog catalog) {
        for (int i = 0; i < hash.length; i++) {
            if (hash[i] != null) {
                catalog.unpin(hash[i]);
            }
            List<String> extra = extraPins[i];
            if (extra != null) {
                for (String h : extra) {
                    catalog.unpin(h);
                }
            }
        }
    }
}
