package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/** One {@code save} call: what the caller waited for (the stall) and what it handed over. */
@Name(SaveEvent.NAME)
@Label("Cairn Save")
@Category("cairn")
@Description("One save call: the stall the training thread waited for, and the state it handed over")
@StackTrace(false)
final class SaveEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.Save";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("Step")
    long step;
    @Label("Mode")
    String mode;
    @Label("Tiers")
    @Description("The tiers this step goes to, fastest first, comma-separated")
    String tiers;
    @Label("Stall")
    @Timespan(Timespan.NANOSECONDS)
    long stall;
    @Label("Raw Bytes")
    @DataAmount
    long rawBytes;
    @Label("Chunks")
    long chunks;
    @Label("Staging Used")
    @Description("Staging in use when the call returned: slabs handed out times the chunk size")
    @DataAmount
    long stagingUsed;
    @Label("Staging Limit")
    @DataAmount
    long stagingLimit;
}
