package dev.cairn.bench.simulate;

import dev.cairn.CairnConfig;
import dev.cairn.ObjectInfo;
import dev.cairn.testkit.FaultyObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.SimulatedClock;
import dev.cairn.testkit.SimulatedObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * What the engine's S3 backend adds in front of S3, modelled over a {@link SimulatedObjectStore} (the backend itself
 * is an HTTP client and cannot talk to it): its retries of a 503 SlowDown, as {@code S3ObjectStore}'s Retrier makes
 * them by default: full-jitter backoff uniform in [0, min(5 s, 50 ms x 2^(n-1))], each backoff spent on the calling
 * thread's simulated clock, until the call's deadline ({@link CairnConfig#DEFAULT_DEADLINE} from the call's start,
 * the backend's default); a SlowDown does not count against the backend's attempt budget (the Retrier's javadoc says
 * why). A call still refused when the next backoff would pass its deadline fails with the last SlowDown, as the
 * backend's does (there wrapped in a timeout). Every attempt is a request the simulated store counts. A {@link #statAll} (HEADs
 * 32 in flight) is retried whole, where the backend retries each HEAD: 32 HEADs in flight of 20-60 ms each are
 * under 1,600 a second, spread over 256 chunk prefixes, far below the 5,500 a prefix serves. {@link #deleteAll}
 * sends DeleteObjects of up to 1,000 keys, as the backend does ({@code S3ObjectStore#deleteAll}).
 *
 * <p>It also observes, without requests, what the simulation reports: when each rank's index and the MANIFEST landed
 * (their PUTs' completion), how many calls gave up, and the bytes read by each thread since it last asked.
 */
final class S3ClientModel extends ForwardingObjectStore {
    static final long DEADLINE_NANOS = CairnConfig.DEFAULT_DEADLINE.toNanos();
    static final long BASE_BACKOFF_NANOS = 50_000_000L;
    static final long MAX_BACKOFF_NANOS = 5_000_000_000L;

    private final SimulatedObjectStore sim;
    private final SimulatedClock clock;
    private final Map<String, Long> landed = new ConcurrentHashMap<>();
    private final Map<String, Long> sizes = new ConcurrentHashMap<>();
    private final LongAdder gaveUp = new LongAdder();
    private final LongAdder retried = new LongAdder();
    private final ThreadLocal<long[]> readBytes = ThreadLocal.withInitial(() -> new long[1]);

    S3ClientModel(SimulatedObjectStore sim) {
        super(sim);
        this.sim = sim;
        this.clock = sim.clock();
    }

    SimulatedObjectStore simulated() {
        return sim;
    }

    /** Simulated completion of the PUT of {@code key}, if one landed. */
    Long landed(String key) {
        return landed.get(key);
    }

    /** Bytes of the PUT of {@code key} (index or MANIFEST), if one landed. */
    Long size(String key) {
        return sizes.get(key);
    }

    /** Bytes of the PUTs of every key under {@code prefix} that landed (the last PUT of each). */
    long sizeUnder(String prefix) {
        long n = 0;
        for (Map.Entry<String, Long> e : sizes.entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                n += e.getValue();
            }
        }
        return n;
    }

    /** Calls refused with SlowDown until their deadline since the last {@link #resetCounts}. */
    long gaveUp() {
        return gaveUp.sum();
    }

    /** Attempts after a SlowDown since the last {@link #resetCounts}. */
    long retried() {
        return retried.sum();
    }

    void resetCounts() {
        gaveUp.reset();
        retried.reset();
    }

    /** Bytes the calling thread read (GETs) since it last asked; resets its count. */
    long takeBytesRead() {
        long[] n = readBytes.get();
        long out = n[0];
        n[0] = 0;
        return out;
    }

    /** Chunk PUTs: sized, no bytes made. */
    void putChunk(String key, long storedBytes, long hash) throws IOException {
        retrying(key, () -> {
            sim.putSized(key, storedBytes, hash);
            return null;
        });
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        int size = data.remaining();
        retrying(key, () -> {
            sim.put(key, data);
            return null;
        });
        landed.put(key, clock.now());
        sizes.put(key, (long) size);
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        int size = data.remaining();
        boolean created = retrying(key, () -> sim.putIfAbsent(key, data));
        if (created) {
            landed.put(key, clock.now());
            sizes.put(key, (long) size);
        }
        return created;
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        int n = retrying(key, () -> sim.read(key, offset, dst));
        readBytes.get()[0] += n;
        return n;
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        return retrying(key, () -> sim.stat(key));
    }

    @Override
    public Map<String, ObjectInfo> statAll(Collection<String> keys) throws IOException {
        return retrying("(HEAD of " + keys.size() + " keys)", () -> sim.statAll(keys));
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        return retrying(prefix, () -> sim.list(prefix));
    }

    @Override
    public List<String> listFolders(String prefix) throws IOException {
        return retrying(prefix, () -> sim.listFolders(prefix));
    }

    @Override
    public void delete(String key) throws IOException {
        retrying(key, () -> {
            sim.delete(key);
            return null;
        });
    }

    /**
     * DeleteObjects, as the S3 backend sends it: up to {@value SimulatedObjectStore#KEYS_PER_DELETE_BATCH} keys a
     * request, each batch retried whole after a SlowDown.
     */
    @Override
    public void deleteAll(Collection<String> keys) throws IOException {
        List<String> all = List.copyOf(keys);
        for (int from = 0; from < all.size(); from += SimulatedObjectStore.KEYS_PER_DELETE_BATCH) {
            List<String> batch = all.subList(from, Math.min(all.size(), from + SimulatedObjectStore.KEYS_PER_DELETE_BATCH));
            retrying("(DeleteObjects of " + batch.size() + " keys from " + batch.get(0) + ")", () -> {
                sim.deleteAll(batch);
                return null;
            });
        }
    }

    @Override
    public String describe() {
        return sim.describe() + " behind the S3 backend's retries (SlowDown retried until "
                + CairnConfig.DEFAULT_DEADLINE.toSeconds() + " s)";
    }

    /** One store call. */
    @FunctionalInterface
    private interface Call<T> {
        T run() throws IOException;
    }

    private <T> T retrying(String what, Call<T> call) throws IOException {
        long deadline = clock.now() + DEADLINE_NANOS;
        for (int attempt = 1; ; attempt++) {
            try {
                return call.run();
            } catch (FaultyObjectStore.ThrottledException slowDown) {
                long backoff = backoff(what, attempt);
                if (clock.now() + backoff >= deadline) {
                    gaveUp.increment();
                    throw slowDown;
                }
                retried.increment();
                clock.advance(backoff);
            }
        }
    }

    /** The Retrier's full-jitter backoff, drawn from the key, the attempt and the time: the same run, the same draws. */
    private long backoff(String what, int attempt) {
        long ceiling = Math.min(MAX_BACKOFF_NANOS, BASE_BACKOFF_NANOS << Math.min(attempt - 1, 30));
        long z = what.hashCode() * 0x9E3779B97F4A7C15L ^ clock.now() * 31 ^ attempt;
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        z ^= z >>> 33;
        return Long.remainderUnsigned(z, ceiling + 1);
    }
}
