package dev.cairn.djl;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListener;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The small model every test trains: an MLP 8-32-32-4 (1,476 parameters) on {@link ShuffledBatches}, with
 * {@link MeanSquaredError} as its loss.
 */
final class TinyRun {
    static final long SEED = 20261206L;

    private TinyRun() {
    }

    static Model model() {
        SequentialBlock block = new SequentialBlock()
                .add(Linear.builder().setUnits(32).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(32).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(ShuffledBatches.OUTPUTS).build());
        Model model = Model.newInstance("tiny-mlp");
        model.setBlock(block);
        return model;
    }

    /** The same with a BatchNorm after the first layer: its running mean and variance are parameters without gradient. */
    static Model modelWithBatchNorm() {
        SequentialBlock block = new SequentialBlock()
                .add(Linear.builder().setUnits(32).build())
                .add(ai.djl.nn.norm.BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(ShuffledBatches.OUTPUTS).build());
        Model model = Model.newInstance("tiny-mlp-bn");
        model.setBlock(block);
        return model;
    }

    /**
     * One linear layer used twice (tied weights), then the output layer: {@code Block.getParameters()} lists the tied
     * layer's weight and bias twice ({@code 01Linear_*} and {@code 03Linear_*}), as the same two Parameters.
     */
    static Model modelWithTiedLayer() {
        Linear tied = Linear.builder().setUnits(ShuffledBatches.FEATURES).build();
        Model model = Model.newInstance("tiny-mlp-tied");
        model.setBlock(new SequentialBlock()
                .add(tied)
                .add(Activation::relu)
                .add(tied)
                .add(Linear.builder().setUnits(ShuffledBatches.OUTPUTS).build()));
        return model;
    }

    /**
     * A linear layer followed by a block that scales its output by a parameter without gradient whose array is a
     * transposed view of another array, so not contiguous in memory.
     */
    static Model modelWithTransposedParameter() {
        Model model = Model.newInstance("tiny-mlp-transposed");
        NDArray transposed = model.getNDManager().arange(1f, 1f + 2 * ShuffledBatches.OUTPUTS)
                .reshape(ShuffledBatches.OUTPUTS, 2).transpose();
        model.setBlock(new SequentialBlock()
                .add(Linear.builder().setUnits(ShuffledBatches.OUTPUTS).build())
                .add(new ScaledByFirstRow(transposed)));
        return model;
    }

    /** Multiplies its input by row 0 of its one parameter, which has no gradient. */
    private static final class ScaledByFirstRow extends AbstractBlock {
        private final Parameter transposed;

        ScaledByFirstRow(NDArray array) {
            transposed = addParameter(Parameter.builder().setName("transposed").setType(Parameter.Type.OTHER)
                    .optArray(array).optRequiresGrad(false).build());
        }

        @Override
        protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
                                         PairList<String, Object> params) {
            NDArray x = inputs.singletonOrThrow();
            return new NDList(x.mul(store.getValue(transposed, x.getDevice(), training).get(0)));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return inputShapes;
        }
    }

    /** A trainer on the CPU, its parameters drawn by DJL's initializers from the engine's generator seeded with SEED. */
    static Trainer trainer(Model model, CheckpointableAdam adam, TrainingListener... listeners) {
        DefaultTrainingConfig config = new DefaultTrainingConfig(new MeanSquaredError())
                .optOptimizer(adam)
                .optDevices(new Device[] {Device.cpu()})
                .addTrainingListeners(listeners);
        Trainer trainer = model.newTrainer(config);
        Engine.getInstance().setRandomSeed(Math.toIntExact(SEED % Integer.MAX_VALUE));
        trainer.initialize(new Shape(ShuffledBatches.BATCH, ShuffledBatches.FEATURES));
        return trainer;
    }

    static CheckpointableAdam adam() {
        return CheckpointableAdam.builder().optLearningRateTracker(ai.djl.training.tracker.Tracker.fixed(1e-2f)).build();
    }

    /** A disk tier in {@code dir}, small chunks and staging: the state is about 18 KB. */
    static Checkpointer checkpointer(Path dir) throws IOException {
        return Checkpointer.open(CairnConfig.builder("tiny")
                .tier(TierConfig.of("disk", new FileSystemObjectStore(dir)))
                .encoderThreads(1)
                .chunkBytes(16 << 10)
                .stagingBytes(4 << 20)
                .build());
    }

    /** SHA-256 of each parameter's bytes (little-endian), by name, in the block's order. */
    static Map<String, String> parameterHashes(Model model) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
            NDArray a = p.getValue().getArray();
            try {
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                sha.update(a.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN));
                out.put(p.getKey(), HexFormat.of().formatHex(sha.digest()));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK has no SHA-256", e);
            }
        }
        return out;
    }
}
