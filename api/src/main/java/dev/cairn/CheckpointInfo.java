package dev.cairn;

import java.time.Instant;

/**
 * A committed checkpoint as one tier holds it.
 *
 * @param worldSize   ranks that wrote it
 * @param rawBytes    bytes of the state
 * @param storedBytes bytes of its chunks as stored
 */
public record CheckpointInfo(String run, long step, String tier, int worldSize, int entries, long rawBytes,
                             long storedBytes, Instant committedAt) {
}
