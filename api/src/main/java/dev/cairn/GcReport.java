package dev.cairn;

import java.util.List;

/**
 * What one garbage collection of one tier removed (or, in a dry run, would remove).
 *
 * @param stepsRetired committed steps dropped by retention
 * @param stepsAbandoned uncommitted steps older than the grace period
 * @param chunksDeleted  chunks no retained checkpoint references
 */
public record GcReport(String tier, boolean dryRun, List<Long> stepsRetired, List<Long> stepsAbandoned,
                       long chunksDeleted, long bytesDeleted) {
}
