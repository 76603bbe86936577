package dev.cairn.djl;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import ai.djl.training.tracker.Tracker;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The optimizer on PyTorch: its updates follow Adam's formula, it owns t, and it leaves a zero gradient behind. */
class CheckpointableAdamTest {
    private static final float LR = 0.01f;

    @Test
    void twoUpdatesFollowAdamsFormulaAndZeroTheGradient() {
        float[] w0 = {0.5f, -0.25f, 1f, 0f};
        float[] g = {0.2f, -0.4f, 0.001f, 3f};
        CheckpointableAdam adam = CheckpointableAdam.builder().optLearningRateTracker(Tracker.fixed(LR)).build();
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray w = manager.create(w0);
            w.setRequiresGradient(true);
            float[] expected = w0.clone();
            double[] m = new double[g.length];
            double[] v = new double[g.length];
            for (int t = 1; t <= 2; t++) {
                backward(manager, w, g);
                adam.update("p", w, w.getGradient());
                for (int i = 0; i < g.length; i++) {
                    m[i] = 0.9 * m[i] + 0.1 * g[i];
                    v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                    double mHat = m[i] / (1 - Math.pow(0.9, t));
                    double vHat = v[i] / (1 - Math.pow(0.999, t));
                    expected[i] = (float) (expected[i] - LR * mHat / (Math.sqrt(vHat) + 1e-8));
                }
                assertArrayEquals(expected, w.toFloatArray(), 1e-6f, "after update " + t);
                assertEquals(t, adam.moments("p", w).updates);
                assertArrayEquals(new float[g.length], w.getGradient().toFloatArray(), "gradient zeroed after update " + t);
            }
        }
    }

    /** The "+ 0" in the update relies on the engine computing -0.0 + 0 = +0.0 rather than returning its input. */
    @Test
    void addingZeroTurnsNegativeZeroIntoPositiveZero() {
        try (NDManager manager = NDManager.newBaseManager(); NDArray a = manager.create(new float[] {-0f, 1f, -2f});
             NDArray b = a.add(0f)) {
            float[] out = b.toFloatArray();
            assertEquals(0, Float.floatToRawIntBits(out[0]), "+0.0");
            assertEquals(1f, out[1]);
            assertEquals(-2f, out[2]);
        }
    }

    /** Gives {@code w} the gradient {@code g}: backward of sum(w * g). */
    private static void backward(NDManager manager, NDArray w, float[] g) {
        try (NDManager scope = manager.newSubManager();
             GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray c = scope.create(g);
            NDArray loss = w.mul(c).sum();
            loss.attach(scope);
            collector.backward(loss);
        }
    }
}
