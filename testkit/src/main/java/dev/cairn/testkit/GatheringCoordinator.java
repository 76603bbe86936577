package dev.cairn.testkit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A framework's barrier for ranks in one JVM that also gathers each rank's token, as {@code MPI_Allgather},
 * {@code torch.distributed.all_gather_object} or Spark's {@code allGather} do: one {@link CyclicBarrier} per name. Before
 * it lets the ranks go from the barrier named {@code interfereAt}, {@code interference} runs once: another writer acting
 * between the ranks' arrivals and what they do next.
 */
public final class GatheringCoordinator implements Coordinator {
    private final Map<String, CyclicBarrier> barriers = new ConcurrentHashMap<>();
    private final Map<String, String[]> tokens = new ConcurrentHashMap<>();
    private final String interfereAt;
    private final Runnable interference;

    public GatheringCoordinator() {
        this("", () -> { });
    }

    public GatheringCoordinator(String interfereAt, Runnable interference) {
        this.interfereAt = interfereAt;
        this.interference = interference;
    }

    @Override
    public void barrier(String name, int rank, int world, Duration timeout) {
        allGather(name, rank, world, "", timeout);
    }

    @Override
    public Optional<List<String>> allGather(String name, int rank, int world, String token, Duration timeout) {
        String[] all = tokens.computeIfAbsent(name, k -> new String[world]);
        all[rank] = token;
        Runnable last = name.equals(interfereAt) ? interference : () -> { };
        try {
            barriers.computeIfAbsent(name, k -> new CyclicBarrier(world, last)).await(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException | BrokenBarrierException e) {
            throw new CheckpointException(Reason.TIMEOUT, "barrier " + name + " timed out");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "interrupted");
        }
        return Optional.of(List.of(all));
    }
}
