package dev.cairn.backend.memory;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectKeys;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.LongAdder;
import org.apache.arrow.memory.AllocationListener;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.OutOfMemoryException;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.memory.rounding.RoundingPolicy;

/**
 * An {@link ObjectStore} in off-heap memory owned by an Arrow {@link BufferAllocator} with a hard byte limit.
 *
 * <p>Each object is a private copy of the bytes put, so callers may reuse their buffers at once. Replacing or
 * deleting an object never frees memory under a concurrent reader: every {@link StoredObject} is reference
 * counted, the map holds one reference and each read holds one for the duration of its copy.
 *
 * <p>The limit is the allocator's: a put that does not fit fails with an {@link IOException} saying the tier is
 * full. While a put replaces an object both copies exist, so a replacement needs room for the new copy.
 * {@link #close()} frees every object and closes the allocator, which fails loudly if anything leaked.
 * Call it once the store is no longer in use by other threads.
 *
 * <p>Copying from and into direct buffers needs the JVM option {@code --add-opens=java.base/java.nio=ALL-UNNAMED}
 * (as Arrow IPC does); the constructors fail with {@link CheckpointException.Reason#INVALID_CONFIG} without it.
 */
public final class MemoryObjectStore implements ObjectStore {

    /** Allocations of exactly the requested size, so that the limit counts object bytes, not power-of-two slack. */
    private static final RoundingPolicy EXACT = size -> size;

    private static final String JVM_OPTION = "--add-opens=java.base/java.nio=ALL-UNNAMED";

    private final ConcurrentSkipListMap<String, StoredObject> objects = new ConcurrentSkipListMap<>();
    private final BufferAllocator allocator;
    private final long limitBytes;
    /** Memory of deleted objects kept for the next puts, at most a quarter of the limit ({@link RecycledBuffers}). */
    private final RecycledBuffers recycled;
    /** The sizes of the objects whose memory is not freed or kept yet ({@link StoredObject}). */
    private final LongAdder objectBytes = new LongAdder();
    private volatile boolean closed;

    /** A store with its own root allocator of {@code limitBytes}. */
    public MemoryObjectStore(long limitBytes) {
        this.limitBytes = requirePositive(limitBytes);
        this.allocator = new RootAllocator(AllocationListener.NOOP, limitBytes, EXACT);
        this.recycled = new RecycledBuffers(limitBytes / 4);
        checkDirectBufferAccess(allocator);
    }

    /**
     * A store on a child of {@code parent} limited to {@code limitBytes}, so that the embedder's own accounting
     * and leak checks cover it. Allocations round as the parent's policy says.
     */
    public MemoryObjectStore(BufferAllocator parent, long limitBytes) {
        this.limitBytes = requirePositive(limitBytes);
        this.allocator = parent.newChildAllocator("cairn-memory-tier", 0, limitBytes);
        this.recycled = new RecycledBuffers(limitBytes / 4);
        checkDirectBufferAccess(allocator);
    }

    /**
     * Bytes of the objects held now, by their sizes; includes objects replaced or deleted but still being read. The
     * memory they take may be up to 1/16 more (an object put into the kept memory of an object a little larger,
     * {@link RecycledBuffers}), and the memory kept for reuse ({@link #keptBytes()}) is not counted here: the
     * allocator's limit bounds all of it.
     */
    public long usedBytes() {
        return objectBytes.sum();
    }

    /**
     * Memory of deleted or replaced objects kept to hold the next puts of similar sizes instead of being freed and
     * allocated again (page by page, from the kernel): at most a quarter of the limit, counted by the allocator, freed
     * at once when a put would not fit otherwise.
     */
    public long keptBytes() {
        return recycled.keptBytes();
    }

    /** How many puts were held in kept memory instead of new memory since this store opened. */
    public long reusedBuffers() {
        return recycled.reused();
    }

    /** The most bytes this store may hold. */
    public long limitBytes() {
        return limitBytes;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        checkKey(key);
        StoredObject previous = objects.put(key, copyOf(key, data));
        if (previous != null) {
            previous.release();
        }
    }

    /** Copies each part into place in the new object's memory: one copy, as {@link #putIfAbsent} copies its one part. */
    @Override
    public boolean putIfAbsentGathered(String key, ByteBuffer[] parts) throws IOException {
        checkKey(key);
        if (objects.containsKey(key)) {
            return false; // cheap early answer; the map's putIfAbsent below is what decides races
        }
        StoredObject created = copyOf(key, parts);
        if (objects.putIfAbsent(key, created) == null) {
            return true;
        }
        created.release();
        return false;
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        return putIfAbsentGathered(key, new ByteBuffer[] {data});
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset " + offset + " reading " + key);
        }
        StoredObject object = acquire(key);
        try {
            return object.copyTo(offset, dst);
        } finally {
            object.release();
        }
    }

    /**
     * The current version of {@code key} without a copy: a buffer of {@code target} over the stored bytes (its
     * readable bytes are the object's), owned by the caller, who must close it. The bytes never change and stay
     * valid until then, whatever happens to the key meanwhile: a replaced or deleted object's memory is freed when
     * the last such buffer is closed, and is charged to {@code target}'s allocator from the moment this store lets go
     * of it (Arrow's ownership transfer), so this store's own allocator closes clean. For serving an object to the
     * network without staging a copy of it.
     *
     * @throws NoSuchFileException if there is no object {@code key}
     */
    public ArrowBuf share(String key, BufferAllocator target) throws IOException {
        StoredObject object = acquire(key);
        try {
            return object.share(target);
        } finally {
            object.release();
        }
    }

    /**
     * The current version of {@code key}, held without a copy until the lease is closed: its bytes never change and
     * stay valid until then, whatever happens to the key meanwhile. Unlike {@link #share}, the memory stays this
     * store's, so that it can be kept for reuse ({@link #keptBytes()}) once the object is gone and the last lease
     * closed. For sending an object to the network: close leases promptly, before this store closes.
     *
     * @throws NoSuchFileException if there is no object {@code key}
     */
    public Lease lease(String key) throws IOException {
        return new Lease(acquire(key));
    }

    /** See {@link #lease}. */
    public static final class Lease implements AutoCloseable {
        private StoredObject object;

        private Lease(StoredObject object) {
            this.object = object;
        }

        /** The object's size in bytes. */
        public int size() {
            return object.size();
        }

        /** A view of {@code length} of its bytes from {@code offset}: read-only, position 0. */
        public ByteBuffer bytes(long offset, int length) {
            return object.view(offset, length);
        }

        /**
         * The bytes as a buffer of {@code target}, as {@link MemoryObjectStore#share} gives them (for a Flight stream);
         * this object's memory is then freed, never reused.
         */
        public ArrowBuf share(BufferAllocator target) {
            return object.share(target);
        }

        @Override
        public void close() {
            if (object != null) {
                object.release();
                object = null;
            }
        }
    }

    /** Whether this store holds {@code key} now (false once closed): what {@link #stat} answers, without building it. */
    public boolean holds(String key) {
        return !closed && objects.containsKey(key);
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        checkOpen();
        StoredObject object = objects.get(key);
        if (object == null) {
            throw new NoSuchFileException(key);
        }
        return new ObjectInfo(key, object.size(), object.lastModified());
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        checkOpen();
        List<ObjectInfo> infos = new ArrayList<>();
        for (Map.Entry<String, StoredObject> entry : objects.tailMap(prefix, true).entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(prefix)) {
                break; // sorted map: every key sharing the prefix came before the first that does not
            }
            StoredObject object = entry.getValue();
            infos.add(new ObjectInfo(key, object.size(), object.lastModified()));
        }
        return infos;
    }

    /** The folders under {@code prefix}, each found by one look into the sorted keys and skipped past with another. */
    @Override
    public List<String> listFolders(String prefix) throws IOException {
        checkOpen();
        List<String> folders = new ArrayList<>();
        String key = objects.ceilingKey(prefix);
        while (key != null && key.startsWith(prefix)) {
            int slash = key.indexOf('/', prefix.length());
            if (slash < 0) {
                key = objects.higherKey(key); // an object directly under the prefix
                continue;
            }
            folders.add(key.substring(0, slash + 1));
            // Every key under the folder sorts before its name with the '/' replaced by '0', the next character.
            key = objects.ceilingKey(key.substring(0, slash) + '0');
        }
        return folders;
    }

    @Override
    public void delete(String key) throws IOException {
        checkOpen();
        StoredObject removed = objects.remove(key);
        if (removed != null) {
            removed.release();
        }
    }

    @Override
    public boolean inMemory() {
        return true;
    }

    @Override
    public String describe() {
        return "memory (limit " + limitBytes + " bytes)";
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (String key : objects.keySet()) {
            StoredObject removed = objects.remove(key);
            if (removed != null) {
                removed.release();
            }
        }
        recycled.close();
        allocator.close();
    }

    private StoredObject copyOf(String key, ByteBuffer data) throws IOException {
        return copyOf(key, new ByteBuffer[] {data});
    }

    private StoredObject copyOf(String key, ByteBuffer[] parts) throws IOException {
        checkOpen();
        long total = 0;
        for (ByteBuffer p : parts) {
            total += p.remaining();
        }
        if (total > Integer.MAX_VALUE) {
            throw new IOException("object " + key + " of " + total + " bytes is larger than a memory tier object may be");
        }
        int size = (int) total;
        StoredObject object = new StoredObject(memoryFor(key, size), size, Instant.now(), recycled, objectBytes);
        try {
            object.copyFrom(parts);
        } catch (RuntimeException e) {
            object.release();
            throw e;
        }
        return object;
    }

    /**
     * Memory for an object of {@code size} bytes: kept memory of a similar size if there is some, else new memory;
     * when that does not fit, the kept memory is freed and new memory tried again.
     */
    private ArrowBuf memoryFor(String key, int size) throws IOException {
        ArrowBuf kept = recycled.take(size);
        if (kept != null) {
            return kept;
        }
        try {
            return allocator.buffer(size);
        } catch (OutOfMemoryException full) {
            if (recycled.drain() > 0) {
                try {
                    return allocator.buffer(size);
                } catch (OutOfMemoryException stillFull) {
                    full = stillFull;
                }
            }
            throw new IOException("memory tier is full: cannot hold " + key + " (" + size + " bytes) with "
                    + usedBytes() + " of " + limitBytes + " bytes used", full);
        }
    }

    /**
     * Room for an object of {@code size} bytes in this store's own memory, for a caller that fills it from elsewhere
     * (a replica read from a socket) and then {@linkplain Reservation#put puts} it: no staging buffer, no second copy.
     * Nothing is visible under any key until the put; closing an unused reservation gives the room back. Null when
     * the store cannot hold {@code size} more bytes now.
     */
    public Reservation reserve(String key, int size) throws IOException {
        checkKey(key);
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size + " for " + key);
        }
        try {
            return new Reservation(key, memoryFor(key, size), size);
        } catch (IOException full) {
            return null;
        }
    }

    /** See {@link #reserve}. Used by one thread. */
    public final class Reservation implements AutoCloseable {
        private final String key;
        private final int size;
        private ArrowBuf memory;

        private Reservation(String key, ArrowBuf memory, int size) {
            this.key = key;
            this.memory = memory;
            this.size = size;
        }

        /** The object's bytes to fill: position 0, limit its size. */
        public ByteBuffer buffer() {
            return size == 0 ? ByteBuffer.allocate(0) : memory.nioBuffer(0, size);
        }

        /** Makes the filled bytes the object under the key reserved, replacing any object there. */
        public void put() throws IOException {
            if (memory == null) {
                throw new IllegalStateException("reservation for " + key + " already put or closed");
            }
            checkOpen();
            StoredObject previous = objects.put(key, new StoredObject(memory, size, Instant.now(), recycled, objectBytes));
            memory = null;
            if (previous != null) {
                previous.release();
            }
        }

        /**
         * Makes the filled bytes the object under the key reserved unless an object is there already (a create-only
         * replica of a key this store holds): false then, the object there left as it is and this reservation's
         * memory given back on {@link #close}.
         */
        public boolean putIfAbsent() throws IOException {
            if (memory == null) {
                throw new IllegalStateException("reservation for " + key + " already put or closed");
            }
            checkOpen();
            if (objects.containsKey(key)) {
                return false; // cheap early answer; the map's putIfAbsent below is what decides races
            }
            StoredObject created = new StoredObject(memory, size, Instant.now(), recycled, objectBytes);
            memory = null;
            if (objects.putIfAbsent(key, created) == null) {
                return true;
            }
            created.release();
            return false;
        }

        @Override
        public void close() {
            if (memory != null) {
                recycled.give(memory);
                memory = null;
            }
        }
    }

    /** The current object for {@code key} with a reference held, retrying if it is replaced while we look. */
    private StoredObject acquire(String key) throws IOException {
        while (true) {
            checkOpen();
            StoredObject object = objects.get(key);
            if (object == null) {
                throw new NoSuchFileException(key);
            }
            if (object.retain()) {
                return object;
            }
            // Released between get and retain: it was replaced or deleted, so look again.
        }
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("memory store is closed");
        }
    }

    private void checkKey(String key) throws IOException {
        checkOpen();
        ObjectKeys.check(key);
    }

    /**
     * Fails at construction, naming the fix, where Arrow cannot read direct buffers' addresses: otherwise the
     * first checkpoint from a direct buffer would fail deep inside a save.
     */
    private static void checkDirectBufferAccess(BufferAllocator allocator) {
        try (ArrowBuf probe = allocator.buffer(1)) {
            probe.setBytes(0, ByteBuffer.allocateDirect(1));
        } catch (UnsupportedOperationException | OutOfMemoryException e) {
            allocator.close();
            if (e instanceof OutOfMemoryException) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                        "memory tier cannot allocate even one byte from its allocator", e);
            }
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                    "the memory tier needs the JVM option " + JVM_OPTION + " (Arrow reads direct buffers' addresses)", e);
        }
    }

    private static long requirePositive(long limitBytes) {
        if (limitBytes <= 0) {
            throw new IllegalArgumentException("memory tier limit must be positive: " + limitBytes);
        }
        return limitBytes;
    }
}
