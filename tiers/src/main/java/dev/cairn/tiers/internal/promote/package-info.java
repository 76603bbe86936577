/**
 * Promotion: a step is written by the pipeline to its fastest tier only; once committed there, it is copied to each
 * slower tier that takes the step, chunk by chunk from the source's stored form: copied as stored, except that a
 * differential chunk is rebuilt and re-encoded whole (slower tiers hold no chains), and a whole chunk is re-encoded
 * at the target's zstd level when that level is stronger than the source's, the chunk is not stored raw, and the
 * result is smaller. Chunks the target already holds are not copied (its manifest records the form the target holds
 * them in); the target's MANIFEST is written last, by the target's {@code commit.TierCommitter}. Copies run on the
 * target's I/O threads. Training never waits on a slow tier. On a shutdown signal ({@code persistOnShutdown}),
 * {@code PersistNewest} promotes the newest step of the first tier to every slower tier that lacks it.
 */
package dev.cairn.tiers.internal.promote;
