package dev.cairn.tiers.internal;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
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
    private final ReentrantLock commitLock = new ReentrantLock();
    private final int level;
    private final boolean uncompressed;
    private volatile boolean catalogLoaded;

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
        AtomicInteger n = new AtomicInteger();
        this.io = Executors.newFixedThreadPool(ioThreads, r -> {
            Thread t = new Thread(r, "cairn-io-" + config.name() + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
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

    public ReentrantLock commitLock() {
        return commitLock;
    }

    /** The catalog, filled from a listing of the store's chunks on first use so that dedup spans restarts. */
    public ChunkCatalog catalog() throws IOException {
        if (!catalogLoaded) {
            synchronized (this) {
                if (!catalogLoaded) {
                    for (ObjectInfo o : store().list(layout.chunksPrefix())) {
                        String hash = layout.hashOfChunkKey(o.key());
                        if (hash != null && dev.cairn.tiers.internal.codec.ContentHash.isHex(hash)) {
                            catalog.markPresent(hash, o.size(), o.lastModified());
                        }
                    }
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
