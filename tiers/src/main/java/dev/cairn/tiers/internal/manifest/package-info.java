/**
 * The manifest: what a committed checkpoint holds, as an Apache Arrow IPC file that any Arrow reader can open.
 * The same format serves the per-rank index (written before the commit) and the MANIFEST (the commit). From format 4
 * a MANIFEST of several ranks keeps a row per entry and rank and references each rank's index by length and SHA-256
 * ({@link dev.cairn.tiers.internal.manifest.IndexedRows}); the chunk rows stay in the indexes, and
 * {@link dev.cairn.tiers.internal.manifest.CommittedManifest} is the one reader that follows the references, for the
 * ranks a restore needs or for all of them.
 */
package dev.cairn.tiers.internal.manifest;
