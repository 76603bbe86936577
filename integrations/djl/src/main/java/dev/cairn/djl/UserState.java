package dev.cairn.djl;

import java.util.Map;

/**
 * The part of a run's state that only its author knows: RNG states, a data loader's position, a sampler's
 * permutation. {@link CairnTrainingListener} stores what {@link #capture} returns with every checkpoint, as blobs
 * named {@code user/<key>}, and hands it back to {@link #restore} on resume.
 *
 * <p>Both are called on the training thread, from inside {@code EasyTrain.fit} (capture) and from
 * {@code resume} (restore), with the position the state must describe: the point <em>before</em> batch
 * {@code batchInEpoch} of epoch {@code epoch}. A capture inside an epoch happens right after the update of the
 * batch before it, so a loader describes itself as it is: the next batch it hands out is the next to train. A
 * capture after an epoch's last batch but before the loader has noticed the epoch's end (its iterator's
 * {@code hasNext()} not yet false) has {@code batchInEpoch} equal to the epoch's batch count; a capture at the
 * epoch's end ({@code onEpoch}) has epoch + 1 and batch 0.
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
