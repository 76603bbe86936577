package dev.cairn;

import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * One storage tier: a store, how often a step goes there, how many committed checkpoints it keeps, and (optionally)
 * its own zstd level, or none ({@link #uncompressed()}).
 * Tiers are listed fastest first in {@link CairnConfig}; restore reads the first that holds a good copy.
 *
 * <pre>{@code
 * TierConfig.of("disk", new FileSystemObjectStore(dir)).everySteps(10).keepLast(3)
 * }</pre>
 */
public final class TierConfig {
    private final String name;
    private final ObjectStore store;
    private final long everySteps;
    private final int keepLast;
    /**
     * A zstd level; {@link #INHERIT_LEVEL}: the config's {@link CairnConfig#compressionLevel()}, or none for a store in
     * memory; {@link #NO_COMPRESSION}: none ({@link #uncompressed()}).
     */
    private final int compressionLevel;
    private static final int INHERIT_LEVEL = Integer.MIN_VALUE;
    private static final int NO_COMPRESSION = Integer.MIN_VALUE + 1;
    /** Where the store was opened from ({@link #at}); null for a store handed over as an object. */
    private final String location;
    private final java.util.Map<String, String> settings;

    private TierConfig(String name, ObjectStore store, long everySteps, int keepLast) {
        this(name, store, everySteps, keepLast, INHERIT_LEVEL, null, java.util.Map.of());
    }

    private TierConfig(String name, ObjectStore store, long everySteps, int keepLast, int compressionLevel, String location,
                       java.util.Map<String, String> settings) {
        this.name = EntryNames.checkSegment("tier name", name);
        this.store = Objects.requireNonNull(store, "store");
        if (everySteps < 1) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "tier '" + name + "': everySteps must be at least 1, was " + everySteps);
        }
        if (keepLast < 1) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "tier '" + name + "': keepLast must be at least 1, was " + keepLast);
        }
        this.everySteps = everySteps;
        this.keepLast = keepLast;
        this.compressionLevel = compressionLevel;
        this.location = location;
        this.settings = java.util.Map.copyOf(settings);
    }

    /** A tier that takes every step and keeps the last {@value CairnConfig#DEFAULT_KEEP_LAST}. */
    public static TierConfig of(String name, ObjectStore store) {
        return new TierConfig(name, store, 1, CairnConfig.DEFAULT_KEEP_LAST);
    }

    /**
     * A tier whose store is opened from {@code location} ({@link ObjectStores}: a directory, a {@code file:} URI or
     * {@code s3://bucket/prefix}) with {@code settings} ({@link ObjectStores#S3_ENDPOINT}, ...), taking every step and
     * keeping the last {@value CairnConfig#DEFAULT_KEEP_LAST}. The store belongs to the caller, who closes it. A
     * configuration whose tiers all have a location can be written out ({@link CairnConfig#toProperties()}).
     */
    public static TierConfig at(String name, String location, java.util.Map<String, String> settings) throws java.io.IOException {
        EntryNames.checkSegment("tier name", name); // before the store is opened: a refused name creates no directory
        ObjectStore store = ObjectStores.open(location, settings == null ? java.util.Map.of() : settings);
        return new TierConfig(name, store, 1, CairnConfig.DEFAULT_KEEP_LAST, INHERIT_LEVEL, location,
                settings == null ? java.util.Map.of() : settings);
    }

    /** A copy that takes only steps divisible by {@code n}. */
    public TierConfig everySteps(long n) {
        return new TierConfig(name, store, n, keepLast, compressionLevel, location, settings);
    }

    /** A copy that keeps the newest {@code k} committed checkpoints and lets GC remove older ones. */
    public TierConfig keepLast(int k) {
        return new TierConfig(name, store, everySteps, k, compressionLevel, location, settings);
    }

    /**
     * A copy whose chunks are stored at zstd level {@code level} instead of the config's
     * {@link CairnConfig#compressionLevel()}. The first tier of a save encodes at its own level; promotion to this tier
     * re-encodes a chunk when this level is stronger than the level of the tier it comes from and the result is
     * smaller, and otherwise copies the stored bytes verbatim. Typical: level 1 in memory, 3 to 9 on object storage,
     * where bytes cost more than the CPU spent once per promoted chunk. On a tier whose store is in memory it turns
     * compression on (such a tier stores chunks uncompressed unless it sets a level: {@link #isUncompressed()}).
     * Replaces an earlier {@link #uncompressed()}.
     */
    public TierConfig compressionLevel(int level) {
        if (level < -7 || level > 22) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "tier '" + name
                    + "': compressionLevel must be a zstd level in [-7, 22], was " + level);
        }
        return new TierConfig(name, store, everySteps, keepLast, level, location, settings);
    }

    /**
     * A copy that stores chunks as they are, in zstd frames of raw blocks (codec {@code raw}: any zstd reader decodes
     * them, and decoding is a copy): a save into it hashes every chunk (verification and dedup as in any tier) but
     * neither compresses it nor stores it as a difference to its previous version. For a tier that takes every step,
     * where compressing costs more CPU than the bytes it saves are worth. Promotion from it to a compressed tier
     * encodes each chunk for that tier, at that tier's level. Replaces an earlier {@link #compressionLevel(int)}.
     * A tier whose store is in memory and that sets no level is uncompressed already.
     */
    public TierConfig uncompressed() {
        return new TierConfig(name, store, everySteps, keepLast, NO_COMPRESSION, location, settings);
    }

    /**
     * Whether chunks are stored uncompressed here: the tier was made {@link #uncompressed()}, or its store is in this
     * process's memory ({@link ObjectStore#inMemory()}: the memory and peer-memory tiers) and it sets no
     * {@link #compressionLevel(int)}.
     */
    public boolean isUncompressed() {
        return compressionLevel == NO_COMPRESSION || (compressionLevel == INHERIT_LEVEL && store.inMemory());
    }

    /** Whether {@link #uncompressed()} was called (last) on this tier, as opposed to its store's default. */
    boolean uncompressedExplicitly() {
        return compressionLevel == NO_COMPRESSION;
    }

    public String name() {
        return name;
    }

    public ObjectStore store() {
        return store;
    }

    /** The location the store was opened from with {@link #at}; empty for a store handed over as an object. */
    public Optional<String> location() {
        return Optional.ofNullable(location);
    }

    /** The settings the store was opened with by {@link #at}; empty otherwise. */
    public java.util.Map<String, String> settings() {
        return settings;
    }

    public long everySteps() {
        return everySteps;
    }

    public int keepLast() {
        return keepLast;
    }

    /** This tier's own zstd level; empty when it uses the config's, or stores chunks uncompressed. */
    public OptionalInt compressionLevel() {
        return compressionLevel == INHERIT_LEVEL || compressionLevel == NO_COMPRESSION ? OptionalInt.empty()
                : OptionalInt.of(compressionLevel);
    }

    /** Whether a save of {@code step} goes to this tier. */
    public boolean takes(long step) {
        return step % everySteps == 0;
    }

    @Override
    public String toString() {
        return "tier " + name + " (" + store.describe() + ", every " + everySteps + " steps, keep " + keepLast
                + (isUncompressed() ? ", uncompressed" : "") + ")";
    }
}
