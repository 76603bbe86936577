package dev.cairn.testkit;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link ObjectStore} that wraps another and misbehaves the way real storage does, at seeded random: the same
 * seed and the same sequence of calls give the same faults.
 *
 * <ul>
 *   <li>errors: a call fails with an {@link IOException} before touching the store;</li>
 *   <li>throttling: a call fails with a {@link ThrottledException} (a "503 SlowDown") before touching the store;</li>
 *   <li>latency: a call sleeps up to a bound first;</li>
 *   <li>truncated reads: a read returns fewer bytes than it could (at least one) — legal for the SPI only at the end
 *       of an object, so a reader that trusts a short read gets the wrong size;</li>
 *   <li>lost acknowledgements: a put or putIfAbsent is applied to the store, then the call throws, as when a
 *       response is lost after a successful write.</li>
 * </ul>
 * Faults can be switched off and on while a test runs ({@link #setEnabled}); counters report what was injected.
 */
public final class FaultyObjectStore implements ObjectStore {

    /** The throttling fault: the store asked the caller to slow down. */
    public static final class ThrottledException extends IOException {
        private static final long serialVersionUID = 1L;

        ThrottledException(String message) {
            super(message);
        }
    }

    /** An injected failure of a call that did not reach the store. */
    public static final class InjectedFailureException extends IOException {
        private static final long serialVersionUID = 1L;

        InjectedFailureException(String message) {
            super(message);
        }
    }

    /** An injected failure of a call whose write did reach the store. */
    public static final class LostAcknowledgementException extends IOException {
        private static final long serialVersionUID = 1L;

        LostAcknowledgementException(String message) {
            super(message);
        }
    }

    private final ObjectStore delegate;
    private final Faults faults;
    private final SplittableRandom random;
    private volatile boolean enabled = true;
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong throttles = new AtomicLong();
    private final AtomicLong truncations = new AtomicLong();
    private final AtomicLong lostAcknowledgements = new AtomicLong();

    /** Wraps {@code delegate}; closing this store closes it. */
    public FaultyObjectStore(ObjectStore delegate, Faults faults) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.faults = Objects.requireNonNull(faults, "faults");
        this.random = new SplittableRandom(faults.seed());
    }

    /** Turns every fault on or off. */
    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    /** Calls failed by an injected error. */
    public long errors() {
        return errors.get();
    }

    /** Calls failed by injected throttling. */
    public long throttles() {
        return throttles.get();
    }

    /** Reads shortened. */
    public long truncations() {
        return truncations.get();
    }

    /** Writes applied whose call then failed. */
    public long lostAcknowledgements() {
        return lostAcknowledgements.get();
    }

    /** The wrapped store. */
    public ObjectStore delegate() {
        return delegate;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        before("put", key);
        delegate.put(key, data);
        afterWrite("put", key);
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        before("putIfAbsent", key);
        boolean created = delegate.putIfAbsent(key, data);
        afterWrite("putIfAbsent", key);
        return created;
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        before("read", key);
        if (dst.remaining() > 1 && roll(faults.truncatedReadRate())) {
            int limit = dst.limit();
            int shortened = 1 + nextInt(dst.remaining() - 1);
            dst.limit(dst.position() + shortened);
            try {
                int n = delegate.read(key, offset, dst);
                if (n == shortened) {
                    truncations.incrementAndGet();
                }
                return n;
            } finally {
                dst.limit(limit);
            }
        }
        return delegate.read(key, offset, dst);
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        before("stat", key);
        return delegate.stat(key);
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        before("list", prefix);
        return delegate.list(prefix);
    }

    /** Faults as {@link #list}: the same operation, asked to answer for the whole store. */
    @Override
    public List<ObjectInfo> listWhole(String prefix) throws IOException {
        before("list", prefix);
        return delegate.listWhole(prefix);
    }

    @Override
    public List<String> listFolders(String prefix) throws IOException {
        before("listFolders", prefix);
        return delegate.listFolders(prefix);
    }

    @Override
    public void delete(String key) throws IOException {
        before("delete", key);
        delegate.delete(key);
    }

    @Override
    public String describe() {
        return "faulty(" + delegate.describe() + ")";
    }

    @Override
    public boolean inMemory() {
        return delegate.inMemory();
    }

    @Override
    public boolean listsMayBePartial() {
        return delegate.listsMayBePartial();
    }

    @Override
    public String location() {
        return delegate.location();
    }

    /** The wrapped store's coordinator, untouched: faults are injected into storage calls, not into barriers. */
    @Override
    public java.util.Optional<dev.cairn.Coordinator> coordinator() {
        return delegate.coordinator();
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }

    private void before(String operation, String key) throws IOException {
        if (!enabled) {
            return;
        }
        long latencyNanos = faults.maxLatency().toNanos();
        if (latencyNanos > 0) {
            sleep(nextLong(latencyNanos + 1));
        }
        if (roll(faults.throttleRate())) {
            throttles.incrementAndGet();
            throw new ThrottledException(operation + " '" + key + "': 503 SlowDown (injected)");
        }
        if (roll(faults.errorRate())) {
            errors.incrementAndGet();
            throw new InjectedFailureException(operation + " '" + key + "': injected failure");
        }
    }

    private void afterWrite(String operation, String key) throws IOException {
        if (roll(faults.lostAcknowledgementRate())) {
            lostAcknowledgements.incrementAndGet();
            throw new LostAcknowledgementException(operation + " '" + key
                    + "': connection reset after the write was applied (injected)");
        }
    }

    private boolean roll(double rate) {
        if (!enabled || rate <= 0) {
            return false;
        }
        synchronized (random) {
            return random.nextDouble() < rate;
        }
    }

    private int nextInt(int bound) {
        synchronized (random) {
            return random.nextInt(bound);
        }
    }

    private long nextLong(long bound) {
        synchronized (random) {
            return random.nextLong(bound);
        }
    }

    private static void sleep(long nanos) throws InterruptedIOException {
        try {
            Thread.sleep(nanos / 1_000_000, (int) (nanos % 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted = new InterruptedIOException("interrupted during injected latency");
            interrupted.initCause(e);
            throw interrupted;
        }
    }

    /**
     * What to inject: each rate is a probability per call in [0, 1]; latency is uniform in [0, maxLatency].
     *
     * @param seed                    seeds every random choice
     * @param errorRate               calls that fail before reaching the store
     * @param throttleRate            calls that fail with {@link ThrottledException} before reaching the store
     * @param maxLatency              added before each call
     * @param truncatedReadRate       reads that return fewer bytes than they could
     * @param lostAcknowledgementRate writes applied, then failed
     */
    public record Faults(long seed, double errorRate, double throttleRate, Duration maxLatency,
                         double truncatedReadRate, double lostAcknowledgementRate) {

        /** Checks the rates and the latency. */
        public Faults {
            Objects.requireNonNull(maxLatency, "maxLatency");
            for (double rate : new double[] {errorRate, throttleRate, truncatedReadRate, lostAcknowledgementRate}) {
                if (!(rate >= 0 && rate <= 1)) {
                    throw new IllegalArgumentException("a rate is a probability in [0, 1]: " + rate);
                }
            }
            if (maxLatency.isNegative()) {
                throw new IllegalArgumentException("negative latency " + maxLatency);
            }
        }

        /** No faults, with {@code seed}; add some with the {@code with...} methods. */
        public static Faults none(long seed) {
            return new Faults(seed, 0, 0, Duration.ZERO, 0, 0);
        }

        public Faults withErrors(double rate) {
            return new Faults(seed, rate, throttleRate, maxLatency, truncatedReadRate, lostAcknowledgementRate);
        }

        public Faults withThrottling(double rate) {
            return new Faults(seed, errorRate, rate, maxLatency, truncatedReadRate, lostAcknowledgementRate);
        }

        public Faults withLatency(Duration max) {
            return new Faults(seed, errorRate, throttleRate, max, truncatedReadRate, lostAcknowledgementRate);
        }

        public Faults withTruncatedReads(double rate) {
            return new Faults(seed, errorRate, throttleRate, maxLatency, rate, lostAcknowledgementRate);
        }

        public Faults withLostAcknowledgements(double rate) {
            return new Faults(seed, errorRate, throttleRate, maxLatency, truncatedReadRate, rate);
        }
    }
}
