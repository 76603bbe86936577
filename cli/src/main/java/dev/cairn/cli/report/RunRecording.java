package dev.cairn.cli.report;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;

/**
 * The engine's events in one Flight Recorder recording, by kind and in time order. The names and fields are the
 * engine's ({@code dev.cairn.tiers.internal.observe}); a recording without any of them is refused, naming what it
 * holds instead. Reads the file event by event, keeping only the engine's events.
 */
public final class RunRecording {
    static final String SAVE = "cairn.Save";
    static final String TIER_COMMIT = "cairn.TierCommit";
    static final String PROMOTION = "cairn.Promotion";
    static final String RESTORE = "cairn.Restore";
    static final String GC = "cairn.Gc";
    static final String STAGING = "cairn.Staging";
    static final String TIER_CONFIGURED = "cairn.TierConfigured";

    /** One save call. */
    public record Save(Instant at, String run, int rank, long step, Duration stall, long rawBytes, List<String> tiers,
                       long stagingUsed, long stagingLimit) {
    }

    /** A step committed in a tier: the first tier of its save, or a promotion into a slower one. */
    public record Commit(Instant at, String tier, long step, boolean promotion, Duration timeToCommit, Duration promotionTime,
                         long lagSteps, long chunks, long chunksWritten, long rawBytes, long storedBytes, long bytesWritten,
                         String failure) {
        public boolean failed() {
            return !failure.isEmpty();
        }
    }

    /** One restore call; {@code bytesByTier} says how many bytes came from each tier (repairs come from others). */
    public record Restore(Instant at, long step, String tier, Duration time, long bytesRead, Map<String, Long> bytesByTier,
                          int chunksRepaired, String failure) {
    }

    public record Gc(Instant at, String tier, boolean dryRun, Duration time, long chunksDeleted, long bytesFreed) {
    }

    public record Staging(Instant at, long used, long limit) {
    }

    /** A tier as configured; the newest event per tier name wins. */
    public record TierSetting(String tier, int index, String store, long everySteps, int keepLast, int compressionLevel) {
    }

    private final List<Save> saves = new ArrayList<>();
    private final List<Commit> commits = new ArrayList<>();
    private final List<Restore> restores = new ArrayList<>();
    private final List<Gc> gcs = new ArrayList<>();
    private final List<Staging> staging = new ArrayList<>();
    private final Map<String, TierSetting> tiers = new LinkedHashMap<>();

    private RunRecording() {
    }

    /** Reads {@code file}; throws {@link IllegalArgumentException} when it holds no event of the engine. */
    public static RunRecording read(Path file) throws IOException {
        RunRecording r = new RunRecording();
        Map<String, Integer> others = new LinkedHashMap<>();
        try (RecordingFile in = new RecordingFile(file)) {
            while (in.hasMoreEvents()) {
                RecordedEvent e = in.readEvent();
                if (!r.add(e) && others.size() < 5) {
                    others.merge(e.getEventType().getName(), 1, Integer::sum);
                }
            }
        }
        if (r.saves.isEmpty() && r.commits.isEmpty() && r.restores.isEmpty() && r.gcs.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no cairn save, commit, restore or GC event (it holds "
                    + (others.isEmpty() ? "no events" : String.join(", ", others.keySet()) + "...") + "): record the run"
                    + " with the cairn events on, e.g. java -XX:StartFlightRecording=filename=run.jfr,settings=profile");
        }
        r.saves.sort(Comparator.comparing(Save::at));
        r.commits.sort(Comparator.comparing(Commit::at));
        r.restores.sort(Comparator.comparing(Restore::at));
        r.gcs.sort(Comparator.comparing(Gc::at));
        r.staging.sort(Comparator.comparing(Staging::at));
        return r;
    }

    private boolean add(RecordedEvent e) {
        switch (e.getEventType().getName()) {
            case SAVE -> saves.add(new Save(e.getStartTime(), e.getString("run"), e.getInt("rank"), e.getLong("step"),
                    e.getDuration("stall"), e.getLong("rawBytes"), tierList(e.getString("tiers")), e.getLong("stagingUsed"),
                    e.getLong("stagingLimit")));
            case TIER_COMMIT -> commits.add(new Commit(e.getStartTime(), e.getString("tier"), e.getLong("step"), false,
                    e.getDuration("timeToCommit"), Duration.ZERO, 0, e.getLong("chunks"), e.getLong("chunksWritten"),
                    e.getLong("rawBytes"), e.getLong("storedBytes"), e.getLong("bytesWritten"), text(e, "failure")));
            case PROMOTION -> commits.add(new Commit(e.getStartTime(), e.getString("tier"), e.getLong("step"), true,
                    e.getDuration("timeToCommit"), e.getDuration("promotionTime"), e.getLong("lagSteps"), e.getLong("chunks"),
                    e.getLong("chunksWritten"), e.getLong("rawBytes"), e.getLong("storedBytes"), e.getLong("bytesWritten"),
                    text(e, "failure")));
            case RESTORE -> restores.add(new Restore(e.getStartTime(), e.getLong("step"), text(e, "tier"),
                    e.getDuration("restoreTime"), e.getLong("bytesRead"), byTier(text(e, "bytesReadByTier")),
                    e.getInt("chunksRepaired"), text(e, "failure")));
            case GC -> gcs.add(new Gc(e.getStartTime(), e.getString("tier"), e.getBoolean("dryRun"), e.getDuration("gcTime"),
                    e.getLong("chunksDeleted"), e.getLong("bytesFreed")));
            case STAGING -> staging.add(new Staging(e.getStartTime(), e.getLong("used"), e.getLong("limit")));
            case TIER_CONFIGURED -> tiers.put(e.getString("tier"), new TierSetting(e.getString("tier"), e.getInt("index"),
                    text(e, "store"), e.getLong("everySteps"), e.getInt("keepLast"), e.getInt("compressionLevel")));
            default -> {
                return false;
            }
        }
        return true;
    }

    private static String text(RecordedEvent e, String field) {
        String s = e.getString(field);
        return s == null ? "" : s;
    }

    private static Map<String, Long> byTier(String pairs) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String pair : pairs.isEmpty() ? new String[0] : pairs.split(",")) {
            int eq = pair.lastIndexOf('=');
            if (eq > 0) {
                try {
                    out.put(pair.substring(0, eq), Long.parseLong(pair.substring(eq + 1)));
                } catch (NumberFormatException e) {
                    // not written by the engine; left out
                }
            }
        }
        return out;
    }

    private static List<String> tierList(String csv) {
        return csv == null || csv.isEmpty() ? List.of() : List.of(csv.split(","));
    }

    public List<Save> saves() {
        return saves;
    }

    public List<Commit> commits() {
        return commits;
    }

    public List<Restore> restores() {
        return restores;
    }

    public List<Gc> gcs() {
        return gcs;
    }

    /** Staging samples: the periodic ones and each save's own reading, in time order. */
    public List<Staging> staging() {
        List<Staging> all = new ArrayList<>(staging);
        for (Save s : saves) {
            all.add(new Staging(s.at(), s.stagingUsed(), s.stagingLimit()));
        }
        all.sort(Comparator.comparing(Staging::at));
        return all;
    }

    /** Tiers fastest first: as configured where the recording says, else in the order commits name them. */
    public List<String> tierNames() {
        List<String> names = new ArrayList<>(tiers.values().stream().sorted(Comparator.comparingInt(TierSetting::index))
                .map(TierSetting::tier).toList());
        for (Commit c : commits) {
            if (!names.contains(c.tier())) {
                names.add(c.tier());
            }
        }
        return names;
    }

    public java.util.Optional<TierSetting> setting(String tier) {
        return java.util.Optional.ofNullable(tiers.get(tier));
    }

    /** The instant the first of the engine's events starts; plots measure time from here. */
    public Instant start() {
        Instant first = Instant.MAX;
        for (Save s : saves) {
            first = s.at().isBefore(first) ? s.at() : first;
        }
        for (Commit c : commits) {
            first = c.at().isBefore(first) ? c.at() : first;
        }
        for (Restore r : restores) {
            first = r.at().isBefore(first) ? r.at() : first;
        }
        for (Staging s : staging) {
            first = s.at().isBefore(first) ? s.at() : first;
        }
        return first == Instant.MAX ? Instant.EPOCH : first;
    }
}
