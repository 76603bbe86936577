package dev.cairn.tiers.internal.layout;

import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * Keys of one run in any store (memory, disk, object storage alike):
 * <pre>
 * &lt;run&gt;/chunks/&lt;2 hex&gt;/&lt;hash&gt;               immutable, content-addressed zstd frames
 * &lt;run&gt;/steps/&lt;step&gt;/rank-&lt;r&gt;.index         per-rank index, written after its chunks
 * &lt;run&gt;/steps/&lt;step&gt;/MANIFEST.&lt;id&gt;.&lt;l&gt;.&lt;k&gt;  multi-rank, format 5: page k of level l of the directory (which
 *                                          index holds which slices) of the MANIFEST that names {@code id}, written
 *                                          before it; each commit attempt has its own id, so a losing writer of the
 *                                          same step never replaces the winner's pages
 * &lt;run&gt;/steps/&lt;step&gt;/MANIFEST               written last, create-only: the commit
 * &lt;run&gt;/steps/&lt;step&gt;/RETIRED                empty, multi-rank only: written by retention before it deletes
 *                                          the MANIFEST, so that a rank still waiting for that MANIFEST learns
 *                                          the step was committed; removed with the step's leftovers after the
 *                                          GC grace period
 * &lt;run&gt;/notices/&lt;k&gt;/&lt;step&gt;              multi-rank only: a commit notice, put by rank 0 after it created
 *                                          the step's MANIFEST, to K = ceil(world / {@value #RANKS_PER_NOTICE}) keys k
 *                                          in K prefixes; rank r looks only at notice r mod K; removed with the step
 * &lt;run&gt;/marks/&lt;g&gt;/&lt;step, 19 digits&gt;    a step mark ({@code commit.StepMarks}), put to every group g &lt; G before
 *                                          the step's MANIFEST is created, so that a process finds the newest
 *                                          committed step by listing its group, not the steps; removed with the step
 * </pre>
 * A step exists for restore iff its MANIFEST does: a notice names the digests of the MANIFEST it follows and of the
 * indexes that MANIFEST commits (its body: {@code commit.CommitNotice}), so that a rank takes it for the commit of the
 * very index it put, and otherwise only as the time to look at the MANIFEST. Notices live outside {@code steps/} so that each of the K keys is a prefix of its own (S3 serves each
 * prefix's requests apart: one key read by thousands of ranks would be refused), and so that listings of the steps
 * never see them.
 */
public final class StoreLayout {
    public static final String MANIFEST = "MANIFEST";
    public static final String RETIRED = "RETIRED";
    /** Ranks that share one commit notice at most: they look at it at most a few hundred times a second together. */
    public static final int RANKS_PER_NOTICE = 250;
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

    /** Page {@code number} of level {@code level} (1 and up) of the directory {@code id} of {@code step} (format 5). */
    public String pageKey(long step, String id, int level, int number) {
        return stepPrefix(step) + pageName(id, level, number);
    }

    /** The name of a MANIFEST page within its step's folder, {@code MANIFEST.<id>.<level>.<number>}. */
    public static String pageName(String id, int level, int number) {
        return MANIFEST + "." + id + "." + level + "." + number;
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

    /**
     * The sweep marker of this run ({@code <run>/gc/SWEEP}): how many commits were counted towards the next sweep for
     * orphans since the last one ({@code gc.SweepMarker}), so that the sweep's schedule outlives the processes that
     * count. Outside {@code steps/} and {@code chunks/}, which sweeps list.
     */
    public String sweepKey() {
        return run + "/gc/SWEEP";
    }

    public String noticesPrefix() {
        return run + "/notices/";
    }

    /** Commit notices a step saved by {@code worldSize} ranks gets: 0 for one rank, else one per {@value #RANKS_PER_NOTICE} ranks. */
    public static int noticeCount(int worldSize) {
        return worldSize <= 1 ? 0 : (worldSize + RANKS_PER_NOTICE - 1) / RANKS_PER_NOTICE;
    }

    /** The notice {@code rank} of a world of {@code worldSize} looks at for {@code step}'s commit. */
    public String noticeKey(long step, int rank, int worldSize) {
        return noticesPrefix() + (rank % Math.max(1, noticeCount(worldSize))) + "/" + step;
    }

    /** Every notice key of {@code step} saved by {@code worldSize} ranks, one per prefix. */
    public java.util.List<String> noticeKeys(long step, int worldSize) {
        java.util.List<String> keys = new java.util.ArrayList<>();
        for (int k = 0; k < noticeCount(worldSize); k++) {
            keys.add(noticesPrefix() + k + "/" + step);
        }
        return keys;
    }

    /** The step a commit notice of this run is for, or empty when {@code key} is not one ({@code <run>/notices/<k>/<step>}). */
    public OptionalLong stepOfNoticeKey(String key) {
        if (!key.startsWith(noticesPrefix())) {
            return OptionalLong.empty();
        }
        String[] parts = key.substring(noticesPrefix().length()).split("/", -1);
        if (parts.length != 2 || !isCount(parts[0]) || !isCount(parts[1])) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(parts[1]));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    private static boolean isCount(String digits) {
        return !digits.isEmpty() && digits.chars().allMatch(c -> c >= '0' && c <= '9')
                && (digits.length() == 1 || digits.charAt(0) != '0');
    }

    public String marksPrefix() {
        return run + "/marks/";
    }

    /**
     * The record that the step marks' groups are complete ({@code StepMarks}): an object beside the groups' folders,
     * which no listing of a group and no reading of a mark's step ({@link #stepOfMarkKey}) takes for a mark.
     */
    public String marksCompleteKey() {
        return marksPrefix() + "complete";
    }

    /** The prefix of group {@code group}'s step marks: a prefix of its own, so that S3 serves each group apart. */
    public String markGroupPrefix(int group) {
        return marksPrefix() + group + "/";
    }

    /**
     * The mark of {@code step} in group {@code group}: the step in 19 digits, zeros first, so that a listing of the group
     * (sorted by key) is sorted by step, which the steps' own folders ({@code steps/10/} before {@code steps/9/}) are not.
     */
    public String markKey(int group, long step) {
        if (step < 0) {
            throw new IllegalArgumentException("no mark for a negative step " + step);
        }
        // Padded by hand: String.format parses its pattern on every call, and this runs twice a commit (the mark's
        // put, its removal at retention): it was a tenth of the memory tier's commit thread in per-step saves.
        String digits = Long.toString(step);
        StringBuilder key = new StringBuilder(markGroupPrefix(group));
        for (int i = digits.length(); i < 19; i++) {
            key.append('0');
        }
        return key.append(digits).toString();
    }

    /** The step a mark of this run names, or empty when {@code key} is not one ({@code <run>/marks/<g>/<19 digits>}). */
    public OptionalLong stepOfMarkKey(String key) {
        if (!key.startsWith(marksPrefix())) {
            return OptionalLong.empty();
        }
        String[] parts = key.substring(marksPrefix().length()).split("/", -1);
        if (parts.length != 2 || !isCount(parts[0]) || parts[1].length() != 19
                || !parts[1].chars().allMatch(c -> c >= '0' && c <= '9')) {
            return OptionalLong.empty();
        }
        try {
            return OptionalLong.of(Long.parseLong(parts[1]));
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    public boolean isManifestKey(String key) {
        return key.startsWith(stepsPrefix()) && key.endsWith("/" + MANIFEST);
    }
}
