package dev.cairn.examples.mlp;

import java.util.SplittableRandom;

/**
 * A regression task generated on the fly: batch {@code i} is a pure function of the seed and {@code i}, so a
 * data loader's whole state is its position. Targets come from a fixed random "teacher" ({@code sin} of a random
 * projection), which an MLP can learn, so the loss falls as training goes on.
 *
 * <p>All arithmetic is Java {@code double} with {@link StrictMath}: the same bits in every JVM, interpreted or
 * compiled ({@code Math.sin} may differ by an ulp between the two).
 */
final class SyntheticTask {
    private static final long TEACHER_STREAM = 0x7eac4e5L;

    private final long seed;
    private final int inputs;
    private final int outputs;
    private final int batch;
    private final double[] teacher;

    SyntheticTask(MlpSpec spec) {
        this.seed = spec.seed();
        this.inputs = spec.inputs();
        this.outputs = spec.outputs();
        this.batch = spec.batch();
        this.teacher = new double[inputs * outputs];
        SplittableRandom r = new SplittableRandom(seed ^ TEACHER_STREAM);
        double scale = StrictMath.sqrt(3.0 / inputs);
        for (int i = 0; i < teacher.length; i++) {
            teacher[i] = (2 * r.nextDouble() - 1) * scale;
        }
    }

    /** Row-major inputs {@code [batch, inputs]} and targets {@code [batch, outputs]} of batch number {@code position}. */
    Batch batch(long position) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + position);
        float[] x = new float[batch * inputs];
        float[] y = new float[batch * outputs];
        double[] row = new double[inputs];
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < inputs; i++) {
                row[i] = 2 * r.nextDouble() - 1;
                x[b * inputs + i] = (float) row[i];
            }
            for (int o = 0; o < outputs; o++) {
                double z = 0;
                for (int i = 0; i < inputs; i++) {
                    z += (double) (float) row[i] * teacher[i * outputs + o];
                }
                y[b * outputs + o] = (float) (0.8 * StrictMath.sin(3 * z) + 0.2 * z);
            }
        }
        return new Batch(x, y);
    }

    /** One batch, as flat row-major arrays. */
    record Batch(float[] x, float[] y) {
    }
}
