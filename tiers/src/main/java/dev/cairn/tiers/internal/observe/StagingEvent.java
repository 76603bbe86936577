package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Period;
import jdk.jfr.StackTrace;

/** Staging in use (slabs handed out times the chunk size), sampled by the recording's period (every second by default) while a checkpointer is open. */
@Name(StagingEvent.NAME)
@Label("Cairn Staging")
@Category("cairn")
@Period("1 s")
@StackTrace(false)
final class StagingEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.Staging";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Used")
    @DataAmount
    long used;
    @Label("Limit")
    @DataAmount
    long limit;
}
