package dev.cairn.examples.mlp;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The hyperparameters that define a run. Two processes that agree on a spec compute the same losses bit for bit,
 * so a spec is saved with every checkpoint (as JSON) and checked on restore.
 *
 * @param seed   seeds parameter initialisation and the synthetic data
 * @param widths layer widths, input first, output last
 * @param batch  examples per step
 */
public record MlpSpec(long seed, int[] widths, int batch, float learningRate, float beta1, float beta2, float epsilon) {

    /** About 363 thousand parameters (1.45 MB of f32; 4.4 MB with the Adam moments): a few ms per step on one core. */
    public static MlpSpec standard() {
        return new MlpSpec(20240611L, new int[] {64, 512, 512, 128, 8}, 64, 1e-3f, 0.9f, 0.999f, 1e-8f);
    }

    public MlpSpec {
        if (widths.length < 2) {
            throw new IllegalArgumentException("an MLP needs at least an input and an output width");
        }
        for (int w : widths) {
            if (w < 1) {
                throw new IllegalArgumentException("layer widths must be positive: " + Arrays.toString(widths));
            }
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be positive, was " + batch);
        }
        widths = widths.clone();
    }

    @Override
    public int[] widths() {
        return widths.clone();
    }

    public int inputs() {
        return widths[0];
    }

    public int outputs() {
        return widths[widths.length - 1];
    }

    /** Parameters in all layers: weights and biases. */
    public long parameterCount() {
        long n = 0;
        for (int i = 1; i < widths.length; i++) {
            n += (long) widths[i - 1] * widths[i] + widths[i];
        }
        return n;
    }

    /** A canonical JSON form: equal specs give equal strings. Floats are written by their bits as well, to be exact. */
    public String toJson() {
        return "{\"model\":\"mlp\",\"seed\":" + seed
                + ",\"widths\":[" + Arrays.stream(widths).mapToObj(Integer::toString).collect(Collectors.joining(","))
                + "],\"batch\":" + batch
                + ",\"optimizer\":\"adam\""
                + ",\"lr\":" + exact(learningRate)
                + ",\"beta1\":" + exact(beta1)
                + ",\"beta2\":" + exact(beta2)
                + ",\"eps\":" + exact(epsilon)
                + ",\"loss\":\"mse\"}";
    }

    private static String exact(float f) {
        return "{\"value\":" + f + ",\"bits\":\"" + String.format("%08x", Float.floatToRawIntBits(f)) + "\"}";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MlpSpec s && s.toJson().equals(toJson());
    }

    @Override
    public int hashCode() {
        return toJson().hashCode();
    }

    @Override
    public String toString() {
        return toJson();
    }
}
