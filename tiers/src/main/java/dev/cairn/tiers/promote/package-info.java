/**
 * Promotion: a step is written by the pipeline to its fastest tier only; once committed there, it is copied to each
 * slower tier that takes the step, from its stored chunks (no re-encoding), skipping chunks the target holds, with
 * the target's MANIFEST last. Training never waits on a slow tier.
 */
package dev.cairn.tiers.promote;
