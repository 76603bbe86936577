package dev.cairn.examples.mlp;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.DType;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One training run of an MLP on {@link SyntheticTask}: the DJL model, its {@link Adam}, the data position and the
 * step count, and their mapping to a Cairn {@link TrainingState}.
 *
 * <p>State entries:
 * <pre>
 * &lt;parameter&gt;             f32 tensor   DJL's parameter name, e.g. 01Linear_weight
 * optim/m/&lt;parameter&gt;     f32 tensor   Adam first moment
 * optim/v/&lt;parameter&gt;     f32 tensor   Adam second moment
 * optim/t                 blob, i64 LE Adam updates applied
 * train/step              blob, i64 LE optimizer steps completed
 * data/position           blob, i64 LE batches consumed (the loader's and the data RNG's whole state)
 * hparams.json            blob, UTF-8  {@link MlpSpec#toJson()}
 * </pre>
 *
 * <p>Tensors are live views of the PyTorch tensors: a state from {@link #state()} is valid until the next
 * {@link #applyUpdate()}, so it is saved in {@code SaveMode.COPY}, or in {@code ZERO_COPY} waiting for
 * {@code captured()} before the next update. Not thread-safe: one training thread.
 */
public final class MlpTraining implements AutoCloseable {
    public static final String OPTIM_M = "optim/m/";
    public static final String OPTIM_V = "optim/v/";
    public static final String OPTIM_T = "optim/t";
    public static final String TRAIN_STEP = "train/step";
    public static final String DATA_POSITION = "data/position";
    public static final String HPARAMS = "hparams.json";

    private final MlpSpec spec;
    private final SyntheticTask task;
    private final NDManager manager;
    private final SequentialBlock block;
    private final ParameterStore parameterStore;
    private final Map<String, NDArray> parameters = new LinkedHashMap<>();
    private final Adam adam;
    private long step;
    private long position;

    /** A fresh run: parameters drawn from {@code spec.seed()}, zero moments, step 0. */
    public MlpTraining(MlpSpec spec) {
        this.spec = spec;
        this.task = new SyntheticTask(spec);
        this.manager = NDManager.newBaseManager();
        this.block = buildBlock(spec);
        block.initialize(manager, DataType.FLOAT32, new Shape(spec.batch(), spec.inputs()));
        for (Pair<String, Parameter> p : block.getParameters()) {
            parameters.put(p.getKey(), p.getValue().getArray());
        }
        initialiseParameters();
        this.parameterStore = new ParameterStore(manager, false);
        this.adam = new Adam(spec, manager, parameters);
        primeGradients();
    }

    private static SequentialBlock buildBlock(MlpSpec spec) {
        int[] widths = spec.widths();
        SequentialBlock block = new SequentialBlock();
        for (int i = 1; i < widths.length; i++) {
            block.add(Linear.builder().setUnits(widths[i]).build());
            if (i < widths.length - 1) {
                block.add(Activation::relu);
            }
        }
        return block;
    }

    /** PyTorch's Linear default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn in Java so every process agrees. */
    private void initialiseParameters() {
        int index = 0;
        for (NDArray w : parameters.values()) {
            SplittableRandom r = new SplittableRandom(spec.seed() + 1000003L * ++index);
            long[] shape = w.getShape().getShape();
            long fanIn = shape.length == 2 ? shape[1] : shape[0];
            double bound = 1 / StrictMath.sqrt(fanIn);
            float[] values = new float[Math.toIntExact(w.size())];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) ((2 * r.nextDouble() - 1) * bound);
            }
            w.set(values);
        }
    }

    /**
     * Gives every parameter a zero (+0.0) gradient before the first step. PyTorch adds a new gradient onto the
     * old one; with the old one zeroed after each update, a long run computes {@code +0 + g}, which turns a
     * {@code -0.0} in {@code g} into {@code +0.0}. Priming makes a fresh or resumed process do the same.
     */
    private void primeGradients() {
        try (NDManager scope = manager.newSubManager();
             GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray total = null;
            for (NDArray w : parameters.values()) {
                // w - w, not w.mul(0f): DJL 0.36 multiplies by a number through a scalar it frees at once, which
                // the backward pass then reads (a collection in between hands it garbage, NaN too, which no
                // zeroing below could clear).
                NDArray zero = w.sub(w);
                zero.attach(scope);
                NDArray term = zero.sum();
                total = total == null ? term : total.add(term);
            }
            collector.backward(total);
        }
        zeroGradients();
    }

    public MlpSpec spec() {
        return spec;
    }

    /** Optimizer steps completed. */
    public long step() {
        return step;
    }

    /**
     * Runs forward and backward on the next batch and leaves the gradients on the parameters; returns the loss
     * (mean squared error) before the update. Follow with {@link #applyUpdate()}.
     */
    public float forwardBackward() {
        SyntheticTask.Batch b = task.batch(position);
        try (NDManager scope = manager.newSubManager();
             GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            NDArray x = scope.create(b.x(), new Shape(spec.batch(), spec.inputs()));
            NDArray y = scope.create(b.y(), new Shape(spec.batch(), spec.outputs()));
            NDArray prediction = block.forward(parameterStore, new NDList(x), true).singletonOrThrow();
            NDArray loss = prediction.sub(y).square().mean();
            collector.backward(loss);
            return loss.getFloat();
        }
    }

    /** Applies Adam to every parameter, zeroes the gradients and moves to the next step and batch. */
    public void applyUpdate() {
        adam.beginUpdate();
        for (Map.Entry<String, NDArray> e : parameters.entrySet()) {
            NDArray w = e.getValue();
            try (NDArray g = w.getGradient()) {
                adam.update(e.getKey(), w, g);
            }
        }
        zeroGradients();
        step++;
        position++;
    }

    /** {@link #forwardBackward()} then {@link #applyUpdate()}. */
    public float trainStep() {
        float loss = forwardBackward();
        applyUpdate();
        return loss;
    }

    private void zeroGradients() {
        for (NDArray w : parameters.values()) {
            try (NDArray g = w.getGradient()) {
                g.subi(g);
            }
        }
    }

    /** The whole training state, its tensors viewing the live PyTorch memory (see the class comment). */
    public TrainingState state() {
        TrainingState.Builder b = TrainingState.builder();
        tensors().forEach(b::add);
        return b.add(Blob.of(OPTIM_T, i64(adam.updates())))
                .add(Blob.of(TRAIN_STEP, i64(step)))
                .add(Blob.of(DATA_POSITION, i64(position)))
                .add(Blob.ofUtf8(HPARAMS, spec.toJson()))
                .build();
    }

    /** Tensors only, viewing the live memory: pass to {@code RestoreRequest.into} to restore in place. */
    public TrainingState restoreTargets() {
        return TrainingState.of(tensors());
    }

    private List<Tensor> tensors() {
        List<Tensor> out = new ArrayList<>(3 * parameters.size());
        parameters.forEach((name, w) -> out.add(view(name, w)));
        // Adam's moments are optimizer state: a lossy setting may round them, never the weights.
        parameters.keySet().forEach(name -> out.add(view(OPTIM_M + name, adam.firstMoment(name)).asOptimizerState()));
        parameters.keySet().forEach(name -> out.add(view(OPTIM_V + name, adam.secondMoment(name)).asOptimizerState()));
        return out;
    }

    private static Tensor view(String name, NDArray a) {
        if (a.getDataType() != DataType.FLOAT32) {
            throw new IllegalStateException(name + " is " + a.getDataType() + ", expected float32");
        }
        // toByteBuffer(true): a direct view of the CPU tensor, in native (little-endian) order, not a copy.
        ByteBuffer bytes = a.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN);
        return Tensor.of(name, DType.F32, a.getShape().getShape(), bytes);
    }

    /**
     * Takes the counters from a restored state whose tensors were restored into {@link #restoreTargets()}; fails
     * if the checkpoint was made with other hyperparameters.
     */
    public void resumeFrom(TrainingState restored) {
        String saved = restored.blob(HPARAMS).toUtf8();
        if (!saved.equals(spec.toJson())) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                    "checkpoint was made with other hyperparameters: " + saved + ", this run has " + spec.toJson());
        }
        for (String name : parameters.keySet()) {
            for (String entry : List.of(name, OPTIM_M + name, OPTIM_V + name)) {
                if (!restored.contains(entry)) {
                    throw new CheckpointException(CheckpointException.Reason.CORRUPT, "restored state lacks " + entry);
                }
            }
        }
        adam.restoreUpdates(readI64(restored.blob(OPTIM_T)));
        this.step = readI64(restored.blob(TRAIN_STEP));
        this.position = readI64(restored.blob(DATA_POSITION));
    }

    /** Parameter names, in the model's order. */
    public List<String> parameterNames() {
        return List.copyOf(parameters.keySet());
    }

    /** Bytes of the parameters alone (f32). */
    public long parameterBytes() {
        long n = 0;
        for (NDArray w : parameters.values()) {
            n += w.size() * Float.BYTES;
        }
        return n;
    }

    /** SHA-256 over every parameter, in name order: name (UTF-8), a 0 byte, then its little-endian bytes. */
    public String parameterHash() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            List<String> names = new ArrayList<>(parameters.keySet());
            Collections.sort(names);
            for (String name : names) {
                sha.update(name.getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                sha.update(parameters.get(name).toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN));
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    private static byte[] i64(long v) {
        return ByteBuffer.allocate(Long.BYTES).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static long readI64(Blob b) {
        byte[] bytes = b.toByteArray();
        if (bytes.length != Long.BYTES) {
            throw new CheckpointException(CheckpointException.Reason.CORRUPT,
                    "blob " + b.name() + " holds " + bytes.length + " bytes, expected 8");
        }
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    @Override
    public void close() {
        adam.close();
        manager.close();
    }
}
