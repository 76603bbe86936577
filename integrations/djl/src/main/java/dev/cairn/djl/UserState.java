package dev.cairn.djl;

import java.util.Map;

/**
 * The part of a run's state that only its author knows: RNG states, a data loader's position, a sampler's
 * permutation. {@link CairnTrainingListener} stores what {@link #capture} returns with every checkpoint, as blobs
 * named {@code user/<key>}, and hands it back to {@link #restore} on resume.
 *
 * <p>Both are called on the training thread, from inside {@code EasyTrain.fit} (capture) and from
 * {@code resume} (restore), with the position the state must describe: the point <em>before</em> batch
 * {@code batchInEpoch} of epoch {@code epoch}. A capture inside an epoch happens while that batch is in hand (its
 * gradients computed, its update not yet applied), so a loader that has already handed it out must describe the
 * state from which it hands it out again.
 */
public interface UserState {
    /** Keys are entry-name segments (no "..", no control characters); values are copied when saved. */
    Map<String, byte[]> capture(TrainingPosition next);

    /** Puts back what {@link #capture} returned at {@code next}; called before training resumes. */
    void restore(TrainingPosition next, Map<String, byte[]> saved);

    /** No state of the user's: for runs whose data order is a function of the position alone. */
    UserState NONE = new UserState() {
        @Override
        public Map<String, byte[]> capture(TrainingPosition next) {
            return Map.of();
        }

        @Override
        public void restore(TrainingPosition next, Map<String, byte[]> saved) {
        }
    };
}
