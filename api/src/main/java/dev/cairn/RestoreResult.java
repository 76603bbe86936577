package dev.cairn;

import java.util.Map;

/**
 * A restored checkpoint.
 *
 * @param step           the step restored
 * @param state          tensors (the caller's when restored into them) and blobs
 * @param tier           the tier whose manifest was used: the fastest that held the step
 * @param bytesReadByTier stored bytes fetched from each tier, including repairs
 * @param chunksRepaired chunks that were missing or corrupt in {@code tier} and were fetched from another tier
 */
public record RestoreResult(long step, TrainingState state, String tier, Map<String, Long> bytesReadByTier,
                            int chunksRepaired) {
}
