package dev.cairn.bench;

import dev.cairn.CheckpointException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** How the benchmarks wait for the engine: at most {@link #LIMIT}, failures rethrown as {@link CheckpointException}. */
final class CheckpointWait {
    /** The longest a benchmark waits for one save, and the engine's deadline in the benchmarks' configs. */
    static final Duration LIMIT = Duration.ofMinutes(5);

    private CheckpointWait() {
    }

    static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(LIMIT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException(CheckpointException.Reason.CLOSED, "benchmark interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CheckpointException c) {
                throw c;
            }
            throw new CheckpointException(CheckpointException.Reason.STORAGE, "save failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new CheckpointException(CheckpointException.Reason.TIMEOUT, "save did not finish within " + LIMIT, e);
        }
    }
}
