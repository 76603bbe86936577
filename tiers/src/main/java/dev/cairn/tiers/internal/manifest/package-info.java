/**
 * The manifest: what a committed checkpoint holds, as an Apache Arrow IPC file that any Arrow reader can open.
 * The same format serves the per-rank index (written before the commit) and the MANIFEST (the commit).
 */
package dev.cairn.tiers.internal.manifest;
