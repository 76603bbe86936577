package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** A committed step copied to a slower tier and committed there (or failed to). */
@Name(PromotionEvent.NAME)
@Label("Cairn Promotion")
@Category("cairn")
@Description("A step promoted from the first tier of its save to a slower tier, or failed to")
@StackTrace(false)
final class PromotionEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.Promotion";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Source Tier")
    String source;
    @Label("Tier")
    String tier;
    @Label("Step")
    long step;
    @Label("Promotion Time")
    @Description("From the commit in the source tier to the commit in this one")
    @Timespan(Timespan.NANOSECONDS)
    long promotionTime;
    @Label("Time To Commit")
    @Description("From the save call to the commit in this tier")
    @Timespan(Timespan.NANOSECONDS)
    long timeToCommit;
    @Label("Lag In Steps")
    @Description("Newest step saved when this promotion committed, minus this step")
    long lagSteps;
    @Label("Chunks")
    long chunks;
    @Label("Chunks Written")
    long chunksWritten;
    @Label("Raw Bytes")
    @DataAmount
    long rawBytes;
    @Label("Stored Bytes")
    @DataAmount
    long storedBytes;
    @Label("Bytes Written")
    @DataAmount
    long bytesWritten;
    @Label("Failure")
    @Description("Empty when committed, else the reason")
    String failure;
}
