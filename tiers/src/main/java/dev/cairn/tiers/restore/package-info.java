/**
 * Restore: choose the newest committed step and the fastest tier that holds it, fetch every chunk in parallel,
 * decode it into its place, verify its hash, and fetch a missing or corrupt chunk from the next tier that holds
 * the same content.
 */
package dev.cairn.tiers.restore;
