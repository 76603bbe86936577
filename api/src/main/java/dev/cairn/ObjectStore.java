package dev.cairn;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The storage SPI every tier is built on: a flat namespace of immutable objects under '/'-separated keys.
 * Keys are relative to the store's own root or prefix: non-empty segments, none of them "." or "..", with no
 * backslash and no control characters, so that the same key is valid in every tier; a put of any other key
 * fails with an {@link IOException}. A missing key is reported as {@link java.nio.file.NoSuchFileException}
 * carrying the key.
 *
 * <p>Contract (the testkit's {@code ObjectStoreContract} checks it for every implementation):
 * <ul>
 *   <li>{@link #put} and {@link #putIfAbsent} are atomic: a reader sees the whole object or none of it, never a
 *       prefix, also when the writing process dies; they are durable when they return. So is
 *       {@link #putSyncingNameLater}, except that its name is durable only once {@link #syncNames} returns.</li>
 *   <li>{@link #putIfAbsent} has exactly one winner among racing creators of the same key.</li>
 *   <li>Methods are safe to call from many threads.</li>
 * </ul>
 */
public interface ObjectStore extends AutoCloseable {

    /** Writes {@code data} (its remaining bytes; position untouched) as {@code key}, replacing any object there. */
    void put(String key, ByteBuffer data) throws IOException;

    /**
     * Like {@link #put}, for an object that a later commit names (a checkpoint's chunk, before its index and MANIFEST):
     * its bytes are durable when this returns, so that a crash leaves the object whole or absent, never partial, but
     * its name may still be lost in a crash (a power cut) until {@link #syncNames} is called with its key. A store that
     * makes names durable one directory at a time (a file system, where that is an fsync of the directory) can then do
     * it once per directory for many objects, instead of once per object. By default {@link #put}, durable at once.
     */
    default void putSyncingNameLater(String key, ByteBuffer data) throws IOException {
        put(key, data);
    }

    /**
     * {@link #putIfAbsentSyncingNameLater} of the concatenation of {@code parts} (each from its position to its limit;
     * their positions untouched): for an object whose bytes lie in several buffers, such as a chunk stored uncompressed
     * (its raw bytes in slices of staging, with frame headers between them), so that a store that keeps its own copy of
     * what it is given copies each part into place once instead of the writer gathering them first. False, and
     * nothing written, when the key is there already. By default the parts are gathered into one heap buffer, then
     * created: a store in memory should override this.
     */
    default boolean putIfAbsentGathered(String key, ByteBuffer[] parts) throws IOException {
        return putIfAbsentSyncingNameLater(key, gathered(key, parts));
    }

    /** The concatenation of {@code parts} in one heap buffer (their positions untouched). */
    static ByteBuffer gathered(String key, ByteBuffer[] parts) throws IOException {
        long total = 0;
        for (ByteBuffer p : parts) {
            total += p.remaining();
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IOException("object " + key + " of " + total + " bytes is too large to gather in one buffer");
        }
        ByteBuffer whole = ByteBuffer.allocate((int) total);
        for (ByteBuffer p : parts) {
            whole.put(p.duplicate());
        }
        return whole.flip();
    }

    /**
     * Makes durable the names of those of {@code keys} written by {@link #putSyncingNameLater} whose names are not yet
     * (in this process's knowledge; a name this store cannot tell about is made durable again): once this returns, a
     * crash loses none of them. Keys not held are ignored. By default nothing is left to do.
     */
    default void syncNames(java.util.Collection<String> keys) throws IOException {
    }

    /** Writes {@code key} only if no object has it; returns whether this call created it. */
    boolean putIfAbsent(String key, ByteBuffer data) throws IOException;

    /**
     * {@link #putIfAbsent} for an object that a later commit names, whose name may be made durable later, as with
     * {@link #putSyncingNameLater}: a checkpoint's chunk that the writer does not know to be stored, which must not
     * replace a copy of the same content stored in another form. Returns whether this call created it. By default
     * {@link #putIfAbsent}, durable at once.
     */
    default boolean putIfAbsentSyncingNameLater(String key, ByteBuffer data) throws IOException {
        return putIfAbsent(key, data);
    }

    /**
     * Reads up to {@code dst.remaining()} bytes of {@code key} starting at {@code offset} into {@code dst},
     * advancing its position. Returns the number of bytes read: fewer only at the end of the object, and 0 (never
     * -1) when {@code offset} is at or past the end.
     */
    int read(String key, long offset, ByteBuffer dst) throws IOException;

    /** Size and age of {@code key}. */
    ObjectInfo stat(String key) throws IOException;

    /** Every object whose key starts with {@code prefix}, sorted by key. */
    List<ObjectInfo> list(String prefix) throws IOException;

    /**
     * As {@link #list}, but never an answer from part of the store: a store spread over members that may not answer
     * (the peer-memory tier, whose {@link #list} is the union of the members that did) fails with an IOException
     * naming the silent members instead. Garbage collection lists this way wherever an object left out of the
     * listing could be deleted for it (a step whose MANIFEST only a silent member holds would look abandoned, and the
     * chunks only it names unused); a restore lists with {@link #list}, which answers while a member is down. By
     * default {@link #list}, which is the whole store's answer.
     */
    default List<ObjectInfo> listWhole(String prefix) throws IOException {
        return list(prefix);
    }

    /**
     * Whether {@link #list} (and {@link #listFolders}) may answer from part of this store: true for a store spread
     * over members that may not answer (the peer-memory tier). Where a restore's listings found nothing, the engine then
     * asks {@link #listWhole} before it reports "no checkpoint": a member left out may hold the only copy of a step's
     * MANIFEST, and a job that starts over on "no checkpoint" would lose its run. False by default: a listing is the
     * whole store's answer, and nothing is asked twice.
     */
    default boolean listsMayBePartial() {
        return false;
    }

    /**
     * The folders directly under {@code prefix}: for every object whose key starts with {@code prefix} and has a '/'
     * after it, the key up to and including the first such '/', each once, sorted (S3's CommonPrefixes of a listing
     * with delimiter '/'). Objects directly under {@code prefix} are not named; a folder exists only while it holds an
     * object. For a prefix with many keys under few folders ({@code <run>/steps/}: every rank's index of every retained
     * step), where a {@link #list} returns every key: a store that can answer with the folders alone should (S3: a
     * LIST page per 1,000 folders, not per 1,000 keys). By default derived from {@link #list}, correct for any store.
     */
    default List<String> listFolders(String prefix) throws IOException {
        java.util.TreeSet<String> folders = new java.util.TreeSet<>();
        for (ObjectInfo o : list(prefix)) {
            int slash = o.key().indexOf('/', prefix.length());
            if (slash >= 0) {
                folders.add(o.key().substring(0, slash + 1));
            }
        }
        return List.copyOf(folders);
    }

    /** Removes {@code key}; removing a missing key is not an error. */
    void delete(String key) throws IOException;

    /**
     * Removes every key of {@code keys}; a missing key is not an error, as for {@link #delete}. Garbage collection
     * deletes a retired checkpoint's chunks through this, so a store that can remove many keys in one request should
     * (S3: DeleteObjects, up to 1,000 keys a request). A failure names a key that may still be there; keys before it
     * may be gone. By default, a {@link #delete} per key.
     */
    default void deleteAll(java.util.Collection<String> keys) throws IOException {
        for (String key : keys) {
            delete(key);
        }
    }

    /**
     * Removes what writers that were killed mid-write left behind under {@code prefix} that is no object (a file
     * system's temporary files, S3's unfinished multipart uploads), last changed more than {@code olderThan} ago;
     * returns how many. A sweep of the garbage collector calls it for its run's keys. By default there is nothing to
     * remove.
     */
    default int deleteAbandonedWrites(String prefix, java.time.Duration olderThan) throws IOException {
        return 0;
    }

    /** Where this store lives, for messages: never contains secrets. */
    String describe();

    /**
     * Where this store's objects live, spelled one way: two stores whose locations are equal hold the same objects (a
     * directory reached through another path or a symbolic link, a bucket and prefix on an endpoint written with a
     * trailing slash or a default port). The configuration refuses two tiers of one run on one location: the second
     * would add no copy, and the first's retention would delete steps the second keeps. Never contains secrets. By
     * default {@link #describe()}.
     */
    default String location() {
        return describe();
    }

    /**
     * Whether this store keeps its objects in this process's memory, so that reading one back costs a memory copy,
     * not a disk or network read. Differential chunks are written only to such a first tier: each one reads the
     * previous version of its chunk back.
     */
    default boolean inMemory() {
        return false;
    }

    /**
     * Monotonic counts this store keeps about itself since it opened, by name (lower case, dot-separated), for the
     * engine's metrics: the peer tier reports its replication here. Read when metrics are scraped, so it must be cheap
     * and thread-safe. Empty by default.
     */
    default java.util.Map<String, Long> counters() {
        return java.util.Map.of();
    }

    /** Like {@link #counters()}, for values that go up and down (bytes waiting for replication). Empty by default. */
    default java.util.Map<String, Long> gauges() {
        return java.util.Map.of();
    }

    /**
     * A {@link Coordinator} over the processes this store connects, when it connects the ranks of a run directly
     * (the peer-memory store: a barrier is one call to the group's first peer, not polling of keys). The engine uses
     * it for multi-rank commits when the configuration names no coordinator of its own. Empty by default.
     */
    default java.util.Optional<Coordinator> coordinator() {
        return java.util.Optional.empty();
    }

    @Override
    void close() throws IOException;

    /**
     * The info of each of {@code keys} that this store holds, by key; absent keys are left out. A commit asks this for
     * every chunk its step names, so a store where each {@link #stat} is a network call should answer it in fewer
     * (the peer tier: one request per peer; S3: the HEADs in flight together). By default, a stat per key.
     */
    default java.util.Map<String, ObjectInfo> statAll(java.util.Collection<String> keys) throws IOException {
        java.util.Map<String, ObjectInfo> held = new java.util.LinkedHashMap<>();
        for (String key : keys) {
            try {
                held.put(key, stat(key));
            } catch (java.nio.file.NoSuchFileException absent) {
                // left out
            }
        }
        return held;
    }

    /** Reads a whole object into a new heap buffer; for small objects such as manifests. */
    default ByteBuffer readAll(String key) throws IOException {
        return readAll(key, Integer.MAX_VALUE - 8);
    }

    /**
     * Reads a whole object of at most {@code maxBytes} into a new heap buffer; one the store says is larger is refused
     * with {@link ObjectTooLargeException} before its bytes are read, so that what a store claims cannot make its
     * reader allocate more than the limit. For manifests and indexes. By default a {@link #stat}, then reads; a store
     * where each is a network call may answer in one (the peer tier does). The reads ask for a byte more than the stat
     * gave: an object replaced by a longer one in between fails the call, instead of its first bytes coming back as
     * the whole object (a reader that writes them back would cut it); a stable object still takes one read, which
     * stops at its end.
     */
    default ByteBuffer readAll(String key, long maxBytes) throws IOException {
        long size = stat(key).size();
        if (size > Math.min(maxBytes, Integer.MAX_VALUE - 8)) {
            throw new ObjectTooLargeException(key, size, Math.min(maxBytes, Integer.MAX_VALUE - 8));
        }
        ByteBuffer dst = ByteBuffer.allocate((int) size + 1);
        while (dst.position() < size) {
            if (read(key, dst.position(), dst) <= 0) {
                throw new java.io.EOFException("object " + key + " ended at " + dst.position() + " of " + size + " bytes");
            }
        }
        if (dst.position() > size) {
            throw new IOException("object " + key + " changed while read: longer than the " + size + " bytes it had");
        }
        return ByteBuffer.wrap(java.util.Arrays.copyOf(dst.array(), (int) size)); // its array the object's bytes alone
    }
}
