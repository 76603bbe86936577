package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** A step committed (or failed to commit) in the first tier of its save. */
@Name(TierCommitEvent.NAME)
@Label("Cairn Tier Commit")
@Category("cairn")
@Description("A step committed in the first tier of its save, or failed to")
@StackTrace(false)
final class TierCommitEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.TierCommit";

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
}
