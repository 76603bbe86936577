/**
 * The manifest: what a committed checkpoint holds, as an Apache Arrow IPC file that any Arrow reader can open.
 * The same format serves the per-rank index (written before the commit) and the MANIFEST (the commit). A MANIFEST of
 * several ranks keeps the chunk rows in the ranks' indexes, each bound by length and SHA-256; from format 5 even its row
 * per entry and rank lives in the pages of a directory under it ({@link dev.cairn.tiers.internal.manifest.PageTree},
 * {@link dev.cairn.tiers.internal.manifest.Pages}), each page bound likewise by the row that names it.
 * {@link dev.cairn.tiers.internal.manifest.CommittedManifest} is the one reader that follows the references: the pages
 * and indexes a restoring rank's slices need, or all of them for tools, GC and promotion. Format 4
 * ({@link dev.cairn.tiers.internal.manifest.IndexedRows} without pages) and older formats keep being read.
 */
package dev.cairn.tiers.internal.manifest;
