package dev.cairn;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * How the ranks of a multi-rank run meet while committing a checkpoint. By default (no coordinator configured)
 * they meet through the tier's store itself: rank 0 waits until every rank's index of the step is there, commits,
 * and the other ranks wait until the MANIFEST appears. A framework with its own barrier (torch.distributed, MPI,
 * a job scheduler's) plugs it in here and saves the polling.
 *
 * <p>The engine meets the ranks twice per step and tier: once after the rank's index is durable
 * ({@code "<run>/<tier>/<step>/indexed"}), and once after rank 0 has tried to commit
 * ({@code "<run>/<tier>/<step>/committed"}). What is committed is decided by rank 0's create-only MANIFEST alone: after
 * a plain barrier every rank checks the store for it, and rank 0's token at the second meeting (below) only reports
 * that create.
 *
 * <p>At the "indexed" barrier the engine calls {@link #allGather} instead, with a digest of the index bytes the rank
 * has just written. A coordinator that can pass those digests to rank 0 (Spark's {@code BarrierTaskContext.allGather}
 * can, MPI's {@code MPI_Allgather} and torch.distributed's {@code all_gather_object} can) lets rank 0 commit only the
 * indexes this very save's ranks wrote: an index that another writer put under the same key after its rank had
 * written it is refused with {@link CheckpointException.Reason#CONFLICT} instead of entering the MANIFEST. Such a
 * writer is what an engine that retries a whole stage leaves behind (a task of the failed attempt that is still
 * running, or whose write arrives late), so with it a retried stage never commits a mixture of two attempts. A
 * coordinator that cannot pass data keeps the default, which is {@link #barrier} alone.
 *
 * <p>At the "committed" barrier the engine calls {@link #allGather} too: rank 0 passes
 * {@code "created <manifest digest> <digest of the gathered index digests>"} when it created the step's MANIFEST,
 * {@code "failed <digest of the gathered index digests> <reason> <message>"} when it failed the step before trying to
 * create it (a rank of that gathering then fails at once with that reason instead of waiting for a MANIFEST that
 * cannot come), and an empty token otherwise (the create's outcome may be unknown: every rank asks the store). A rank whose own "indexed" gathering has the same digest, its own index's digest in
 * its place, knows its index is committed (rank 0 commits exactly the gathered digests) and does not read the
 * MANIFEST: one store round trip less on every rank's commit. Otherwise (no data passed, no {@code created}, another
 * gathering) each rank reads the MANIFEST, as after a plain barrier.
 */
@FunctionalInterface
public interface Coordinator {
    /**
     * Returns once every rank of the run has called {@code barrier} with the same {@code name}; throws a
     * {@link CheckpointException} with {@link CheckpointException.Reason#TIMEOUT} if that does not happen within
     * {@code timeout}.
     */
    void barrier(String name, int rank, int worldSize, Duration timeout);

    /**
     * {@link #barrier}, which also hands every rank the {@code token} each rank passed with the same {@code name}:
     * element {@code r} of the list is rank {@code r}'s. Empty when this coordinator cannot pass data (the default:
     * {@link #barrier} alone); the engine then commits without checking what the other ranks wrote.
     */
    default Optional<List<String>> allGather(String name, int rank, int worldSize, String token, Duration timeout) {
        barrier(name, rank, worldSize, timeout);
        return Optional.empty();
    }
}
