package dev.cairn;

import java.util.List;
import java.util.ServiceLoader;

/**
 * Saves and restores a run's {@link TrainingState} across the configured tiers.
 *
 * <pre>{@code
 * try (Checkpointer cp = Checkpointer.open(config)) {
 *     cp.save(step, state);                                       // blocks only while copying into staging
 *     RestoreResult r = cp.restore(RestoreRequest.latest().into(state));
 * }
 * }</pre>
 *
 * Saves are taken in step order, one after another; a step at or below an already-saved one is a CONFLICT.
 * Instances are safe to use from several threads. Once {@link #close} has begun, every other call fails with
 * {@link CheckpointException.Reason#CLOSED} and writes nothing.
 */
public interface Checkpointer extends AutoCloseable {

    /** Opens the engine found on the class path ({@code dev.cairn:cairn-tiers}). */
    static Checkpointer open(CairnConfig config) {
        for (CheckpointerProvider p : ServiceLoader.load(CheckpointerProvider.class, Checkpointer.class.getClassLoader())) {
            return p.open(config);
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                "no Cairn engine on the class path: add the artifact dev.cairn:cairn-tiers");
    }

    /** {@link #save(long, TrainingState, SaveMode)} in {@link SaveMode#COPY}. */
    default CheckpointHandle save(long step, TrainingState state) {
        return save(step, state, SaveMode.COPY);
    }

    /**
     * Starts a checkpoint of {@code state} as {@code step} into every tier that takes the step. The state is checked
     * first: bad input throws before anything is written. In COPY mode this returns once the bytes are in staging, or
     * once the save failed to put them there (staging still full at its deadline, a source buffer that faulted): then
     * the handle's futures fail with the reason, as every failure after admission does, and training goes on.
     */
    CheckpointHandle save(long step, TrainingState state, SaveMode mode);

    /** Restores a committed checkpoint, verifying every chunk and repairing from other tiers where needed. */
    RestoreResult restore(RestoreRequest request);

    /** Committed checkpoints in every tier, newest step first, fastest tier first. */
    List<CheckpointInfo> list();

    /**
     * Applies retention and removes unreferenced chunks in every tier, as a full sweep (it lists every step and chunk,
     * and so also finds what no manifest names, such as the files of a save that died; see
     * {@link CairnConfig#gcSweepEvery}); {@code dryRun} only reports.
     */
    List<GcReport> gc(boolean dryRun);

    /**
     * Waits for saves in flight (up to the deadline, then fails them with CLOSED) and releases memory and threads.
     * Called from a callback of a save's future (which runs on the checkpointer's thread that completes it, inside
     * the save's commit), it does not wait: it fails every save not finished at once with CLOSED (a step committed in
     * a faster tier is then not promoted to the slower ones), and nothing starts after it returns. A second call
     * returns at once.
     */
    @Override
    void close();
}
