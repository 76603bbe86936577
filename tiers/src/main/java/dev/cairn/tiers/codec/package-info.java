/**
 * What a chunk becomes on its way to storage: its content hash (the key that makes dedup and cross-tier repair
 * exact) and its stored form (a standard zstd frame that the {@code zstd} tool can read).
 */
package dev.cairn.tiers.codec;
