package dev.cairn;

import java.util.Objects;

/**
 * One storage tier: a store, how often a step goes there, and how many committed checkpoints it keeps.
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

    private TierConfig(String name, ObjectStore store, long everySteps, int keepLast) {
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
    }

    /** A tier that takes every step and keeps the last 2. */
    public static TierConfig of(String name, ObjectStore store) {
        return new TierConfig(name, store, 1, 2);
    }

    /** A copy that takes only steps divisible by {@code n}. */
    public TierConfig everySteps(long n) {
        return new TierConfig(name, store, n, keepLast);
    }

    /** A copy that keeps the newest {@code k} committed checkpoints and lets GC remove older ones. */
    public TierConfig keepLast(int k) {
        return new TierConfig(name, store, everySteps, k);
    }

    public String name() {
        return name;
    }

    public ObjectStore store() {
        return store;
    }

    public long everySteps() {
        return everySteps;
    }

    public int keepLast() {
        return keepLast;
    }

    /** Whether a save of {@code step} goes to this tier. */
    public boolean takes(long step) {
        return step % everySteps == 0;
    }

    @Override
    public String toString() {
        return "tier " + name + " (" + store.describe() + ", every " + everySteps + " steps, keep " + keepLast + ")";
    }
}
