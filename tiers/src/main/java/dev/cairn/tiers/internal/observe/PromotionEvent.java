package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
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
final class PromotionEvent extends CommitEvent {
    static final String NAME = "cairn.Promotion";

    @Label("Source Tier")
    String source;
    @Label("Promotion Time")
    @Description("From the commit in the source tier to the commit in this one")
    @Timespan(Timespan.NANOSECONDS)
    long promotionTime;
    @Label("Lag In Steps")
    @Description("Newest step saved when this promotion committed, minus this step")
    long lagSteps;
}
