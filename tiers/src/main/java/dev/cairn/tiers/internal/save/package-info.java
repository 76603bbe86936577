/**
 * Admission of a save, before the pipeline: the checks that refuse it before anything is written (closed, bad step,
 * step already committed, against each tier's newest committed step listed at open), the busy policy, the deadline,
 * and the hand-off to the pipeline ({@code pipeline.SavePipeline}) or, for a save with no chunks, to its first tier's
 * commit.
 */
package dev.cairn.tiers.internal.save;
