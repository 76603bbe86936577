package dev.cairn;

/**
 * What one committed checkpoint cost in one tier.
 *
 * @param chunks       chunks the checkpoint references
 * @param chunksWritten chunks this save had to write (the others were already in the tier)
 * @param rawBytes     bytes of the state
 * @param storedBytes  bytes of all referenced chunks as stored (compressed)
 * @param bytesWritten bytes this save wrote to the tier: new chunks, index and manifest
 */
public record CommitReport(String tier, long step, long chunks, long chunksWritten, long rawBytes, long storedBytes,
                           long bytesWritten) {
}
