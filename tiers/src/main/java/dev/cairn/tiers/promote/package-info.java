/**
 * Promotion: a step is written by the pipeline to its fastest tier only; once committed there, it is copied to each
 * slower tier that takes the step, from its stored chunks (verbatim, or whole where the source holds a difference,
 * or re-encoded where the target's level is stronger), skipping chunks the target holds (its manifest records the
 * form the target holds them in), with the target's MANIFEST last. Training never waits on a slow tier.
 */
package dev.cairn.tiers.promote;
