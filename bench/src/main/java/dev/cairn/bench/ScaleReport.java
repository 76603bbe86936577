package dev.cairn.bench;

import dev.cairn.bench.simulate.ScaleSimulation;
import dev.cairn.bench.simulate.ScaleSimulation.Checkpoint;
import dev.cairn.bench.simulate.ScaleSimulation.Restore;
import dev.cairn.bench.simulate.ScaleSimulation.Results;
import dev.cairn.testkit.RequestKind;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code cairn bench --simulate}: the scale simulation's figures per checkpoint, then issue 15's goals beside them
 * with a verdict, as a table for people and as JSON for tools (the same figures in both).
 */
public final class ScaleReport {
    /** Requests of one key per second above which S3 partitions struggle (issue 15's goal). */
    static final int KEY_RATE_GOAL = 1000;
    /** Seconds of simulated time from the last index to the commit visible to every rank (issue 15's goal). */
    static final double VISIBLE_GOAL_SECONDS = 2.0;
    /**
     * Metadata a restoring rank may read, over its share of the step's metadata, MANIFEST and rank indexes together
     * (issue 15: proportional to its slices).
     */
    static final double METADATA_SHARE_GOAL = 2.0;
    /** What a restoring rank may read beyond its share: a small global part of the manifest. */
    static final long GLOBAL_PART_BYTES = 64L << 10;

    private ScaleReport() {
    }

    /** One goal of issue 15 beside the figure it is checked on. */
    public record Goal(String key, String label, String figure, String goal, boolean met) {
    }

    private static void startUp(PrintStream out, String what, ScaleSimulation.StartUp up) {
        out.printf(Locale.ROOT, "%s: %d processes look for the newest committed step at once: %,d"
                        + " requests (%s), LIST pages of whole chunk/step prefixes %,d, %,d SlowDown (%,d calls failed),"
                        + " busiest key %,d requests in one second (%s), busiest prefix %,d reads in one second (%s), last"
                        + " look returned after %.2f s simulated (median %.2f s), %.1f s real%n",
                what, up.ranks(), up.totalRequests(), nonZero(up.requests()), up.fullListings(), up.slowDowns(),
                up.callsFailed(), up.busiestKeyPeak(), tail(up.busiestKey(), 40), up.busiestPrefixPeak(),
                up.busiestPrefix(), max(up.lookNanos()) / 1e9, median(up.lookNanos()) / 1e9, up.wallNanos() / 1e9);
        for (String f : up.failures()) {
            out.println("  " + what + ", failed looks: " + f);
        }
        out.println();
    }

    private static void startUpJson(StringBuilder b, String name, ScaleSimulation.StartUp up) {
        b.append("  \"").append(name).append("\": {\"ranks\": ").append(up.ranks()).append(", \"requests\": ").append(kinds(up.requests()))
                .append(", \"fullListings\": ").append(up.fullListings()).append(", \"folderListings\": ")
                .append(up.folderListings()).append(", \"busiestKey\": ").append(JsonText.quote(up.busiestKey()))
                .append(", \"busiestKeyPerSecond\": ").append(up.busiestKeyPeak()).append(", \"busiestPrefix\": ")
                .append(JsonText.quote(up.busiestPrefix())).append(", \"busiestPrefixReadsPerSecond\": ")
                .append(up.busiestPrefixPeak()).append(", \"slowDowns\": ").append(up.slowDowns())
                .append(", \"callsFailed\": ").append(up.callsFailed()).append(", \"failures\": ")
                .append(strings(up.failures())).append(", \"lookMedianNanos\": ").append(median(up.lookNanos()))
                .append(", \"lookLastNanos\": ").append(max(up.lookNanos())).append(", \"wallNanos\": ")
                .append(up.wallNanos()).append("},\n");
    }

    /** The goals, checked on the last checkpoint (the first with retention retiring a step, from the third on). */
    public static List<Goal> goals(Results r) {
        Checkpoint c = r.checkpoints().get(r.checkpoints().size() - 1);
        int n = r.options().ranks();
        long budget = c.chunksWritten() + 4L * n;
        List<Goal> goals = new ArrayList<>();
        goals.add(new Goal("requestsPerCheckpoint", "requests per checkpoint (save, commit, GC)",
                String.format(Locale.ROOT, "%,d", c.totalRequests()),
                String.format(Locale.ROOT, "<= %,d (chunks + 4 x ranks)", budget), c.totalRequests() <= budget));
        ScaleSimulation.StartUp up = r.startUp();
        long full = up.fullListings() + c.fullListings() + r.restore().requestsOnFullListings();
        goals.add(new Goal("fullListings", "LIST pages of the whole chunk or step prefix", count(full), "0", full == 0));
        ScaleSimulation.StartUp resumed = r.resumedStartUp();
        full += resumed.fullListings();
        int busiest = Math.max(Math.max(up.busiestKeyPeak(), resumed.busiestKeyPeak()),
                Math.max(c.busiestKeyPeak(), r.restore().busiestKeyPeak()));
        goals.add(new Goal("busiestKey", "busiest key, requests in one second (all phases)", count(busiest),
                "<= " + KEY_RATE_GOAL, busiest <= KEY_RATE_GOAL));
        goals.add(new Goal("startUpListings", "start-up: busiest prefix, LISTs in one second", count(up.busiestPrefixPeak()),
                "<= " + KEY_RATE_GOAL, up.busiestPrefixPeak() <= KEY_RATE_GOAL));
        long slow = up.slowDowns() + resumed.slowDowns() + c.slowDowns() + r.restore().slowDowns();
        goals.add(new Goal("slowDowns", "503 SlowDown answers (all phases)", count(slow), "0", slow == 0));
        double worst = worstMetadataRatio(r.restore());
        goals.add(new Goal("restoreMetadata", "restore: metadata a rank reads / its share of MANIFEST + indexes",
                Double.isNaN(worst) ? "no rank planned" : String.format(Locale.ROOT, "%.1fx", worst),
                String.format(Locale.ROOT, "<= %.1fx + 64 KiB", METADATA_SHARE_GOAL),
                !Double.isNaN(worst) && worst <= METADATA_SHARE_GOAL && r.restore().failed() == 0));
        goals.add(new Goal("commitVisible", "commit visible to every rank after the last index",
                c.visibleNanos() < 0 ? "never (" + (n - c.ranksCommitted()) + " ranks failed)" : seconds(c.visibleNanos()),
                String.format(Locale.ROOT, "<= %.0f s", VISIBLE_GOAL_SECONDS),
                c.visibleNanos() >= 0 && c.visibleNanos() <= VISIBLE_GOAL_SECONDS * 1e9));
        return goals;
    }

    /**
     * The largest ratio over the planned ranks of metadata bytes read to (its share of the MANIFEST and indexes + 64
     * KiB); NaN when no rank planned.
     */
    static double worstMetadataRatio(Restore restore) {
        double worst = Double.NaN;
        for (int i = 0; i < restore.ranks(); i++) {
            if (Double.isNaN(restore.chunkShares()[i]) || restore.manifestBytes() < 0) {
                continue;
            }
            double share = (restore.manifestBytes() + restore.pageBytes() + restore.indexBytes()) * restore.chunkShares()[i]
                    + GLOBAL_PART_BYTES;
            double ratio = restore.metadataBytes()[i] / share;
            worst = Double.isNaN(worst) ? ratio : Math.max(worst, ratio);
        }
        return worst;
    }

    public static void printText(Results r, PrintStream out) {
        ScaleSimulation.Setup s = r.setup();
        ReportTable.heading(out, "Cairn scale simulation (issue 15): " + r.options().ranks() + " ranks on simulated S3",
                r.date(), MachineInfo.probe(Path.of(".")));
        out.printf(Locale.ROOT, "model    %,d parameters, %.2f TB of state (bf16 weights, fp32 master weights, Adam moments):"
                        + " %d tensors %s split by rows over %d ranks, %s chunks: %,d chunks a checkpoint%n",
                s.parameters(), s.stateBytes() / 1e12, s.tensors(), Arrays.toString(s.globalShape()), r.options().ranks(),
                ByteSize.format(s.chunkBytes()), s.chunksPerCheckpoint());
        out.println("store    " + s.store());
        out.println("engine   real: the open's look of the new and the resumed run (CommitProtocol.newestAtOpen),"
                + " index write, RankCommit (store polling), ChunkConfirmation, CommitPoint, Retention + GarbageCollector (rank 0), Restorer.plan,"
                + " StaleIndexCleanUp; simulated: chunk bytes, the store, S3 retries, time");
        out.printf(Locale.ROOT, "run      %d checkpoints, then a restore on %d ranks; %.1f s real; MANIFEST parsed %d times"
                + " for %d reads%n", r.checkpoints().size(), r.restore().ranks(), r.wallNanos() / 1e9, r.manifestParses(),
                r.manifestParses() + r.manifestReuses());
        out.println();
        startUp(out, "start-up of the new run", r.startUp());
        startUp(out, "start-up of the resumed run (before the restore)", r.resumedStartUp());
        List<Checkpoint> cs = r.checkpoints();
        String head = "%-46s" + " %16s".repeat(cs.size()) + "%n";
        Object[] steps = new Object[cs.size() + 1];
        steps[0] = "per checkpoint (simulated time)";
        for (int i = 0; i < cs.size(); i++) {
            steps[i + 1] = "step " + cs.get(i).step();
        }
        out.printf(Locale.ROOT, head, steps);
        row(out, head, "chunks written", cs, c -> count(c.chunksWritten()));
        row(out, head, "requests, all", cs, c -> count(c.totalRequests()));
        for (RequestKind kind : RequestKind.values()) {
            row(out, head, "  " + kind, cs, c -> count(c.requests().getOrDefault(kind, 0L)));
        }
        row(out, head, "  of which rank 0's GC", cs, c -> count(c.gcTotal()));
        row(out, head, "LIST pages on the save and commit path", cs, c -> count(c.listsOnSavePath()));
        row(out, head, "LIST pages of whole chunk/step prefixes", cs, c -> count(c.fullListings()));
        row(out, head, "HEADs of chunk keys (confirmations, ages)", cs, c -> count(c.chunkHeads()));
        row(out, head, "busiest key, requests in one second", cs, c -> count(c.busiestKeyPeak()));
        row(out, head, "  that key", cs, c -> tail(c.busiestKey(), 16));
        row(out, head, "503 SlowDown answers", cs, c -> count(c.slowDowns()));
        row(out, head, "calls failed on SlowDown at their deadline", cs, c -> count(c.callsFailed()));
        row(out, head, "MANIFEST bytes", cs, c -> c.manifestBytes() < 0 ? "none" : ByteSize.format(c.manifestBytes()));
        row(out, head, "MANIFEST directory pages, bytes", cs, c -> ByteSize.format(c.pageBytes()));
        row(out, head, "index bytes, all ranks", cs, c -> ByteSize.format(c.indexBytes()));
        row(out, head, "last index -> MANIFEST created", cs, c -> c.commitNanos() < 0 ? "never" : seconds(c.commitNanos()));
        row(out, head, "last index -> seen by every rank", cs, c -> c.visibleNanos() < 0 ? "never" : seconds(c.visibleNanos()));
        row(out, head, "ranks whose commit returned", cs, c -> count(c.ranksCommitted()));
        row(out, head, "GC: steps retired / chunks deleted", cs, c -> c.gc() == null ? "failed"
                : c.gc().stepsRetired().size() + " / " + count(c.chunksDeleted()));
        row(out, head, "checkpoint's simulated time", cs, c -> seconds(c.simulatedNanos()));
        row(out, head, "real time to simulate it", cs, c -> seconds(c.wallNanos()));
        for (Checkpoint c : cs) {
            for (String f : c.failures()) {
                out.println("  step " + c.step() + " failed ranks: " + f);
            }
            if (c.gcFailure() != null) {
                out.println("  step " + c.step() + " GC: " + c.gcFailure());
            }
        }
        Restore re = r.restore();
        out.println();
        long[] sorted = re.metadataBytes().clone();
        Arrays.sort(sorted);
        out.printf(Locale.ROOT, "restore of step %d on %d ranks: metadata read per rank %s / %s / %s (min / median / max),"
                        + " MANIFEST %s, its pages %s, indexes %s, %,d chunk reads planned, %,d requests, %,d SlowDown, %d ranks failed,"
                        + " planned after %.2f / %.2f s simulated (median / last rank), busiest key %,d requests in one"
                        + " second (%s), the step's prefix %,d GET/HEAD in one second, %.1f s real%n",
                re.step(), re.ranks(), ByteSize.format(sorted[0]), ByteSize.format(sorted[sorted.length / 2]),
                ByteSize.format(sorted[sorted.length - 1]), re.manifestBytes() < 0 ? "unread" : ByteSize.format(re.manifestBytes()),
                ByteSize.format(re.pageBytes()), ByteSize.format(re.indexBytes()),
                re.chunkReads(), re.totalRequests(), re.slowDowns(), re.failed(),
                median(re.plannedNanos()) / 1e9, max(re.plannedNanos()) / 1e9, re.busiestKeyPeak(), tail(re.busiestKey(), 40),
                re.stepPrefixPeak(), re.wallNanos() / 1e9);
        out.printf(Locale.ROOT, "  its clean-up (each rank removes its own indexes of uncommitted later steps): %,d stale"
                        + " indexes planted, %,d left; requests of the restore %s; LIST pages of whole chunk/step"
                        + " prefixes %,d; last clean-up ended after %.2f s simulated (median %.2f s)%n",
                re.stalePlanted(), re.staleLeft(), nonZero(re.requests()), re.requestsOnFullListings(),
                max(re.cleanedNanos()) / 1e9, median(re.cleanedNanos()) / 1e9);
        for (String f : re.failures()) {
            out.println("  restore failed ranks: " + f);
        }
        out.println();
        out.printf(Locale.ROOT, "%-58s %22s %30s  %s%n", "goal (issue 15), on the last checkpoint", "figure", "goal", "verdict");
        for (Goal g : goals(r)) {
            out.printf(Locale.ROOT, "%-58s %22s %30s  %s%n", g.label(), g.figure(), g.goal(), g.met() ? "met" : "MISSED");
        }
        out.flush();
    }

    /** The same figures as one JSON object: {@code figures} of the last checkpoint, {@code comparisons} the goals. */
    public static String json(Results r) {
        StringBuilder b = new StringBuilder(8192);
        b.append("{\n  \"benchmark\": \"simulate\",\n");
        b.append("  \"date\": ").append(JsonText.quote(r.date().toString())).append(",\n");
        JsonText.machine(b, MachineInfo.probe(Path.of(".")));
        ScaleSimulation.Setup s = r.setup();
        b.append("  \"setup\": {\"ranks\": ").append(r.options().ranks()).append(", \"restoreRanks\": ")
                .append(r.options().restoreRanks()).append(", \"checkpoints\": ").append(r.options().checkpoints())
                .append(", \"parameters\": ").append(s.parameters()).append(", \"stateBytes\": ").append(s.stateBytes())
                .append(", \"chunkBytes\": ").append(s.chunkBytes()).append(", \"chunksPerCheckpoint\": ")
                .append(s.chunksPerCheckpoint()).append(", \"store\": ").append(JsonText.quote(s.store())).append("},\n");
        b.append("  \"checkpoints\": [\n");
        for (int i = 0; i < r.checkpoints().size(); i++) {
            Checkpoint c = r.checkpoints().get(i);
            b.append("    {\"step\": ").append(c.step()).append(", \"chunksWritten\": ").append(c.chunksWritten())
                    .append(", \"requests\": ").append(kinds(c.requests())).append(", \"gcRequests\": ")
                    .append(kinds(c.gcRequests())).append(", \"listsOnSavePath\": ").append(c.listsOnSavePath())
                    .append(", \"fullListings\": ").append(c.fullListings()).append(", \"chunkHeads\": ")
                    .append(c.chunkHeads()).append(", \"busiestKey\": ")
                    .append(JsonText.quote(c.busiestKey())).append(", \"busiestKeyPerSecond\": ").append(c.busiestKeyPeak())
                    .append(", \"slowDowns\": ").append(c.slowDowns()).append(", \"callsFailed\": ").append(c.callsFailed())
                    .append(", \"manifestBytes\": ").append(c.manifestBytes()).append(", \"pageBytes\": ")
                    .append(c.pageBytes()).append(", \"indexBytes\": ")
                    .append(c.indexBytes()).append(", \"commitNanos\": ").append(c.commitNanos())
                    .append(", \"visibleNanos\": ").append(c.visibleNanos()).append(", \"ranksCommitted\": ")
                    .append(c.ranksCommitted()).append(", \"failures\": ").append(strings(c.failures()))
                    .append(", \"gcRetiredSteps\": ").append(c.gc() == null ? "null" : c.gc().stepsRetired().size())
                    .append(", \"gcChunksDeleted\": ").append(c.gc() == null ? "null" : c.chunksDeleted())
                    .append(", \"gcFailure\": ").append(c.gcFailure() == null ? "null" : JsonText.quote(c.gcFailure()))
                    .append(", \"simulatedNanos\": ").append(c.simulatedNanos()).append(", \"wallNanos\": ")
                    .append(c.wallNanos()).append("}").append(i + 1 < r.checkpoints().size() ? ",\n" : "\n");
        }
        b.append("  ],\n");
        Restore re = r.restore();
        b.append("  \"restore\": {\"ranks\": ").append(re.ranks()).append(", \"step\": ").append(re.step())
                .append(", \"metadataBytes\": ").append(JsonText.array(re.metadataBytes())).append(", \"manifestBytes\": ")
                .append(re.manifestBytes()).append(", \"pageBytes\": ").append(re.pageBytes()).append(", \"indexBytes\": ").append(re.indexBytes()).append(", \"chunkReads\": ").append(re.chunkReads()).append(", \"requests\": ")
                .append(kinds(re.requests())).append(", \"slowDowns\": ").append(re.slowDowns()).append(", \"failed\": ")
                .append(re.failed()).append(", \"failures\": ").append(strings(re.failures())).append(", \"plannedMedianNanos\": ")
                .append(median(re.plannedNanos())).append(", \"plannedLastNanos\": ").append(max(re.plannedNanos()))
                .append(", \"busiestKey\": ").append(JsonText.quote(re.busiestKey())).append(", \"busiestKeyPerSecond\": ")
                .append(re.busiestKeyPeak()).append(", \"stepPrefixReadsPerSecond\": ").append(re.stepPrefixPeak())
                .append(", \"folderListings\": ").append(re.folderListings()).append(", \"fullListings\": ")
                .append(re.requestsOnFullListings()).append(", \"stalePlanted\": ").append(re.stalePlanted())
                .append(", \"staleLeft\": ").append(re.staleLeft()).append(", \"cleanedLastNanos\": ")
                .append(max(re.cleanedNanos()))
                .append(", \"wallNanos\": ").append(re.wallNanos()).append("},\n");
        startUpJson(b, "startUp", r.startUp());
        startUpJson(b, "resumedStartUp", r.resumedStartUp());
        Checkpoint last = r.checkpoints().get(r.checkpoints().size() - 1);
        long[] sorted = re.metadataBytes().clone();
        Arrays.sort(sorted);
        b.append("  \"figures\": {\n");
        figure(b, "requestsPerCheckpoint", "requests of the last checkpoint (save, commit, GC)", last.totalRequests(), "requests", false);
        figure(b, "gcRequests", "of which rank 0's GC", last.gcTotal(), "requests", false);
        figure(b, "listsOnSavePath", "LIST pages on the save and commit path", last.listsOnSavePath(), "requests", false);
        figure(b, "fullListings", "LIST pages of the whole chunk or step prefix", last.fullListings(), "requests", false);
        figure(b, "busiestKeyPerSecond", "busiest key's requests in one simulated second", last.busiestKeyPeak(), "requests/s", false);
        figure(b, "slowDowns", "503 SlowDown answers", last.slowDowns(), "requests", false);
        figure(b, "manifestBytes", "MANIFEST", last.manifestBytes(), "bytes", false);
        figure(b, "indexBytes", "indexes of all ranks", last.indexBytes(), "bytes", false);
        figure(b, "commitNanos", "last index to MANIFEST created", last.commitNanos(), "ns", false);
        figure(b, "visibleNanos", "last index to commit seen by every rank (-1: never)", last.visibleNanos(), "ns", false);
        figure(b, "restoreMetadataMedianBytes", "metadata one restoring rank reads, median", sorted[sorted.length / 2], "bytes", false);
        figure(b, "restoreMetadataMaxBytes", "metadata one restoring rank reads, max", sorted[sorted.length - 1], "bytes", true);
        b.append("  },\n");
        List<Goal> goals = goals(r);
        b.append("  \"comparisons\": {\n");
        for (int i = 0; i < goals.size(); i++) {
            Goal g = goals.get(i);
            b.append("    ").append(JsonText.quote(g.key())).append(": {\"label\": ").append(JsonText.quote(g.label()))
                    .append(", \"figure\": ").append(JsonText.quote(g.figure())).append(", \"goal\": ")
                    .append(JsonText.quote(g.goal())).append(", \"met\": ").append(g.met()).append("}")
                    .append(i + 1 < goals.size() ? ",\n" : "\n");
        }
        b.append("  },\n");
        b.append("  \"goalsMet\": ").append(goals.stream().allMatch(Goal::met)).append(",\n");
        b.append("  \"wallNanos\": ").append(r.wallNanos()).append("\n}");
        return b.toString();
    }

    private static long median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted.length == 0 ? 0 : sorted[sorted.length / 2];
    }

    private static long max(long[] values) {
        return Arrays.stream(values).max().orElse(0);
    }

    private static void figure(StringBuilder b, String key, String label, long value, String unit, boolean last) {
        b.append("    ").append(JsonText.quote(key)).append(": {\"label\": ").append(JsonText.quote(label))
                .append(", \"value\": ").append(value).append(", \"unit\": ").append(JsonText.quote(unit)).append("}")
                .append(last ? "\n" : ",\n");
    }

    private static String kinds(Map<RequestKind, Long> byKind) {
        StringBuilder b = new StringBuilder("{");
        for (RequestKind kind : RequestKind.values()) {
            b.append(b.length() > 1 ? ", " : "").append(JsonText.quote(kind.name())).append(": ")
                    .append(byKind.getOrDefault(kind, 0L));
        }
        return b.append("}").toString();
    }

    /** The kinds with requests, "LIST 3, HEAD 1". */
    private static String nonZero(Map<RequestKind, Long> byKind) {
        StringBuilder b = new StringBuilder();
        for (RequestKind kind : RequestKind.values()) {
            long n = byKind.getOrDefault(kind, 0L);
            if (n > 0) {
                b.append(b.length() > 0 ? ", " : "").append(kind).append(' ').append(count(n));
            }
        }
        return b.length() == 0 ? "none" : b.toString();
    }

    private static String strings(List<String> values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.size(); i++) {
            b.append(i > 0 ? ", " : "").append(JsonText.quote(values.get(i)));
        }
        return b.append("]").toString();
    }

    private interface Cell {
        String of(Checkpoint c);
    }

    private static void row(PrintStream out, String format, String label, List<Checkpoint> cs, Cell cell) {
        Object[] cells = new Object[cs.size() + 1];
        cells[0] = label;
        for (int i = 0; i < cs.size(); i++) {
            cells[i + 1] = cell.of(cs.get(i));
        }
        out.printf(Locale.ROOT, format, cells);
    }

    private static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    private static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.2f s", nanos / 1e9);
    }

    private static String tail(String s, int width) {
        return s.length() <= width ? s : "..." + s.substring(s.length() - width + 3);
    }
}
