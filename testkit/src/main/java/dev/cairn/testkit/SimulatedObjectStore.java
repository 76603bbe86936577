package dev.cairn.testkit;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectKeys;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.atomic.LongAdder;

/**
 * An {@link ObjectStore} that behaves like S3 in simulated time: it counts every request, answers requests beyond
 * S3's published per-prefix rates with 503 SlowDown, and charges each request a latency on a {@link SimulatedClock}
 * instead of waiting. Built to run the real engine of thousands of ranks against one store on a small machine.
 *
 * <p><b>What is simulated.</b>
 * <ul>
 *   <li>Requests, as {@code S3ObjectStore} sends them for each call: {@link #put} one PUT, {@link #putIfAbsent}
 *       one create-only PUT, {@link #read} one ranged GET (a HEAD when the destination has no room), {@link #stat}
 *       one HEAD, {@link #statAll} one HEAD per key in batches of {@value #STATS_IN_FLIGHT} in flight together,
 *       {@link #list} one LIST per page of {@value #LIST_PAGE_KEYS} keys (at least one), {@link #listFolders} one
 *       LIST_FOLDERS per page of {@value #LIST_PAGE_KEYS} folders, {@link #delete} one
 *       DELETE, {@link #deleteAll} one DELETE_BATCH (DeleteObjects) per {@value #KEYS_PER_DELETE_BATCH} keys, one
 *       after another, counted on the prefix its keys share, {@code readAll} a HEAD and then GETs (the SPI's default). Keys are counted by kind, by prefix and
 *       per key ({@link #stats()}).</li>
 *   <li>Rates: a prefix is a key up to its {@code prefixDepth}-th '/' (fewer: up to its last '/'; a LIST is
 *       counted on the prefix of what it lists). Per prefix and per simulated second, S3 serves 3,500
 *       PUT/DELETE-class and 5,500 GET/HEAD-class requests (LIST pages among the latter); each request beyond that
 *       is counted and fails with {@link FaultyObjectStore.ThrottledException} ("503 SlowDown") without touching
 *       the store. Each second keeps its own counts, so callers may arrive in any simulated order.</li>
 *   <li>Time: a request starts at the calling thread's {@link SimulatedClock#now()} and moves that thread to its
 *       completion, start + first-byte latency + bytes / bandwidth ({@link Latency}, per kind). The first-byte
 *       latency is drawn from the seed, the kind, the key and the start time, so the same request at the same
 *       simulated time costs the same however the real threads interleave. A SlowDown or a missing key costs the
 *       first-byte latency. An object's last-modified time is its PUT's completion on the clock.</li>
 *   <li>Contents: each object keeps its size, last-modified time and a 64-bit hash of its bytes
 *       ({@link #contentHash}). Its bytes are kept only up to a size ({@link Builder#dropPayloadsAbove}): with the
 *       default, every payload, a full store; with {@link #SMALL_OBJECT_BYTES}, manifests and indexes keep theirs
 *       and chunks do not, so a chunk costs about 350 bytes of heap with its key and counts (a million in 330 MiB,
 *       {@code SimulatedObjectStoreMemoryTest}). Reading bytes of an object whose payload was dropped fails with
 *       {@link PayloadDroppedException}; its size, listing and hash still work. A put still hashes every byte.</li>
 * </ul>
 *
 * <p><b>Driving it.</b> A driver of many ranks shares one store and its clock among them: it plays each rank's turn
 * on a worker thread after {@code clock.setNow(rankTime)}, reads {@code clock.now()} back as the rank's new time,
 * raises the {@linkplain SimulatedClock#raiseFloor floor} at a barrier (a step's start) so that threads it does not
 * control move on too, and reads {@link #stats()} between phases. Nothing sleeps: a run costs the CPU of the code
 * under test plus a few microseconds a request. The per-second counts of each prefix and key are kept for the whole
 * run (until {@link #resetStats()}), a few dozen bytes each.
 *
 * <p><b>What is not.</b> No queueing: S3 is taken to scale out, so requests that are served never wait for each
 * other (throttling is the only back-pressure), and the client's own network is not shared between its requests.
 * No prefix partitioning over time: real S3 starts a bucket with few partitions and splits busy ones over minutes;
 * here every prefix at the configured depth is a partition from the start. No retries: {@code S3ObjectStore}
 * retries a SlowDown with backoff before failing, this store fails the call at once. No multipart uploads: a put of
 * any size is one PUT ({@code S3ObjectStore} uploads objects of its part size, 8 MiB by default, and above in
 * parts). State changes take effect in real-time order: an object put at a later simulated time by one thread is
 * visible to a thread still at an earlier simulated time, unless the store is built with
 * {@link Builder#visibleFromCompletion()} (then reads see an object only from its PUT's completion on). Latency draws are deterministic; which of several racing
 * callers in one second is refused is not.
 *
 * <p>Thread-safe. {@link #inMemory()} is false, as for S3. {@link #stats()} and {@link #resetStats()} are meant for
 * quiet moments between phases of a simulation.
 */
public final class SimulatedObjectStore implements ObjectStore {
    /** Keys in one page of a listing, as S3 returns them. */
    public static final int LIST_PAGE_KEYS = 1000;
    /** S3's published PUT/COPY/POST/DELETE requests per second per prefix. */
    public static final int S3_WRITES_PER_SECOND = 3500;
    /** S3's published GET/HEAD requests per second per prefix. */
    public static final int S3_READS_PER_SECOND = 5500;
    /** A payload limit that keeps manifests and indexes and drops chunks. */
    public static final long SMALL_OBJECT_BYTES = 64L << 10;
    /** Keys one DeleteObjects request removes at most, as S3 allows. */
    public static final int KEYS_PER_DELETE_BATCH = 1000;
    /** HEADs {@link #statAll} has in flight together, as {@code S3ObjectStore} does. */
    public static final int STATS_IN_FLIGHT = 32;

    private static final long SECOND_NANOS = 1_000_000_000L;

    private final SimulatedClock clock;
    private final long payloadLimit;
    private final boolean visibleFromCompletion;
    private final int prefixDepth;
    private final Latency[] latencies;
    private final int writesPerSecond;
    private final int readsPerSecond;
    private final long seed;
    private final String where;

    /**
     * Objects by key. Hash maps, not a sorted map: a skip list of a million keys costs a cache miss a level on every
     * request. A listing finds its keys through {@link #folders} and sorts only what it returns.
     */
    private final ConcurrentHashMap<String, StoredObject> objects = new ConcurrentHashMap<>();
    /** The keys of {@link #objects} by folder (a key up to its last '/'); changed under the key's lock in objects. */
    private final ConcurrentHashMap<String, Set<String>> folders = new ConcurrentHashMap<>();
    /** The folders, sorted: those under a listed prefix are one run of them. */
    private final ConcurrentSkipListSet<String> folderNames = new ConcurrentSkipListSet<>();
    private final ConcurrentHashMap<String, PrefixLoad> prefixes = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, KeyLoad> keyLoads = new ConcurrentHashMap<>();
    private final LongAdder[] requests = adders();
    private final LongAdder[] slowDowns = adders();
    private final LongAdder bytesWritten = new LongAdder();
    private final LongAdder bytesRead = new LongAdder();
    private volatile boolean closed;

    /** One version of an object; immutable, so a reader holds a whole version. Null payload: dropped. */
    private record StoredObject(long size, long modifiedNanos, long hash, byte[] payload) {
    }

    private SimulatedObjectStore(Builder builder) {
        this.clock = builder.clock == null ? new SimulatedClock() : builder.clock;
        this.payloadLimit = builder.payloadLimit;
        this.visibleFromCompletion = builder.visibleFromCompletion;
        this.prefixDepth = builder.prefixDepth;
        this.latencies = builder.latencies.clone();
        this.writesPerSecond = builder.writesPerSecond;
        this.readsPerSecond = builder.readsPerSecond;
        this.seed = builder.seed;
        this.where = "simulated S3 (" + writesPerSecond + " writes/" + readsPerSecond + " reads per second per prefix"
                + " at depth " + prefixDepth + (payloadLimit == Long.MAX_VALUE ? ""
                : ", payloads above " + payloadLimit + " bytes dropped") + ")";
    }

    /** A builder with S3's rates, {@link Latency#S3_TYPICAL} for every kind, prefix depth 3 and every payload kept. */
    public static Builder builder() {
        return new Builder();
    }

    /** The clock requests are charged on. */
    public SimulatedClock clock() {
        return clock;
    }

    // ---- the SPI ------------------------------------------------------------------------------------------

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        checkKey(key);
        ByteBuffer body = data.slice();
        long start = admit(RequestKind.PUT, key, key);
        long done = finish(RequestKind.PUT, key, start, body.remaining());
        StoredObject object = stored(body, done);
        objects.compute(sharedKey(key), (k, previous) -> {
            if (previous == null) {
                index(k);
            }
            return object;
        });
        bytesWritten.add(body.remaining());
    }

    /**
     * One PUT of an object of {@code size} bytes whose bytes are never made: the store keeps {@code size} and
     * {@code hash} only (as for a dropped payload) and charges the request as a PUT of {@code size} bytes. For a
     * simulation that writes millions of chunks (a put hashes every byte it is given).
     */
    public void putSized(String key, long size, long hash) throws IOException {
        checkKey(key);
        if (size < 0) {
            throw new IOException("negative size " + size + " of '" + ObjectKeys.printable(key) + "'");
        }
        long start = admit(RequestKind.PUT, key, key);
        long done = finish(RequestKind.PUT, key, start, size);
        StoredObject object = new StoredObject(size, done, hash, null);
        objects.compute(sharedKey(key), (k, previous) -> {
            if (previous == null) {
                index(k);
            }
            return object;
        });
        bytesWritten.add(size);
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        checkKey(key);
        ByteBuffer body = data.slice();
        long start = admit(RequestKind.PUT_IF_ABSENT, key, key);
        long done = finish(RequestKind.PUT_IF_ABSENT, key, start, body.remaining());
        if (objects.containsKey(key)) {
            return false; // cheap early answer; computeIfAbsent below decides races
        }
        StoredObject object = stored(body, done);
        boolean[] created = new boolean[1];
        objects.computeIfAbsent(sharedKey(key), k -> {
            index(k);
            created[0] = true;
            return object;
        });
        if (created[0]) {
            bytesWritten.add(body.remaining());
        }
        return created[0];
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        checkKey(key);
        if (offset < 0) {
            throw new IOException("negative offset " + offset + " reading '" + ObjectKeys.printable(key) + "' in "
                    + where);
        }
        if (!dst.hasRemaining()) {
            if (head(key) == null) { // as S3ObjectStore: no bytes to fetch, so only whether the object exists
                throw missing(key);
            }
            return 0;
        }
        long start = admit(RequestKind.GET, key, key);
        StoredObject object = visible(objects.get(key), start);
        if (object == null) {
            finish(RequestKind.GET, key, start, 0);
            throw missing(key);
        }
        int n = (int) Math.max(0, Math.min(dst.remaining(), object.size() - offset));
        if (n > 0 && object.payload() == null) {
            finish(RequestKind.GET, key, start, 0);
            throw new PayloadDroppedException(key, object.size(), payloadLimit, where);
        }
        finish(RequestKind.GET, key, start, n);
        if (n > 0) {
            dst.put(object.payload(), (int) offset, n);
            bytesRead.add(n);
        }
        return n;
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        StoredObject object = head(key);
        if (object == null) {
            throw missing(key);
        }
        return info(key, object);
    }

    /** One HEAD per key, {@value #STATS_IN_FLIGHT} in flight together: a batch ends with its slowest HEAD. */
    @Override
    public Map<String, ObjectInfo> statAll(Collection<String> keys) throws IOException {
        checkOpen();
        Map<String, ObjectInfo> held = new LinkedHashMap<>();
        List<String> all = List.copyOf(keys);
        long batchStart = clock.now();
        long end = batchStart;
        try {
            for (int from = 0; from < all.size(); from += STATS_IN_FLIGHT) {
                for (String key : all.subList(from, Math.min(all.size(), from + STATS_IN_FLIGHT))) {
                    clock.setNow(batchStart);
                    try {
                        StoredObject object = head(key); // no exception for an absent key: a million may be asked
                        if (object != null) {
                            held.put(key, info(key, object));
                        }
                    } finally {
                        end = Math.max(end, clock.now());
                    }
                }
                batchStart = end;
            }
        } finally {
            clock.setNow(end);
        }
        return held;
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        checkOpen();
        if (prefix == null || !ObjectKeys.printable(prefix).equals(prefix) || prefix.indexOf('\\') >= 0) {
            throw new IOException("invalid prefix '" + (prefix == null ? null : ObjectKeys.printable(prefix)) + "'");
        }
        List<ObjectInfo> found = new ArrayList<>();
        long asked = clock.now();
        // The first page is admitted before the keys are walked: a listing refused with SlowDown costs no walk (a
        // simulation's thousands of refused listings of a large prefix would otherwise each sort it).
        long first = admit(RequestKind.LIST, null, prefix);
        for (String key : keysUnder(prefix)) {
            StoredObject object = visible(objects.get(key), asked);
            if (object != null) { // else deleted since it was indexed
                found.add(info(key, object));
            }
        }
        finish(RequestKind.LIST, prefix, first, 0);
        int pages = Math.max(1, (found.size() + LIST_PAGE_KEYS - 1) / LIST_PAGE_KEYS);
        for (int page = 1; page < pages; page++) {
            long start = admit(RequestKind.LIST, null, prefix);
            finish(RequestKind.LIST, prefix, start, 0);
        }
        return found;
    }

    /**
     * One LIST_FOLDERS request per page of {@value #LIST_PAGE_KEYS} folders and keys directly under {@code prefix} (at
     * least one), counted on the prefix it lists as a LIST is: S3 limits both alike.
     */
    @Override
    public List<String> listFolders(String prefix) throws IOException {
        checkOpen();
        if (prefix == null || !ObjectKeys.printable(prefix).equals(prefix) || prefix.indexOf('\\') >= 0) {
            throw new IOException("invalid prefix '" + (prefix == null ? null : ObjectKeys.printable(prefix)) + "'");
        }
        long asked = clock.now();
        long first = admit(RequestKind.LIST_FOLDERS, null, prefix);
        List<String> found = new ArrayList<>();
        String folder = folderNames.ceiling(prefix);
        while (folder != null && folder.startsWith(prefix)) {
            int slash = folder.indexOf('/', prefix.length());
            if (slash < 0 || !holdsVisible(folder, asked)) {
                folder = folderNames.higher(folder); // keys directly under the prefix, or a folder emptied
                continue;
            }
            String child = folder.substring(0, slash + 1);
            if (found.isEmpty() || !found.get(found.size() - 1).equals(child)) {
                found.add(child);
            }
            folder = folderNames.higher(folder);
        }
        int direct = 0;
        for (String key : folders.getOrDefault(folderOf(prefix), Set.of())) {
            if (key.startsWith(prefix) && visible(objects.get(key), asked) != null) {
                direct++;
            }
        }
        finish(RequestKind.LIST_FOLDERS, prefix, first, 0);
        int pages = Math.max(1, (found.size() + direct + LIST_PAGE_KEYS - 1) / LIST_PAGE_KEYS);
        for (int page = 1; page < pages; page++) {
            long start = admit(RequestKind.LIST_FOLDERS, null, prefix);
            finish(RequestKind.LIST_FOLDERS, prefix, start, 0);
        }
        return found;
    }

    /** Whether a key of {@code folder} is held and visible to a request that started at {@code start}. */
    private boolean holdsVisible(String folder, long start) {
        for (String key : folders.getOrDefault(folder, Set.of())) {
            if (visible(objects.get(key), start) != null) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void delete(String key) throws IOException {
        checkKey(key);
        long start = admit(RequestKind.DELETE, key, key);
        finish(RequestKind.DELETE, key, start, 0);
        removeObject(key);
    }

    private void removeObject(String key) {
        objects.computeIfPresent(key, (k, gone) -> {
            Set<String> folder = folders.get(folderOf(k));
            if (folder != null) {
                folder.remove(k);
            }
            return null;
        });
    }

    /**
     * One DELETE_BATCH request per {@value #KEYS_PER_DELETE_BATCH} keys, one after another, each counted once on the
     * rate-limited prefix its keys share (the longest common prefix, cut to the prefix depth) and on no key. Missing
     * keys are not an error; a SlowDown fails the call with the batches before it applied.
     */
    @Override
    public void deleteAll(Collection<String> keys) throws IOException {
        checkOpen();
        List<String> all = List.copyOf(keys);
        for (String key : all) {
            ObjectKeys.check(key);
        }
        for (int from = 0; from < all.size(); from += KEYS_PER_DELETE_BATCH) {
            List<String> batch = all.subList(from, Math.min(all.size(), from + KEYS_PER_DELETE_BATCH));
            String shared = commonPrefix(batch);
            long start = admit(RequestKind.DELETE_BATCH, null, shared);
            finish(RequestKind.DELETE_BATCH, shared, start, 0);
            for (String key : batch) {
                removeObject(key);
            }
        }
    }

    private static String commonPrefix(List<String> keys) {
        String prefix = keys.get(0);
        for (String key : keys) {
            int n = 0;
            while (n < prefix.length() && n < key.length() && prefix.charAt(n) == key.charAt(n)) {
                n++;
            }
            prefix = prefix.substring(0, n);
        }
        return prefix;
    }

    @Override
    public String describe() {
        return where;
    }

    /** Drops every object; counters stay readable. Later calls fail. */
    @Override
    public void close() {
        closed = true;
        objects.clear();
        folders.clear();
        folderNames.clear();
    }

    @Override
    public String toString() {
        return "SimulatedObjectStore[" + where + "]";
    }

    // ---- inspection: none of these is a request --------------------------------------------------------------

    /** A snapshot of every counter since the store was built or last {@linkplain #resetStats() reset}. */
    public RequestStats stats() {
        Map<RequestKind, Long> byKind = new EnumMap<>(RequestKind.class);
        Map<RequestKind, Long> refused = new EnumMap<>(RequestKind.class);
        for (RequestKind kind : RequestKind.values()) {
            byKind.put(kind, requests[kind.ordinal()].sum());
            refused.put(kind, slowDowns[kind.ordinal()].sum());
        }
        Map<String, RequestStats.PrefixStats> byPrefix = new TreeMap<>();
        prefixes.forEach((prefix, load) -> byPrefix.put(prefix, load.snapshot()));
        return new RequestStats(byKind, refused, byPrefix, hottestKeys(RequestStats.HOTTEST_KEYS), bytesWritten.sum(),
                bytesRead.sum());
    }

    /**
     * Sets every counter to zero and forgets every key's and prefix's per-second counts, the rate limiter's among
     * them: a second that had used up its rate before the reset serves again after it.
     */
    public void resetStats() {
        for (RequestKind kind : RequestKind.values()) {
            requests[kind.ordinal()].reset();
            slowDowns[kind.ordinal()].reset();
        }
        bytesWritten.reset();
        bytesRead.reset();
        prefixes.clear();
        keyLoads.clear();
    }

    /** The most requests (LIST aside) that named {@code key} in one simulated second; 0 if none did. */
    public int peakRate(String key) {
        KeyLoad load = keyLoads.get(key);
        return load == null ? 0 : load.peak();
    }

    /** The {@code n} keys with the highest {@linkplain #peakRate peak rate}, highest first, ties by key. */
    public List<RequestStats.KeyRate> hottestKeys(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("negative count " + n);
        }
        Comparator<RequestStats.KeyRate> hotterLast = Comparator.comparingInt(RequestStats.KeyRate::peakPerSecond)
                .thenComparing(RequestStats.KeyRate::key, Comparator.reverseOrder());
        PriorityQueue<RequestStats.KeyRate> hottest = new PriorityQueue<>(hotterLast);
        keyLoads.forEach((key, load) -> {
            RequestStats.KeyRate rate;
            synchronized (load) {
                rate = new RequestStats.KeyRate(key, load.peak(), load.peakSecond());
            }
            hottest.add(rate);
            if (hottest.size() > n) {
                hottest.poll();
            }
        });
        List<RequestStats.KeyRate> sorted = new ArrayList<>(hottest);
        sorted.sort(hotterLast.reversed());
        return sorted;
    }

    /** The hash of {@code key}'s bytes, kept also when its payload was dropped. */
    public long contentHash(String key) throws NoSuchFileException {
        StoredObject object = objects.get(key);
        if (object == null) {
            throw missing(key);
        }
        return object.hash();
    }

    /** Whether the bytes of {@code key} are held, not only its size and hash. */
    public boolean holdsPayload(String key) throws NoSuchFileException {
        StoredObject object = objects.get(key);
        if (object == null) {
            throw missing(key);
        }
        return object.payload() != null;
    }

    /** Objects held now. Walks the map: O(objects). */
    public int objectCount() {
        return objects.size();
    }

    /** The rate-limited prefix {@code key} (or a listed prefix) counts against. */
    public String prefixOf(String key) {
        int end = -1;
        for (int i = 0; i < prefixDepth; i++) {
            int slash = key.indexOf('/', end + 1);
            if (slash < 0) {
                break;
            }
            end = slash;
        }
        return key.substring(0, end + 1);
    }

    // ---- requests ---------------------------------------------------------------------------------------------

    /**
     * Counts a request of {@code kind} starting at the calling thread's time: by kind, on the prefix of
     * {@code target}, and on {@code key} unless null. Returns its start, or fails it with SlowDown when the prefix's
     * rate for that second is used up (the thread then spends the first-byte latency).
     */
    private long admit(RequestKind kind, String key, String target) throws FaultyObjectStore.ThrottledException {
        long start = clock.now();
        long second = start / SECOND_NANOS;
        requests[kind.ordinal()].increment();
        if (key != null) {
            keyLoads.computeIfAbsent(key, KeyLoad::new).count(second);
        }
        String prefix = prefixOf(target);
        int limit = kind.isWrite() ? writesPerSecond : readsPerSecond;
        if (!prefixes.computeIfAbsent(prefix, p -> new PrefixLoad()).admit(kind, second, limit)) {
            slowDowns[kind.ordinal()].increment();
            finish(kind, target, start, 0);
            throw new FaultyObjectStore.ThrottledException(kind + " '" + ObjectKeys.printable(target) + "' in " + where
                    + ": 503 SlowDown (prefix '" + ObjectKeys.printable(prefix) + "' already served " + limit + " "
                    + (kind.isWrite() ? "PUT/DELETE" : "GET/HEAD") + " requests in simulated second " + second + ")");
        }
        return start;
    }

    private void index(String key) {
        folders.computeIfAbsent(folderOf(key), folder -> {
            folderNames.add(folder);
            return ConcurrentHashMap.newKeySet();
        }).add(key);
    }

    /**
     * The indexed keys that start with {@code prefix}, sorted: every key of each folder that starts with it, and those
     * of the folder the prefix ends in (when it ends inside a name) whose names go on from it.
     */
    private List<String> keysUnder(String prefix) {
        List<String> keys = new ArrayList<>();
        for (String folder : folderNames.tailSet(prefix, true)) {
            if (!folder.startsWith(prefix)) {
                break; // sorted: every folder with the prefix came before the first without it
            }
            keys.addAll(folders.get(folder));
        }
        String home = folderOf(prefix);
        if (!home.startsWith(prefix)) {
            for (String key : folders.getOrDefault(home, Set.of())) {
                if (key.startsWith(prefix)) {
                    keys.add(key);
                }
            }
        }
        keys.sort(null);
        return keys;
    }

    /**
     * {@code object} as a request that started at {@code start} sees it: null (absent) when the store shows objects only
     * from their write's completion ({@link Builder#visibleFromCompletion}) and it completes later.
     */
    private StoredObject visible(StoredObject object, long start) {
        return object == null || !visibleFromCompletion || object.modifiedNanos() <= start ? object : null;
    }

    private static String folderOf(String key) {
        return key.substring(0, key.lastIndexOf('/') + 1);
    }

    /** One HEAD: the object, or null when there is none. */
    private StoredObject head(String key) throws IOException {
        checkKey(key);
        long start = admit(RequestKind.HEAD, key, key);
        StoredObject object = visible(objects.get(key), start);
        finish(RequestKind.HEAD, key, start, 0);
        return object;
    }

    /** Moves the calling thread to the completion of a request that started at {@code start}; returns it. */
    private long finish(RequestKind kind, String target, long start, long bytes) {
        long draw = ContentHash.finish(seed ^ ContentHash.finish(((long) target.hashCode() << 8 | kind.ordinal())
                ^ ContentHash.finish(start)));
        long done = start + latencies[kind.ordinal()].nanos(draw, bytes);
        clock.setNow(done);
        return done;
    }

    /** The one instance of {@code key} the per-key counts hold: a million keys are then held once, not twice. */
    private String sharedKey(String key) {
        KeyLoad load = keyLoads.get(key);
        return load == null ? key : load.key();
    }

    private StoredObject stored(ByteBuffer body, long modifiedNanos) {
        byte[] payload = null;
        if (body.remaining() <= payloadLimit) {
            payload = new byte[body.remaining()];
            body.duplicate().get(payload);
        }
        return new StoredObject(body.remaining(), modifiedNanos, ContentHash.of(body), payload);
    }

    private ObjectInfo info(String key, StoredObject object) {
        return new ObjectInfo(key, object.size(), clock.toInstant(object.modifiedNanos()));
    }

    private NoSuchFileException missing(String key) {
        return new NoSuchFileException(key, null, "no such object in " + where);
    }

    private void checkKey(String key) throws IOException {
        checkOpen();
        ObjectKeys.check(key);
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException(where + " is closed");
        }
    }

    private static LongAdder[] adders() {
        LongAdder[] adders = new LongAdder[RequestKind.values().length];
        Arrays.setAll(adders, i -> new LongAdder());
        return adders;
    }

    // ---- configuration -------------------------------------------------------------------------------------

    /**
     * How long one request takes: a first-byte latency drawn uniformly from {@code [firstByteMin, firstByteMax]},
     * then its bytes at {@code bytesPerSecond}.
     */
    public record Latency(Duration firstByteMin, Duration firstByteMax, long bytesPerSecond) {
        /** Instant requests: for tests of counting and rates alone. */
        public static final Latency NONE = new Latency(Duration.ZERO, Duration.ZERO, Long.MAX_VALUE);
        /**
         * 20-60 ms to the first byte, then 90 MB/s: a rough single-connection figure for S3 in the same region,
         * not a measurement of ours.
         */
        public static final Latency S3_TYPICAL = new Latency(Duration.ofMillis(20), Duration.ofMillis(60), 90_000_000L);

        public Latency {
            Objects.requireNonNull(firstByteMin, "firstByteMin");
            Objects.requireNonNull(firstByteMax, "firstByteMax");
            if (firstByteMin.isNegative() || firstByteMax.compareTo(firstByteMin) < 0) {
                throw new IllegalArgumentException("first-byte latency needs 0 <= min <= max: " + firstByteMin + ", "
                        + firstByteMax);
            }
            if (bytesPerSecond <= 0) {
                throw new IllegalArgumentException("bandwidth must be positive: " + bytesPerSecond);
            }
        }

        /** A fixed first-byte latency. */
        public static Latency fixed(Duration firstByte, long bytesPerSecond) {
            return new Latency(firstByte, firstByte, bytesPerSecond);
        }

        /** Nanoseconds for a request moving {@code bytes}, whose random draw is {@code draw}. */
        long nanos(long draw, long bytes) {
            long min = firstByteMin.toNanos();
            long span = firstByteMax.toNanos() - min;
            long firstByte = min + (span == 0 ? 0 : Long.remainderUnsigned(draw, span + 1));
            return firstByte + (long) (bytes * 1e9 / bytesPerSecond);
        }
    }

    /** Reading bytes of an object that the simulation kept only the size and hash of. */
    public static final class PayloadDroppedException extends IOException {
        private static final long serialVersionUID = 1L;

        PayloadDroppedException(String key, long size, long limit, String where) {
            super("read '" + ObjectKeys.printable(key) + "' in " + where
                    + ": the simulation kept only the size and hash of this " + size + "-byte object (payloads above "
                    + limit + " bytes are dropped); build the store with every payload kept to read it");
        }
    }

    /** Options of a {@link SimulatedObjectStore}; each setter checks its value at once. */
    public static final class Builder {
        private SimulatedClock clock;
        private long payloadLimit = Long.MAX_VALUE;
        private boolean visibleFromCompletion;
        private int prefixDepth = 3;
        private final Latency[] latencies = new Latency[RequestKind.values().length];
        private int writesPerSecond = S3_WRITES_PER_SECOND;
        private int readsPerSecond = S3_READS_PER_SECOND;
        private long seed = 1;

        private Builder() {
            Arrays.fill(latencies, Latency.S3_TYPICAL);
        }

        /** The clock to charge requests on, shared with the driver; a new one at 0 by default. */
        public Builder clock(SimulatedClock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Keeps only the size and hash of objects larger than {@code bytes} ({@link #SMALL_OBJECT_BYTES} keeps
         * manifests and indexes, drops chunks). Every payload is kept by default.
         */
        public Builder dropPayloadsAbove(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("negative payload limit " + bytes);
            }
            this.payloadLimit = bytes;
            return this;
        }

        /**
         * Shows an object to a GET, HEAD or LIST only when the request starts at or after the simulated completion of
         * the PUT that wrote it; by default an object is visible from the moment it is put, in real time. A driver
         * that plays callers one after another in real time, each at its own simulated time, needs this so that a
         * caller behind in simulated time does not see what another wrote in its future (a rank polling for a
         * MANIFEST created later in simulated time but earlier in real time). Deletions and create-only PUTs still
         * act in real-time order; an object replaced by a later PUT shows its newest version only.
         */
        public Builder visibleFromCompletion() {
            this.visibleFromCompletion = true;
            return this;
        }

        /**
         * How many '/'-separated segments of a key name its rate-limited prefix: 3 (the default) makes
         * {@code run/chunks/ab/} and {@code run/steps/12/} prefixes; 0 makes the whole store one.
         */
        public Builder prefixDepth(int depth) {
            if (depth < 0) {
                throw new IllegalArgumentException("negative prefix depth " + depth);
            }
            this.prefixDepth = depth;
            return this;
        }

        /** The latency of every kind of request. */
        public Builder latency(Latency latency) {
            Objects.requireNonNull(latency, "latency");
            Arrays.fill(latencies, latency);
            return this;
        }

        /** The latency of one kind of request. */
        public Builder latency(RequestKind kind, Latency latency) {
            latencies[kind.ordinal()] = Objects.requireNonNull(latency, "latency");
            return this;
        }

        /** Requests served per prefix per simulated second; S3's 3,500 and 5,500 by default. */
        public Builder requestRates(int writesPerSecond, int readsPerSecond) {
            if (writesPerSecond <= 0 || readsPerSecond <= 0) {
                throw new IllegalArgumentException("request rates must be positive: " + writesPerSecond + ", "
                        + readsPerSecond);
            }
            this.writesPerSecond = writesPerSecond;
            this.readsPerSecond = readsPerSecond;
            return this;
        }

        /** The seed of the latency draws; 1 by default. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public SimulatedObjectStore build() {
            return new SimulatedObjectStore(this);
        }
    }
}
