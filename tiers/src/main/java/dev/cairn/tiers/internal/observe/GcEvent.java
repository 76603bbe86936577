package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** One garbage collection of one tier. */
@Name(GcEvent.NAME)
@Label("Cairn GC")
@Category("cairn")
@StackTrace(false)
final class GcEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.Gc";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Tier")
    String tier;
    @Label("Dry Run")
    boolean dryRun;
    @Label("GC Time")
    @Timespan(Timespan.NANOSECONDS)
    long gcTime;
    @Label("Steps Retired")
    int stepsRetired;
    @Label("Steps Abandoned")
    int stepsAbandoned;
    @Label("Chunks Deleted")
    long chunksDeleted;
    @Label("Bytes Freed")
    @DataAmount
    long bytesFreed;
}
