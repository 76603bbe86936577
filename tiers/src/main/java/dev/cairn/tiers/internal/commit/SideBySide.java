package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;

/**
 * {@link WaitClock#sideBySide} on the system's threads: the calls of a multi-rank commit that are each a round trip
 * to the store (rank 0's reads of the indexes as they land, its commit notices), in flight together on a shared pool
 * of daemon threads, a semaphore bounding how many of one batch run at once.
 */
final class SideBySide {
    private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "cairn-commit-io");
        t.setDaemon(true);
        return t;
    });

    private SideBySide() {
    }

    static <T> List<T> run(List<WaitClock.Call<T>> calls, int inFlight) throws IOException {
        if (inFlight < 1) {
            throw new IllegalArgumentException("inFlight must be at least 1: " + inFlight);
        }
        Semaphore slots = new Semaphore(inFlight);
        List<CompletableFuture<T>> running = new ArrayList<>(calls.size());
        try {
            for (WaitClock.Call<T> call : calls) {
                slots.acquire();
                running.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return call.run();
                    } catch (IOException e) {
                        throw new CompletionException(e);
                    } finally {
                        slots.release();
                    }
                }, POOL));
            }
            List<T> results = new ArrayList<>(running.size());
            Throwable failure = null;
            for (CompletableFuture<T> f : running) {
                try {
                    results.add(f.get());
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause() instanceof CompletionException c && c.getCause() != null ? c.getCause()
                                : e.getCause();
                    }
                    results.add(null);
                }
            }
            if (failure instanceof IOException io) {
                throw io;
            }
            if (failure instanceof RuntimeException r) {
                throw r;
            }
            if (failure instanceof Error err) {
                throw err;
            }
            return results;
        } catch (InterruptedException e) {
            running.forEach(f -> f.cancel(true));
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "the checkpointer closed while a multi-rank commit waited for the store");
        }
    }
}
