package dev.cairn.examples.mlp;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Adam (Kingma and Ba, with PyTorch's bias correction) written on NDArray ops, owning its moments by parameter
 * name. DJL's own {@code Adam} keeps its moments in private fields keyed by a per-instance parameter id, so they
 * can be neither saved nor put back; here {@link #firstMoment}, {@link #secondMoment} and {@link #updates} are the
 * whole optimizer state.
 *
 * <p>Per parameter {@code w} with gradient {@code g}, at update {@code t} (from 1):
 * <pre>
 * m = beta1 m + (1 - beta1) g
 * v = beta2 v + (1 - beta2) g^2
 * w = w - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
 * </pre>
 */
final class Adam implements AutoCloseable {
    private final float learningRate;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private final NDManager manager;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private long updates;

    /** Zero moments shaped like {@code parameters}, in their order. */
    Adam(MlpSpec spec, NDManager parent, Map<String, NDArray> parameters) {
        this.learningRate = spec.learningRate();
        this.beta1 = spec.beta1();
        this.beta2 = spec.beta2();
        this.epsilon = spec.epsilon();
        this.manager = parent.newSubManager();
        parameters.forEach((name, w) -> {
            m.put(name, manager.zeros(w.getShape(), w.getDataType()));
            v.put(name, manager.zeros(w.getShape(), w.getDataType()));
        });
    }

    /** Starts update {@code t = updates() + 1}; call {@link #update} for every parameter after it. */
    void beginUpdate() {
        updates++;
    }

    /** Applies one Adam step to {@code w} in place, from its gradient {@code g}. */
    void update(String name, NDArray w, NDArray g) {
        NDArray mt = m.get(name);
        NDArray vt = v.get(name);
        // Bias corrections are computed once per update in double with StrictMath: identical in every process.
        float correction1 = (float) (1 - StrictMath.pow(beta1, updates));
        float correction2 = (float) (1 - StrictMath.pow(beta2, updates));
        try (NDArray scaledGrad = g.mul(1 - beta1)) {
            mt.muli(beta1).addi(scaledGrad);
        }
        try (NDArray squaredGrad = g.square()) {
            squaredGrad.muli(1 - beta2);
            vt.muli(beta2).addi(squaredGrad);
        }
        try (NDArray vHat = vt.div(correction2);
             NDArray denominator = vHat.sqrt();
             NDArray delta = mt.div(correction1)) {
            denominator.addi(epsilon);
            delta.divi(denominator).muli(learningRate);
            w.subi(delta);
        }
    }

    /** Updates applied so far (Adam's {@code t}). */
    long updates() {
        return updates;
    }

    void restoreUpdates(long t) {
        if (t < 0) {
            throw new IllegalArgumentException("Adam update count must not be negative, was " + t);
        }
        this.updates = t;
    }

    NDArray firstMoment(String name) {
        return m.get(name);
    }

    NDArray secondMoment(String name) {
        return v.get(name);
    }

    @Override
    public void close() {
        manager.close();
    }
}
