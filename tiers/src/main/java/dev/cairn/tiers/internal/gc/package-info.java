/**
 * Retention and garbage collection per tier: retire committed steps beyond keep-last-K (MANIFEST first, so a step is
 * uncommitted before any of its files go; then its indexes, commit notices and step marks) and delete the chunks no retained
 * manifest references, sparing anything pinned by a save in flight and, for a collector that cannot see the writer's
 * pins, anything younger than the grace period (a sweep) or anything retired less than the grace period ago (a
 * retirement). After a commit, {@code GarbageCollector#retire} learns what to delete from the manifests of the steps it
 * retires ({@code RetainedSteps}: what this process knows of the tier's steps and which chunks they reference; a
 * format-4 MANIFEST of several ranks names its chunks through the rank indexes it references, which go only with
 * their step, after its MANIFEST), with no listing, and deletes in batches ({@code ObjectStore#deleteAll}); a sweep ({@code GarbageCollector#collect}) lists
 * every step and chunk to find what no manifest names (steps that never committed, chunks of a save that died, and
 * deletions a stopped process still had pending) and the commit notices and step marks of steps no longer committed,
 * every {@code gcSweepEvery} commits counted in the tier across processes ({@code SweepSchedule}), and whenever asked
 * ({@code Checkpointer#gc}, {@code cairn gc}). In a running
 * checkpointer, {@code Retention} decides who collects, where and which kind (rank 0 only; in a multi-rank run on a
 * thread of its own), and each tier's {@code commit.TierCommitter} runs it after each commit and when asked.
 */
package dev.cairn.tiers.internal.gc;
