package dev.cairn.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * The mean of the squared errors, from array operations only: the loss the tests train with instead of DJL's
 * {@code Loss.l2Loss()}, whose training is not deterministic with DJL 0.36 and PyTorch.
 *
 * <p>{@code L2Loss} scales by its weight with {@code NDArray.mul(Number)}, which makes a scalar array over a Java
 * direct buffer (zero-copy), multiplies, and closes the scalar at once; PyTorch's autograd keeps the scalar's storage
 * for the backward pass, but nothing in Java keeps the buffer, so a garbage collection between the forward and the
 * backward pass frees it and the backward pass reads whatever the allocator put there since: every gradient of that
 * step scaled by a garbage factor (seen: 4e-19). With a thread calling {@code System.gc()} every 2 ms, 49 of 300
 * trainings of {@link TinyRun}'s model diverged with {@code L2Loss}, 0 of 300 with this loss (bench/RESULTS.md). It
 * failed {@code CairnTrainingListenerTest} once in about 1,000 runs, where Cairn's saves made a collection in that
 * window likelier. DJL's L1, hinge, quantile and cross-entropy losses scale by a number the same way.
 */
final class MeanSquaredError extends Loss {
    MeanSquaredError() {
        super("MeanSquaredError");
    }

    @Override
    public NDArray evaluate(NDList label, NDList prediction) {
        NDArray pred = prediction.singletonOrThrow();
        NDArray expected = label.singletonOrThrow().reshape(pred.getShape());
        return pred.sub(expected).square().mean();
    }
}
