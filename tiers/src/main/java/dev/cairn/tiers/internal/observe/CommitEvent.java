package dev.cairn.tiers.internal.observe;

import dev.cairn.CommitReport;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Timespan;

/**
 * The fields a step's commit in one tier records, whether it was the first tier of its save
 * ({@link TierCommitEvent}) or a promotion ({@link PromotionEvent}); abstract, so not an event type of its own.
 */
abstract class CommitEvent extends jdk.jfr.Event {
    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Tier")
    String tier;
    @Label("Step")
    long step;
    @Label("Time To Commit")
    @Description("From the save call to the commit in this tier")
    @Timespan(Timespan.NANOSECONDS)
    long timeToCommit;
    @Label("Chunks")
    long chunks;
    @Label("Chunks Written")
    long chunksWritten;
    @Label("Raw Bytes")
    @DataAmount
    long rawBytes;
    @Label("Stored Bytes")
    @Description("Bytes of every chunk the checkpoint references, as stored")
    @DataAmount
    long storedBytes;
    @Label("Bytes Written")
    @Description("Bytes this save wrote to the tier: new chunks, index and manifest")
    @DataAmount
    long bytesWritten;
    @Label("Failure")
    @Description("Empty when committed, else the reason")
    String failure;

    /** Fills the shared fields; {@code report} is null when the commit failed ({@code failure} then says why). */
    void fill(String run, int rank, String tier, long step, long timeToCommit, String failure, CommitReport report) {
        this.run = run;
        this.rank = rank;
        this.tier = tier;
        this.step = step;
        this.timeToCommit = timeToCommit;
        this.failure = failure;
        if (report != null) {
            chunks = report.chunks();
            chunksWritten = report.chunksWritten();
            rawBytes = report.rawBytes();
            storedBytes = report.storedBytes();
            bytesWritten = report.bytesWritten();
        }
    }
}
