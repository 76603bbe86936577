package dev.cairn;

import java.time.Duration;

/**
 * How the ranks of a multi-rank run meet while committing a checkpoint. By default (no coordinator configured)
 * they meet through the tier's store itself: rank 0 waits until every rank's index of the step is there, commits,
 * and the other ranks wait until the MANIFEST appears. A framework with its own barrier (torch.distributed, MPI,
 * a job scheduler's) plugs it in here and saves the polling.
 *
 * <p>The engine calls {@link #barrier} twice per step and tier, on every rank: once after the rank's index is
 * durable ({@code "<run>/<tier>/<step>/indexed"}), and once after rank 0 has tried to commit
 * ({@code "<run>/<tier>/<step>/committed"}); it then checks the store for the MANIFEST, so a barrier only orders
 * ranks and never decides what is committed.
 */
@FunctionalInterface
public interface Coordinator {
    /**
     * Returns once every rank of the run has called {@code barrier} with the same {@code name}; throws a
     * {@link CheckpointException} with {@link CheckpointException.Reason#TIMEOUT} if that does not happen within
     * {@code timeout}.
     */
    void barrier(String name, int rank, int worldSize, Duration timeout);
}
