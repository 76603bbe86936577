/**
 * Retention and garbage collection per tier: retire committed steps beyond keep-last-K (MANIFEST first, so a
 * step is uncommitted before any of its files go), drop abandoned steps, and sweep chunks that no retained
 * manifest references, sparing anything younger than the grace period or pinned by a save in flight. In a running
 * checkpointer, {@code Retention} decides who collects and where (rank 0 only; in a multi-rank run on a thread of its
 * own), and each tier's {@code commit.TierCommitter} runs it after each commit and when asked.
 */
package dev.cairn.tiers.internal.gc;
