/**
 * Retention and garbage collection per tier: retire committed steps beyond keep-last-K (MANIFEST first, so a
 * step is uncommitted before any of its files go), drop abandoned steps, and sweep chunks that no retained
 * manifest references, sparing anything younger than the grace period or pinned by a save in flight.
 */
package dev.cairn.tiers.internal.gc;
