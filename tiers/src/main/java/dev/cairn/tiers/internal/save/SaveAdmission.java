package dev.cairn.tiers.internal.save;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.SaveMode;
import dev.cairn.TrainingState;
import dev.cairn.WhenBusy;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.HighestCommitted;
import dev.cairn.tiers.internal.lifecycle.Lifecycle;
import dev.cairn.tiers.internal.pipeline.InFlightSaves;
import dev.cairn.tiers.internal.pipeline.SaveHandle;
import dev.cairn.tiers.internal.pipeline.SaveJob;
import dev.cairn.tiers.internal.pipeline.SavePipeline;
import dev.cairn.tiers.internal.pipeline.SavePlan;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Admits a save: checks it (open, a state and a mode, a step that is not negative, after the last saved one and not
 * already committed in a tier, one it goes to or, as far as is known without waiting, another; the {@link SavePlan}
 * checks the state itself), applies the busy policy
 * ({@link WhenBusy}), registers the job in flight with its deadline, and starts it: into the pipeline, or straight to
 * its first tier's commit when it has no chunks. Everything it refuses is refused before anything is written.
 *
 * <p>Saves are admitted one at a time, under the {@link Lifecycle}'s monitor, so that steps only go up and a close
 * sees every save admitted before it.
 */
public final class SaveAdmission {
    private final CairnConfig config;
    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final HighestCommitted highestCommitted;
    private final InFlightSaves inFlight;
    private final SavePipeline pipeline;
    private final ScheduledExecutorService deadlines;
    private final Lifecycle lifecycle;
    private final Consumer<SaveJob> firstTierWritten;
    /** Guarded by the lifecycle's monitor. */
    private long lastStep = -1;

    /**
     * @param deadlines        fails a save that has not finished within the configured deadline
     * @param firstTierWritten a job's first-tier commit, on one of that tier's I/O threads (for a job with no chunks)
     */
    public SaveAdmission(CairnConfig config, List<Tier> tiers, CommitProtocol commits, HighestCommitted highestCommitted,
                         InFlightSaves inFlight, SavePipeline pipeline, ScheduledExecutorService deadlines,
                         Lifecycle lifecycle, Consumer<SaveJob> firstTierWritten) {
        this.config = config;
        this.tiers = tiers;
        this.commits = commits;
        this.highestCommitted = highestCommitted;
        this.inFlight = inFlight;
        this.pipeline = pipeline;
        this.deadlines = deadlines;
        this.lifecycle = lifecycle;
        this.firstTierWritten = firstTierWritten;
    }

    /** Admits and starts the save of {@code step}, or throws the {@link CheckpointException} that refuses it. */
    public CheckpointHandle start(long step, TrainingState state, SaveMode mode) {
        synchronized (lifecycle) {
            lifecycle.checkOpen();
            return startOpen(step, state, mode);
        }
    }

    private CheckpointHandle startOpen(long step, TrainingState state, SaveMode mode) {
        if (state == null || mode == null) {
            throw new CheckpointException(Reason.INVALID_INPUT, "save of step " + step + " needs a state and a mode");
        }
        if (step < 0) {
            throw new CheckpointException(Reason.INVALID_INPUT, "step must not be negative, was " + step);
        }
        if (step <= lastStep) {
            throw new CheckpointException(Reason.CONFLICT, "step " + step + " is not after the last saved step " + lastStep);
        }
        List<Tier> targets = new ArrayList<>();
        for (Tier t : tiers) {
            if (t.config().takes(step)) {
                targets.add(t);
                try {
                    if (step <= highestCommitted.atFirstSave(t) && commits.isCommitted(t, step)) {
                        throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier " + t.name());
                    }
                } catch (IOException e) {
                    throw new CheckpointException(Reason.STORAGE, "tier " + t.name() + " cannot be read: " + e.getMessage(), e);
                }
            } else if (committedElsewhere(t, step)) {
                // Another save's commit of this step (an earlier run's, persisted on shutdown or saved under another
                // interval): two commits of one step in two tiers, and a restore would take either, or rows of both.
                throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier " + t.name()
                        + " (by another save: this one does not go there), so it cannot be saved again in this run");
            }
        }
        SavePlan plan = new SavePlan(step, state, mode, config.chunkBytes(), config.rank(), config.worldSize(),
                config.lossyEntries().orElse(null), config.lossyMantissaBits());
        lastStep = step;
        if (!targets.isEmpty() && config.whenBusy() == WhenBusy.SKIP) {
            String busy = busyWith();
            if (busy != null) {
                return SaveHandle.skipped(step, busy);
            }
        }
        if (targets.isEmpty()) {
            SaveJob nowhere = new SaveJob(plan, new Tier[0]);
            nowhere.completeCapture();
            return nowhere.handle();
        }
        SaveJob job = new SaveJob(plan, targets.toArray(new Tier[0]));
        inFlight.add(job);
        // The timer must not outlive the job: it holds the job, and so the caller's buffers, until it fires.
        ScheduledFuture<?> timer = deadlines.schedule(() -> job.expire(new CheckpointException(Reason.TIMEOUT,
                "save of step " + step + " did not finish within " + config.deadline())), config.deadline().toNanos(), TimeUnit.NANOSECONDS);
        job.handle().done().whenComplete((r, e) -> timer.cancel(false));
        if (job.chunkCount() == 0) {
            job.completeCapture();
            try {
                job.tier(0).io().execute(() -> firstTierWritten.accept(job));
            } catch (RejectedExecutionException closing) {
                job.expire(new CheckpointException(Reason.CLOSED, "tier " + job.tier(0).name() + " stopped before step "
                        + step + " committed"));
            } catch (Error notStarted) { // the tier's I/O thread could not be started: the save fails, not training
                job.expire(new CheckpointException(Reason.STORAGE, "step " + step + " could not reach tier "
                        + job.tier(0).name() + ": " + notStarted, notStarted));
            }
            return job.handle();
        }
        pipeline.submit(job);
        return job.handle();
    }

    /**
     * Whether {@code step} is committed in {@code t}, a tier this save does not go to, as far as can be told without
     * waiting: only once {@code t}'s look at open has answered (a paced look in a large world is not waited for here),
     * and only for steps at or below the newest one it found (after a restore from an older step). A store that cannot
     * be asked does not hold up a save that does not go to it.
     */
    private boolean committedElsewhere(Tier t, long step) {
        if (step > highestCommitted.knownNow(t)) {
            return false;
        }
        try {
            return commits.isCommitted(t, step);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Why a save must wait, for {@link WhenBusy#SKIP}: an earlier save still being persisted into its first tier
     * (its chunks in staging, on the ring or being written, or its commit running); null when none is. Promotions
     * to slower tiers run from the first tier's stored chunks and do not hold staging, so they do not count.
     */
    private String busyWith() {
        for (SaveJob earlier : inFlight.jobs()) {
            if (earlier.tierCount() > 0 && !earlier.committed(0).isDone()) {
                return "step " + earlier.step() + " is still being persisted into tier " + earlier.tier(0).name();
            }
        }
        if (pipeline.stagingExhausted()) {
            // An earlier save expired (its futures failed at its deadline) while the first tier's writes still hang:
            // its chunks hold staging, and this save would wait for it up to its own deadline.
            return "staging is full: the chunks of a save that expired are still waiting for the first tier's writes";
        }
        if (pipeline.stagingHeld()) {
            // The same with part of staging held: a save that needs more than is left would wait as long. (Every job
            // counted above has given its slabs back before its first-tier commit completes: only an expired one's
            // are left.)
            return "staging is in use: the chunks of a save that expired are still waiting for the first tier's writes";
        }
        return null;
    }
}
