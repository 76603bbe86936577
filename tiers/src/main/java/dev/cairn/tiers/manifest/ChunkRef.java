package dev.cairn.tiers.manifest;

/**
 * One stored chunk of an entry: bytes {@code [offset, offset + rawLength)} of the entry, kept under its content
 * {@code hash} as {@code storedLength} bytes encoded with {@code codec}.
 */
public record ChunkRef(long offset, long rawLength, String hash, String codec, long storedLength) {
}
