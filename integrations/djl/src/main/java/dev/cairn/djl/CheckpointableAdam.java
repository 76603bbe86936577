package dev.cairn.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import dev.cairn.CheckpointException;

import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Adam (Kingma and Ba, with PyTorch's bias correction) as a DJL {@link Optimizer} whose state
 * {@link CairnTrainingListener} can save and put back. DJL's own {@code ai.djl.training.optimizer.Adam} keeps its
 * moments and update counts in private fields keyed by a per-instance parameter id, so they can be neither read
 * nor restored; this one holds, per parameter, the first moment {@code m}, the second moment {@code v} and the
 * count of updates applied {@code t}, and nothing else.
 *
 * <p>Per parameter {@code w} with gradient {@code g}, at its update {@code t} (from 1), with
 * {@code lr = learningRate.getNewValue(t)}:
 * <pre>
 * g = clip(rescaleGrad g, -clipGrad, clipGrad) + weightDecay w     (clipping only when clipGrad &gt; 0)
 * m = beta1 m + (1 - beta1) g
 * v = beta2 v + (1 - beta2) g^2
 * w = w - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
 * </pre>
 * After the update the parameter's gradient is set to zero, as DJL's built-in optimizers do on PyTorch (the
 * engine adds each backward pass onto the stored gradient).
 *
 * <p>Limits: the learning-rate {@link Tracker} must be a function of {@code t} alone (DJL's fixed, factor,
 * warm-up, cosine and multi-factor trackers are), since only {@code t} is saved; {@code optBeginNumUpdate} is
 * not supported (it would be a second, unsaved counter); and one parameter is updated on one device (the
 * listener checks that the trainer has one).
 */
public final class CheckpointableAdam extends Optimizer {
    private final Tracker learningRate;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private final float weightDecay;
    private final Map<String, Moments> state = new ConcurrentHashMap<>();
    /** Parameters updated since {@link #afterStep} was set; the action runs once all of them have been. */
    private final Set<String> updatedSinceArmed = new HashSet<>();
    private Runnable afterStep;
    private int parametersPerStep;

    private CheckpointableAdam(Builder b) {
        super(b);
        this.learningRate = b.learningRate;
        this.beta1 = b.beta1;
        this.beta2 = b.beta2;
        this.epsilon = b.epsilon;
        this.weightDecay = getWeightDecay();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        Moments s = moments(parameterId, weight);
        long t = ++s.updates;
        float lr = learningRate.getNewValue(parameterId, Math.toIntExact(t));
        // Bias corrections in double with StrictMath: the same bits in every process.
        float correction1 = (float) (1 - StrictMath.pow(beta1, t));
        float correction2 = (float) (1 - StrictMath.pow(beta2, t));
        // "+ 0": PyTorch adds a backward pass onto the zeroed gradient (+0 + g), except in a process's very first
        // one, which stores g itself; the two differ only in the sign of zeros. Adding +0 here makes every update
        // see +0 + g, so a resumed process computes what the uninterrupted one did.
        try (NDArray g = effectiveGradient(weight, grad)) {
            try (NDArray scaled = g.mul(1 - beta1)) {
                s.first.muli(beta1).addi(scaled);
            }
            try (NDArray squared = g.square()) {
                squared.muli(1 - beta2);
                s.second.muli(beta2).addi(squared);
            }
        }
        try (NDArray vHat = s.second.div(correction2);
             NDArray denominator = vHat.sqrt();
             NDArray delta = s.first.div(correction1)) {
            denominator.addi(epsilon);
            delta.divi(denominator).muli(lr);
            weight.subi(delta);
        }
        if (weight.hasGradient()) {
            try (NDArray stored = weight.getGradient()) {
                stored.subi(stored);
            }
        }
        if (afterStep != null && updatedSinceArmed.add(parameterId) && updatedSinceArmed.size() == parametersPerStep) {
            Runnable action = afterStep;
            cancelAfterStep();
            action.run();
        }
    }

    /**
     * Runs {@code action} once the next {@code parameters} distinct parameters have been updated, that is at the end
     * of the {@code Trainer.step()} that updates them all: the one point where every parameter has had the step's
     * update and no forward pass of the next batch has run yet.
     */
    void runAfterStep(int parameters, Runnable action) {
        updatedSinceArmed.clear();
        this.parametersPerStep = parameters;
        this.afterStep = action;
    }

    /** Parameters updated since {@link #runAfterStep}, when its action has not run yet; -1 when none waits. */
    int pendingAfterStep() {
        return afterStep == null ? -1 : updatedSinceArmed.size();
    }

    void cancelAfterStep() {
        afterStep = null;
        updatedSinceArmed.clear();
    }

    private NDArray effectiveGradient(NDArray weight, NDArray grad) {
        NDArray g = grad.add(0f);
        if (rescaleGrad != 1f) {
            g.muli(rescaleGrad);
        }
        if (clipGrad > 0) {
            NDArray clipped = g.clip(-clipGrad, clipGrad);
            g.close();
            g = clipped;
        }
        if (weightDecay != 0f) {
            try (NDArray decay = weight.mul(weightDecay)) {
                g.addi(decay);
            }
        }
        return g;
    }

    /** The moments of {@code parameterId}, zero (with no update applied) until its first update. */
    Moments moments(String parameterId, NDArray weight) {
        return state.computeIfAbsent(parameterId, id -> new Moments(weight.zerosLike(), weight.zerosLike()));
    }

    /**
     * The hyperparameters that change what an update computes, with floats also by their bits: a checkpoint made
     * with other ones does not continue the same run.
     */
    String describe() {
        return "{\"optimizer\":\"adam\",\"beta1\":" + exact(beta1) + ",\"beta2\":" + exact(beta2)
                + ",\"epsilon\":" + exact(epsilon) + ",\"weightDecay\":" + exact(weightDecay)
                + ",\"rescaleGrad\":" + exact(rescaleGrad) + ",\"clipGrad\":" + exact(clipGrad) + "}";
    }

    private static String exact(float f) {
        return "\"" + f + " (" + String.format("%08x", Float.floatToRawIntBits(f)) + ")\"";
    }

    /** One parameter's state; the arrays live with the parameter's manager and are updated in place. */
    static final class Moments {
        final NDArray first;
        final NDArray second;
        long updates;

        private Moments(NDArray first, NDArray second) {
            this.first = first;
            this.second = second;
        }
    }

    /** Builds a {@link CheckpointableAdam}; each setter checks its value at once ({@code INVALID_CONFIG}). */
    public static final class Builder extends OptimizerBuilder<Builder> {
        private Tracker learningRate = Tracker.fixed(1e-3f);
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float epsilon = 1e-8f;

        private Builder() {
        }

        @Override
        protected Builder self() {
            return this;
        }

        /** The learning rate as a function of the update count {@code t} (default: fixed 0.001). */
        public Builder optLearningRateTracker(Tracker tracker) {
            if (tracker == null) {
                throw config("learning rate tracker must not be null");
            }
            this.learningRate = tracker;
            return this;
        }

        public Builder optBeta1(float beta1) {
            this.beta1 = decay("beta1", beta1);
            return this;
        }

        public Builder optBeta2(float beta2) {
            this.beta2 = decay("beta2", beta2);
            return this;
        }

        public Builder optEpsilon(float epsilon) {
            if (!(epsilon > 0) || Float.isInfinite(epsilon)) {
                throw config("epsilon must be positive and finite, was " + epsilon);
            }
            this.epsilon = epsilon;
            return this;
        }

        @Override
        public Builder optWeightDecays(float weightDecays) {
            if (!(weightDecays >= 0) || Float.isInfinite(weightDecays)) {
                throw config("weight decay must be zero or positive and finite, was " + weightDecays);
            }
            return super.optWeightDecays(weightDecays);
        }

        @Override
        public Builder setRescaleGrad(float rescaleGrad) {
            if (!(rescaleGrad > 0) || Float.isInfinite(rescaleGrad)) {
                throw config("rescaleGrad must be positive and finite, was " + rescaleGrad);
            }
            return super.setRescaleGrad(rescaleGrad);
        }

        /** Not supported: a starting count would be a second update counter the checkpoint does not hold. */
        @Override
        public Builder optBeginNumUpdate(int beginNumUpdate) {
            if (beginNumUpdate != 0) {
                throw config("optBeginNumUpdate is not supported by CheckpointableAdam (the update count t is saved "
                        + "and restored per parameter), was " + beginNumUpdate);
            }
            return this;
        }

        public CheckpointableAdam build() {
            return new CheckpointableAdam(this);
        }

        private static float decay(String what, float value) {
            if (!(value >= 0 && value < 1)) {
                throw config(what + " must be in [0, 1), was " + value);
            }
            return value;
        }
    }

    private static CheckpointException config(String message) {
        return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
    }
}
