package dev.cairn.tiers.internal.pipeline;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The saves of this checkpointer that have started and not finished (each until its handle's {@code done()}
 * completes), by step: what retention must not take for abandoned, what the busy policy looks at, and what shutdown
 * and close wait for.
 */
public final class InFlightSaves {
    private final Map<Long, SaveJob> jobs = new ConcurrentHashMap<>();

    /** Keeps {@code job} until its handle's {@code done()} completes. */
    public void add(SaveJob job) {
        jobs.put(job.step(), job);
        job.handle().done().whenComplete((r, e) -> jobs.remove(job.step(), job));
    }

    /** The steps in flight now. */
    public Set<Long> steps() {
        return Set.copyOf(jobs.keySet());
    }

    /** The jobs in flight now. */
    public Collection<SaveJob> jobs() {
        return List.copyOf(jobs.values());
    }

    /**
     * Waits until {@code System.nanoTime()} reaches {@code until} for every save in flight now to finish, failed or not.
     * Returns false when interrupted (the interrupt is kept).
     */
    public boolean awaitAll(long until) {
        for (SaveJob job : jobs()) {
            try {
                job.handle().done().get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            } catch (ExecutionException | TimeoutException e) {
                // that step failed, or is still going
            }
        }
        return true;
    }

    /**
     * Close: waits until {@code until} for each save in flight, and fails (CLOSED) each that has not finished by then.
     * Interrupted, it waits no more (each save not finished fails at once) and keeps the interrupt.
     */
    public void awaitOrExpire(long until) {
        boolean interrupted = false;
        for (SaveJob job : jobs()) {
            try {
                job.handle().done().get(interrupted ? 0 : Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                interrupted = true;
                job.expire(new CheckpointException(Reason.CLOSED, "checkpointer closed before step " + job.step() + " committed"));
            } catch (Exception e) {
                job.expire(new CheckpointException(Reason.CLOSED, "checkpointer closed before step " + job.step() + " committed"));
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
