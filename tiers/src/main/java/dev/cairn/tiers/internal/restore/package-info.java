/**
 * Restore: choose the newest committed step and the fastest tier that holds it, fetch every chunk in parallel,
 * decode it into its place, verify its hash, and fetch a missing or corrupt chunk from the next tier that holds
 * the same content. Reading a stored chunk (whole, its header, a differential chain) is {@link
 * dev.cairn.tiers.internal.restore.StoredChunks}', which save and promotion read through too. A multi-rank restore
 * also removes the rank's own indexes of later steps that never committed, and of every step when none is committed
 * yet, as long as the rank has not saved ({@code StaleIndexCleanUp}).
 */
package dev.cairn.tiers.internal.restore;
