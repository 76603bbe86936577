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
 * <p>The engine calls {@link #barrier} twice per step and tier, on every rank: once after the rank's index is
 * durable ({@code "<run>/<tier>/<step>/indexed"}), and once after rank 0 has tried to commit
 * ({@code "<run>/<tier>/<step>/committed"}); it then checks the store for the MANIFEST, so a barrier only orders
 * ranks and never decides what is committed.
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
 * <p>At the "committed" barrier the engine calls {@link #allGather} too: rank 0 passes {@code "created <digest>"} when it
 * created the step's MANIFEST (the SHA-256 of its bytes) and an empty token when it did not. Where the "indexed"
 * gathering passed the digests, a rank that receives rank 0's {@code created} token knows its own index is committed
 * (rank 0 commits exactly the gathered digests) and does not read the MANIFEST: one store round trip less on every
 * rank's commit. Otherwise (no data passed, or no {@code created}) each rank reads the MANIFEST, as after a plain
 * barrier.
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
