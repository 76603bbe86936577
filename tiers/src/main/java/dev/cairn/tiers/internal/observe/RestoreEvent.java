package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** One restore call. */
@Name(RestoreEvent.NAME)
@Label("Cairn Restore")
@Category("cairn")
@Description("One restore call: the tier it chose, the bytes read from each tier and the chunks repaired")
@StackTrace(false)
final class RestoreEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.Restore";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Step")
    @Description("The step restored; -1 when the restore failed")
    long step;
    @Label("Tier")
    @Description("The tier whose manifest the restore used")
    String tier;
    @Label("Restore Time")
    @Timespan(Timespan.NANOSECONDS)
    long restoreTime;
    @Label("Bytes Read")
    @DataAmount
    long bytesRead;
    @Label("Bytes Read By Tier")
    @Description("tier=bytes pairs, comma-separated")
    String bytesReadByTier;
    @Label("Chunks Repaired")
    @Description("Chunks read from another tier because the chosen one's copy was missing or bad")
    int chunksRepaired;
    @Label("Failure")
    @Description("Empty when restored, else the reason")
    String failure;
}
