package dev.cairn.djl;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.listener.TrainingListenerAdapter;
import dev.cairn.Checkpointer;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * A training process for {@link KillAndResumeTest}: {@code EasyTrain.fit} of {@link TinyRun} for {@link #EPOCHS}
 * epochs of 5 batches, with a {@link CairnTrainingListener} saving every 4 steps and at every epoch end into a
 * disk tier, resuming from it first. Prints, one line each:
 * <pre>
 * resumed &lt;step&gt; &lt;epoch&gt; &lt;batchInEpoch&gt;
 * loss &lt;step&gt; &lt;float bits, hex&gt;          for every batch, before its update
 * committed &lt;step&gt;                         when a save has committed
 * stalled &lt;step&gt;                           then waits to be killed (with a stall step given)
 * param &lt;name&gt; &lt;sha-256&gt;                  the final parameters
 * done
 * </pre>
 * Arguments: the store's directory, and the step at which to stall (-1: none).
 */
public final class ListenerTrainingChild {
    static final int EPOCHS = 4;
    static final int BATCHES_PER_EPOCH = 5;
    static final int EVERY_STEPS = 4;

    private ListenerTrainingChild() {
    }

    public static void main(String[] args) throws Exception {
        Path store = Path.of(args[0]);
        long stallAt = Long.parseLong(args[1]);
        PrintStream out = System.out;
        ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, BATCHES_PER_EPOCH);
        CheckpointableAdam adam = TinyRun.adam();
        try (Checkpointer checkpointer = TinyRun.checkpointer(store)) {
            CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam)
                    .everySteps(EVERY_STEPS)
                    .atEpochEnd(true)
                    .userState(data)
                    .onSave(handle -> handle.done().whenComplete((reports, failure) -> print(out,
                            failure == null ? "committed " + handle.step() : "save-failed " + handle.step() + " " + failure)))
                    .build();
            LossPrinter losses = new LossPrinter(out, stallAt);
            try (Model model = TinyRun.model()) {
                try (Trainer trainer = TinyRun.trainer(model, adam, losses, cairn)) {
                    TrainingPosition at = cairn.resume(trainer);
                    losses.step = at.step();
                    print(out, "resumed " + at.step() + " " + at.epoch() + " " + at.batchInEpoch());
                    EasyTrain.fit(trainer, Math.toIntExact(EPOCHS - at.epoch()), data, null);
                }
                TinyRun.parameterHashes(model).forEach((name, hash) -> print(out, "param " + name + " " + hash));
            }
        }
        print(out, "done");
    }

    private static void print(PrintStream out, String line) {
        synchronized (out) {
            out.println(line);
            out.flush();
        }
    }

    /** Prints each batch's loss, computed again from the batch's predictions and labels, bit for bit. */
    private static final class LossPrinter extends TrainingListenerAdapter {
        private final PrintStream out;
        private final long stallAt;
        long step;

        LossPrinter(PrintStream out, long stallAt) {
            this.out = out;
            this.stallAt = stallAt;
        }

        @Override
        public void onTrainingBatch(Trainer trainer, BatchData batchData) {
            NDList labels = batchData.getLabels().values().iterator().next();
            NDList predictions = batchData.getPredictions().values().iterator().next();
            try (NDArray loss = trainer.getLoss().evaluate(labels, predictions)) {
                print(out, "loss " + step + " " + String.format("%08x", Float.floatToRawIntBits(loss.getFloat())));
            }
            if (step == stallAt) {
                print(out, "stalled " + step);
                try {
                    new CountDownLatch(1).await(); // until SIGKILL
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            step++;
        }
    }
}
