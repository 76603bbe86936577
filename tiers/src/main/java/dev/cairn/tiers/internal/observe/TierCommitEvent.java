package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** A step committed (or failed to commit) in the first tier of its save. */
@Name(TierCommitEvent.NAME)
@Label("Cairn Tier Commit")
@Category("cairn")
@Description("A step committed in the first tier of its save, or failed to")
@StackTrace(false)
final class TierCommitEvent extends CommitEvent {
    static final String NAME = "cairn.TierCommit";
}
