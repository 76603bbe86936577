package dev.cairn.cli.report;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalDouble;

/**
 * One tier's numbers from a recording, and the checkpoint interval Young's formula recommends for it.
 *
 * <p>Young (1974), refined by Daly (2006): with a failure every {@code M} seconds on average and a checkpoint that
 * costs {@code C} seconds, the interval that minimises expected lost work plus checkpoint cost is about
 * {@code sqrt(2 C M)}. For a tier {@code C} is the tier's mean time to commit, from the save call to the commit there:
 * how long a step's work is exposed before this tier holds it, and so how often this tier can usefully take a step.
 * The recommendation is never below {@code C} itself (a tier cannot commit faster than it commits). Intervals in steps
 * use the run's measured seconds per step, the median spacing of its save calls.
 *
 * @param commits           checkpoints committed in this tier
 * @param failures          commits or promotions into this tier that failed
 * @param meanTimeToCommit  seconds from the save call to the commit here, mean over the committed ones
 * @param p99TimeToCommit   the same, 99th percentile (nearest rank)
 * @param meanStall         seconds the caller blocked, mean over the saves that went to this tier
 * @param meanPromotion     seconds from the first tier's commit to this one's (0 for a first tier)
 * @param maxLagSteps       the most steps the newest save was ahead of a promotion into this tier when it committed
 * @param meanBytesWritten  bytes written per committed checkpoint (new chunks, index, manifest)
 * @param compressionRatio  raw bytes over stored bytes, over every committed checkpoint
 * @param dedupRatio        stored bytes referenced over bytes written
 * @param restores          restores that read this tier's manifest
 * @param meanRestore       seconds, mean over those restores
 * @param restoreBytes      bytes restores read from this tier (as the chosen tier or for repairs)
 * @param gcRuns            collections of this tier (dry runs left out)
 * @param bytesFreed        bytes those collections deleted
 * @param everySteps        the configured interval in steps, 0 when the recording does not say
 * @param secondsPerStep    the run's measured seconds per step, 0 when fewer than two saves were recorded
 * @param recommendedSeconds the Young/Daly interval for the given MTBF, 0 when no commit was recorded
 */
public record TierSummary(String tier, int commits, int failures, double meanTimeToCommit, double p99TimeToCommit,
                          double meanStall, double meanPromotion, long maxLagSteps, double meanBytesWritten,
                          double compressionRatio, double dedupRatio, int restores, double meanRestore, long restoreBytes,
                          int gcRuns, long bytesFreed, long everySteps, double secondsPerStep, double recommendedSeconds) {

    /** The configured interval in seconds at the measured pace; 0 when either is unknown. */
    public double configuredSeconds() {
        return everySteps * secondsPerStep;
    }

    /** The recommended interval in whole steps (at least 1); 0 when the pace or the cost is unknown. */
    public long recommendedSteps() {
        if (secondsPerStep <= 0 || recommendedSeconds <= 0) {
            return 0;
        }
        return Math.max(1, Math.round(recommendedSeconds / secondsPerStep));
    }

    /** Young's interval {@code sqrt(2 C M)}, not below {@code C}. */
    public static double youngDaly(double costSeconds, double mtbfSeconds) {
        if (costSeconds <= 0 || mtbfSeconds <= 0) {
            return 0;
        }
        return Math.max(costSeconds, Math.sqrt(2 * costSeconds * mtbfSeconds));
    }

    /** Every tier of {@code recording}, fastest first. */
    public static List<TierSummary> of(RunRecording recording, Duration mtbf) {
        double pace = secondsPerStep(recording.saves());
        List<TierSummary> out = new ArrayList<>();
        for (String tier : recording.tierNames()) {
            out.add(of(recording, tier, pace, mtbf.toNanos() / 1e9));
        }
        return out;
    }

    private static TierSummary of(RunRecording r, String tier, double pace, double mtbf) {
        List<Double> ttc = new ArrayList<>();
        double promotion = 0;
        long lag = 0;
        long raw = 0;
        long stored = 0;
        long written = 0;
        int failures = 0;
        for (RunRecording.Commit c : r.commits()) {
            if (!c.tier().equals(tier)) {
                continue;
            }
            if (c.failed()) {
                failures++;
                continue;
            }
            ttc.add(seconds(c.timeToCommit()));
            promotion += seconds(c.promotionTime());
            lag = Math.max(lag, c.lagSteps());
            raw += c.rawBytes();
            stored += c.storedBytes();
            written += c.bytesWritten();
        }
        double stall = mean(r.saves().stream().filter(s -> s.tiers().contains(tier)).mapToDouble(s -> seconds(s.stall())).average());
        int restores = 0;
        double restoreTime = 0;
        long restoreBytes = 0;
        for (RunRecording.Restore x : r.restores()) {
            if (x.tier().equals(tier) && x.failure().isEmpty()) {
                restores++;
                restoreTime += seconds(x.time());
            }
        }
        for (RunRecording.Restore x : r.restores()) {
            restoreBytes += x.bytesByTier().getOrDefault(tier, 0L);
        }
        int gcRuns = 0;
        long freed = 0;
        for (RunRecording.Gc g : r.gcs()) {
            if (g.tier().equals(tier) && !g.dryRun()) {
                gcRuns++;
                freed += g.bytesFreed();
            }
        }
        int n = ttc.size();
        double meanTtc = n == 0 ? 0 : ttc.stream().mapToDouble(Double::doubleValue).sum() / n;
        Collections.sort(ttc);
        double p99 = n == 0 ? 0 : ttc.get(Math.min(n - 1, (int) Math.ceil(0.99 * n) - 1));
        long every = r.setting(tier).map(RunRecording.TierSetting::everySteps).orElse(0L);
        return new TierSummary(tier, n, failures, meanTtc, p99, stall, n == 0 ? 0 : promotion / n, lag,
                n == 0 ? 0 : (double) written / n, stored == 0 ? 0 : (double) raw / stored, written == 0 ? 0 : (double) stored / written,
                restores, restores == 0 ? 0 : restoreTime / restores, restoreBytes, gcRuns, freed, every, pace,
                youngDaly(meanTtc, mtbf));
    }

    /** The median of (time between consecutive saves) / (steps between them). */
    static double secondsPerStep(List<RunRecording.Save> saves) {
        List<Double> paces = new ArrayList<>();
        for (int i = 1; i < saves.size(); i++) {
            RunRecording.Save a = saves.get(i - 1);
            RunRecording.Save b = saves.get(i);
            long steps = b.step() - a.step();
            if (steps > 0 && a.run().equals(b.run()) && a.rank() == b.rank()) {
                paces.add(seconds(Duration.between(a.at(), b.at())) / steps);
            }
        }
        if (paces.isEmpty()) {
            return 0;
        }
        Collections.sort(paces);
        int m = paces.size();
        return m % 2 == 1 ? paces.get(m / 2) : (paces.get(m / 2 - 1) + paces.get(m / 2)) / 2;
    }

    private static double mean(OptionalDouble d) {
        return d.orElse(0);
    }

    static double seconds(Duration d) {
        return d.toNanos() / 1e9;
    }
}
