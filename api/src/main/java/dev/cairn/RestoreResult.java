package dev.cairn;

import java.util.List;
import java.util.Map;

/**
 * A restored checkpoint.
 *
 * @param step           the step restored
 * @param state          tensors (the caller's when restored into them) and blobs
 * @param tier           the tier whose manifest was used: the fastest that held the step
 * @param bytesReadByTier stored bytes fetched from each tier, including repairs
 * @param chunksRepaired chunks that were missing or corrupt in {@code tier} and were fetched from another tier
 * @param warnings       what the caller should know about the restored values: one line per entry that was saved
 *                       lossy ({@link CairnConfig.Builder#lossy}), naming it and its relative error bound
 */
public record RestoreResult(long step, TrainingState state, String tier, Map<String, Long> bytesReadByTier,
                            int chunksRepaired, List<String> warnings) {
    public RestoreResult {
        warnings = List.copyOf(warnings);
    }

    /** A result without warnings. */
    public RestoreResult(long step, TrainingState state, String tier, Map<String, Long> bytesReadByTier, int chunksRepaired) {
        this(step, state, tier, bytesReadByTier, chunksRepaired, List.of());
    }
}
