package dev.cairn.tiers.internal;

import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A configured tier at run time: its store, its catalog of chunks, its I/O threads, and the lock that keeps its
 * commits and its garbage collection apart.
 */
public final class Tier implements AutoCloseable {
    private final TierConfig config;
    private final int index;
    private final StoreLayout layout;
    private final ChunkCatalog catalog = new ChunkCatalog();
    private final ExecutorService io;
    private final OwnThreads ioThreadFactory;
    private final ReentrantLock commitLock = new ReentrantLock();
    private final int level;
    private final boolean uncompressed;
    private volatile boolean catalogLoaded;
    private volatile ChunkCatalog.Seed seed = ChunkCatalog.Seed.NONE;
    /** Steps that promotions out of this tier are copying now, each with how many ({@link #holdWhilePromoted}). */
    private final java.util.concurrent.ConcurrentHashMap<Long, Integer> promotedOut =
            new java.util.concurrent.ConcurrentHashMap<>();

    public Tier(TierConfig config, int index, StoreLayout layout, int ioThreads) {
        this(config, index, layout, ioThreads, dev.cairn.CairnConfig.DEFAULT_COMPRESSION_LEVEL);
    }

    /** @param defaultLevel the zstd level when the tier does not set its own */
    public Tier(TierConfig config, int index, StoreLayout layout, int ioThreads, int defaultLevel) {
        this.config = config;
        this.level = config.compressionLevel().orElse(defaultLevel);
        this.uncompressed = config.isUncompressed();
        this.index = index;
        this.layout = layout;
        this.ioThreadFactory = new OwnThreads("cairn-io-" + config.name());
        this.io = Executors.newFixedThreadPool(ioThreads, ioThreadFactory);
    }

    public String name() {
        return config.name();
    }

    /** Position in the configured order: 0 is the fastest. */
    public int index() {
        return index;
    }

    public TierConfig config() {
        return config;
    }

    /** The zstd level chunks are stored at in this tier, unless it is {@link #uncompressed()}. */
    public int level() {
        return level;
    }

    /**
     * Whether a save into this tier stores its chunks as they are ({@link TierConfig#isUncompressed()}): codec raw,
     * no probe, no compression, no differential form.
     */
    public boolean uncompressed() {
        return uncompressed;
    }

    public ObjectStore store() {
        return config.store();
    }

    public StoreLayout layout() {
        return layout;
    }

    public ExecutorService io() {
        return io;
    }

    /** Whether the current thread is one of this tier's I/O threads. */
    public boolean onIoThread() {
        return ioThreadFactory.current();
    }

    /**
     * Whether the tier is closed ({@link #close}): its checkpointer's close is past waiting for the saves in flight,
     * and nothing may start writing into the tier any more.
     */
    public boolean closed() {
        return io.isShutdown();
    }

    public ReentrantLock commitLock() {
        return commitLock;
    }

    /**
     * A {@link ChunkCatalog.Seed} that lists every chunk the tier holds (their forms are then learned from their
     * headers when a writer meets them): for a tool that copies whole steps into a store that may hold most of their
     * chunks, where one listing costs less than a create per chunk. Never on a save's path.
     */
    public static final ChunkCatalog.Seed LIST_CHUNKS = (tier, catalog) -> {
        for (dev.cairn.ObjectInfo o : tier.store().list(tier.layout().chunksPrefix())) {
            String hash = tier.layout().hashOfChunkKey(o.key());
            if (hash != null && dev.cairn.tiers.internal.codec.ContentHash.isHex(hash)) {
                catalog.markPresent(hash, o.size(), o.lastModified());
            }
        }
    };

    /**
     * Sets what the catalog starts from at its first use ({@link ChunkCatalog.Seed}; none by default): call before
     * anything uses the catalog.
     */
    public void seedCatalogWith(ChunkCatalog.Seed seed) {
        this.seed = java.util.Objects.requireNonNull(seed, "seed");
    }

    /**
     * Lets go of the pins a multi-rank commit kept for {@code step} ({@link ChunkCatalog#keepPinnedUntil}), without
     * loading the catalog: one that is not loaded keeps none.
     */
    public void releaseKeptPins(long step) {
        catalog.releaseKept(step);
    }

    /**
     * Marks {@code step} as being promoted out of this tier, until the returned release runs (once; later runs do
     * nothing). Rank 0 of a multi-rank run collects as an outsider ({@code GarbageCollector.Collector#OUTSIDER}), which
     * cannot see the pins of the other ranks' promotions of the step: it does not retire a step marked here
     * ({@link #stepsPromotedOut}), so that the chunks every rank is still reading for its part stay. Every rank promotes
     * the same steps, and the target's multi-rank commit, which rank 0's promotion waits for, needs every rank's index:
     * rank 0's own mark lasts until no rank reads the step here for that promotion.
     */
    public Runnable holdWhilePromoted(long step) {
        promotedOut.merge(step, 1, Integer::sum);
        java.util.concurrent.atomic.AtomicBoolean released = new java.util.concurrent.atomic.AtomicBoolean();
        return () -> {
            if (released.compareAndSet(false, true)) {
                promotedOut.computeIfPresent(step, (s, n) -> n == 1 ? null : n - 1);
            }
        };
    }

    /** The steps being promoted out of this tier now ({@link #holdWhilePromoted}). */
    public java.util.Set<Long> stepsPromotedOut() {
        return java.util.Set.copyOf(promotedOut.keySet());
    }

    /**
     * The catalog, started on first use from its {@link ChunkCatalog.Seed} (the rank's rows of the newest committed
     * step), so that dedup spans restarts without a listing of the tier's chunks, which at thousands of ranks costs
     * each process a LIST request per thousand chunks the tier holds. If the seed fails, nothing is loaded and the
     * next use tries again.
     */
    public ChunkCatalog catalog() throws IOException {
        if (!catalogLoaded) {
            synchronized (this) {
                if (!catalogLoaded) {
                    seed.fill(this, catalog);
                    catalogLoaded = true;
                }
            }
        }
        return catalog;
    }

    @Override
    public void close() {
        io.shutdown();
    }

    @Override
    public String toString() {
        return "tier " + name() + " (" + store().describe() + ")";
    }
}
