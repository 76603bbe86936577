package dev.cairn.tiers.internal.layout;

import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Keys of one run in any store (memory, disk, object storage alike):
 * <pre>
 * &lt;run&gt;/chunks/&lt;2 hex&gt;/&lt;hash&gt;               immutable, content-addressed zstd frames
 * &lt;run&gt;/steps/&lt;step&gt;/rank-&lt;r&gt;.index         per-rank index, written after its chunks
 * &lt;run&gt;/steps/&lt;step&gt;/MANIFEST               written last, create-only: the commit
 * &lt;run&gt;/steps/&lt;step&gt;/RETIRED                empty, multi-rank only: written by retention before it deletes
 *                                          the MANIFEST, so that a rank still waiting for that MANIFEST learns
 *                                          the step was committed; removed with the step's leftovers after the
 *                                          GC grace period
 * </pre>
 * A step exists for restore iff its MANIFEST does.
 */
public final class StoreLayout {
    public static final String MANIFEST = "MANIFEST";
    public static final String RETIRED = "RETIRED";
    private static final String INDEX_PREFIX = "rank-";
    private static final String INDEX_SUFFIX = ".index";
    private final String run;

    public StoreLayout(String run) {
        this.run = run;
    }

    public String run() {
        return run;
    }

    public String chunksPrefix() {
        return run + "/chunks/";
    }

    public String stepsPrefix() {
        return run + "/steps/";
    }

    public String chunkKey(String hash) {
        return run + "/chunks/" + hash.substring(0, 2) + "/" + hash;
    }

    public String stepPrefix(long step) {
        return run + "/steps/" + step + "/";
    }

    public String indexKey(long step, int rank) {
        return stepPrefix(step) + indexName(rank);
    }

    /** The name of rank {@code rank}'s index within its step's folder, {@code rank-<r>.index}. */
    public static String indexName(int rank) {
        return INDEX_PREFIX + rank + INDEX_SUFFIX;
    }

    public String manifestKey(long step) {
        return stepPrefix(step) + MANIFEST;
    }

    /** The hash a chunk key names, or null when {@code key} is not a chunk key of this run. */
    public String hashOfChunkKey(String key) {
        if (!key.startsWith(chunksPrefix())) {
            return null;
        }
        int slash = key.lastIndexOf('/');
        return key.substring(slash + 1);
    }

    /** The step a key under {@code steps/} belongs to. */
    public OptionalLong stepOf(String key) {
        String p = stepsPrefix();
        if (!key.startsWith(p)) {
            return OptionalLong.empty();
        }
        int end = key.indexOf('/', p.length());
        if (end < 0) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(key.substring(p.length(), end)));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** The marker that retention leaves where it removed the committed step {@code step} of a multi-rank run. */
    public String retiredKey(long step) {
        return stepPrefix(step) + RETIRED;
    }

    public boolean isRetiredKey(String key) {
        return key.startsWith(stepsPrefix()) && key.endsWith("/" + RETIRED);
    }

    /**
     * The rank a rank index of this run is for, or empty when {@code key} is not one: exactly
     * {@code <run>/steps/<step>/rank-<r>.index}, as {@link #indexKey} writes it.
     */
    public OptionalInt rankOfIndexKey(String key) {
        OptionalLong step = stepOf(key);
        if (step.isEmpty() || !key.startsWith(stepPrefix(step.getAsLong()))) {
            return OptionalInt.empty();
        }
        String name = key.substring(stepPrefix(step.getAsLong()).length());
        return name.indexOf('/') >= 0 ? OptionalInt.empty() : rankOfIndexName(name);
    }

    /** Whether {@code key} is a rank index of this run ({@link #rankOfIndexKey}). */
    public boolean isIndexKey(String key) {
        return rankOfIndexKey(key).isPresent();
    }

    /**
     * The rank named by the last segment of {@code key} when it is a rank index's name, {@code rank-<r>.index} as
     * {@link #indexKey} writes it (no sign, no leading zero), whatever the run; else empty.
     */
    public static OptionalInt rankOfIndexName(String key) {
        String name = key.substring(key.lastIndexOf('/') + 1);
        if (!name.startsWith(INDEX_PREFIX) || !name.endsWith(INDEX_SUFFIX)) {
            return OptionalInt.empty();
        }
        String digits = name.substring(INDEX_PREFIX.length(), name.length() - INDEX_SUFFIX.length());
        try {
            int rank = Integer.parseInt(digits);
            return rank >= 0 && digits.equals(Integer.toString(rank)) ? OptionalInt.of(rank) : OptionalInt.empty();
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
    }

    public boolean isManifestKey(String key) {
        return key.startsWith(stepsPrefix()) && key.endsWith("/" + MANIFEST);
    }
}
