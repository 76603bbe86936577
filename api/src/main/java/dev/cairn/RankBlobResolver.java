package dev.cairn;

import java.nio.ByteBuffer;
import java.util.Map;

/**
 * Chooses a rank's per-rank blob (see {@link Blob#perRank}) when a checkpoint is restored on a different number of
 * ranks than saved it: there is no rank-for-rank match, and only the application knows whether to take rank 0's
 * RNG state, merge data-loader positions, or start fresh.
 *
 * <pre>{@code
 * RestoreRequest.latest().into(state).onRankBlobs((name, saved, savedWorld, rank, world) -> saved.get(rank % savedWorld))
 * }</pre>
 */
@FunctionalInterface
public interface RankBlobResolver {
    /**
     * The bytes of blob {@code name} for {@code rank} of {@code worldSize}, given every saving rank's copy (read-only
     * buffers by saving rank); null leaves the blob out of the restored state.
     */
    ByteBuffer resolve(String name, Map<Integer, ByteBuffer> savedByRank, int savedWorldSize, int rank, int worldSize);
}
