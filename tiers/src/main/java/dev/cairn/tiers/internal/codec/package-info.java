/**
 * What a chunk becomes on its way to storage: its content hash (the key that makes dedup and cross-tier repair
 * exact: {@link dev.cairn.tiers.internal.codec.ContentHash}, XXH3-128 for new saves and MurmurHash3 for checkpoints of
 * manifest formats 1 and 2) and its stored form (a standard zstd frame that the {@code zstd} tool can read): one of
 * the {@link dev.cairn.tiers.internal.codec.Codec}s, named by a {@link dev.cairn.tiers.internal.codec.StoredChunkHeader},
 * chosen by probing a sample or reused from an earlier save of the same chunk position
 * ({@link dev.cairn.tiers.internal.codec.CodecChoice}). The off-heap
 * scratch of encoders and readers is owned ({@link dev.cairn.tiers.internal.codec.Scratch}) and freed with its owner.
 */
package dev.cairn.tiers.internal.codec;
