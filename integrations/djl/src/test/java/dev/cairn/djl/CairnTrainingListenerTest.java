package dev.cairn.djl;

import ai.djl.Model;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The listener in this JVM with a memory tier: when it saves, what a checkpoint holds, and what resume refuses. */
class CairnTrainingListenerTest {
    /** Commits of a few KB in memory; the limit only bounds a broken engine. */
    private static final long COMMIT_LIMIT_SECONDS = 120;

    private final MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
    private final Checkpointer checkpointer = Checkpointer.open(CairnConfig.builder("listener")
            .tier(TierConfig.of("memory", memory).keepLast(20)).encoderThreads(1).chunkBytes(16 << 10)
            .stagingBytes(4 << 20).build());
    private final List<CheckpointHandle> saves = new ArrayList<>();

    @AfterEach
    void close() {
        checkpointer.close();
        memory.close();
    }

    @Test
    void savesEveryNStepsAndAtEpochEndsEachStepOnce() throws Exception {
        assertEquals(List.of(3L, 5L, 6L, 9L, 10L), savedSteps(true, 3));
    }

    @Test
    void savesEveryNStepsOnlyWhenEpochEndsAreNotAsked() throws Exception {
        assertEquals(List.of(3L, 6L, 9L), savedSteps(false, 3));
    }

    @Test
    void savesAtEpochEndsOnly() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).atEpochEnd(true).onSave(saves::add).build();
        train(adam, cairn, new ShuffledBatches(TinyRun.SEED, 5), 2);
        assertEquals(List.of(5L, 10L), steps());
    }

    /** Two epochs of 5 batches; every saved step commits. */
    private List<Long> savedSteps(boolean atEpochEnd, long every) throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(every)
                .atEpochEnd(atEpochEnd).onSave(saves::add).build();
        train(adam, cairn, new ShuffledBatches(TinyRun.SEED, 5), 2);
        assertEquals(new TrainingPosition(10, 2, 0), cairn.position());
        return steps();
    }

    private List<Long> steps() throws Exception {
        List<Long> out = new ArrayList<>();
        for (CheckpointHandle h : saves) {
            h.done().get(COMMIT_LIMIT_SECONDS, TimeUnit.SECONDS);
            out.add(h.step());
        }
        return out;
    }

    @Test
    void aCheckpointInsideAnEpochHoldsTheNextBatchAndEveryPartOfTheState() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, 5);
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(7).userState(data)
                .onSave(saves::add).build();
        train(adam, cairn, data, 2);
        assertEquals(List.of(7L), steps());

        TrainingState saved = checkpointer.restore(RestoreRequest.step(7)).state();
        assertEquals(7, i64(saved, CairnTrainingListener.TRAIN_STEP));
        assertEquals(1, i64(saved, CairnTrainingListener.TRAIN_EPOCH));
        assertEquals(2, i64(saved, CairnTrainingListener.TRAIN_BATCH_IN_EPOCH), "batch 1 of epoch 1 was the 7th update: batch 2 is next");
        assertEquals(2, i64(saved, CairnTrainingListener.USER + ShuffledBatches.NEXT));
        assertTrue(saved.contains(CairnTrainingListener.USER + ShuffledBatches.RNG));
        for (String layer : List.of("01Linear", "03Linear", "05Linear")) {
            for (String kind : List.of("_weight", "_bias")) {
                String p = layer + kind;
                assertTrue(saved.contains(CairnTrainingListener.PARAM + p), () -> p + " in " + saved);
                long[] shape = saved.tensor(CairnTrainingListener.PARAM + p).shape();
                assertArrayEquals(shape, saved.tensor(CairnTrainingListener.OPTIM_M + p).shape(), p);
                assertArrayEquals(shape, saved.tensor(CairnTrainingListener.OPTIM_V + p).shape(), p);
                assertEquals(7, i64(saved, CairnTrainingListener.OPTIM_T + p), "Adam's t of " + p);
            }
        }
        assertEquals(adam.describe(), saved.blob(CairnTrainingListener.OPTIM_CONFIG).toUtf8());
    }

    @Test
    void aModelWithParametersWithoutGradientResumedInThisProcessEndsLikeTheUninterruptedRun() throws Exception {
        Map<String, String> expected = uninterruptedRun(TinyRun::modelWithBatchNorm, 3);
        assertTrue(expected.keySet().stream().anyMatch(name -> name.contains("runningMean")), () -> "names: " + expected.keySet());

        ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, 5);
        CheckpointableAdam first = TinyRun.adam();
        CairnTrainingListener interrupted = CairnTrainingListener.builder(checkpointer, first).everySteps(3).userState(data)
                .onSave(saves::add).build();
        try (Model model = TinyRun.modelWithBatchNorm(); Trainer trainer = TinyRun.trainer(model, first, interrupted)) {
            interrupted.resume(trainer);
            EasyTrain.fit(trainer, 1, data, null); // 5 updates; saves after the 3rd (batch 3 of epoch 0 next)
        }
        assertEquals(List.of(3L), steps());

        ShuffledBatches fresh = new ShuffledBatches(TinyRun.SEED, 5);
        CheckpointableAdam second = TinyRun.adam();
        CairnTrainingListener resumed = CairnTrainingListener.builder(checkpointer, second).everySteps(3).userState(fresh).build();
        try (Model model = TinyRun.modelWithBatchNorm(); Trainer trainer = TinyRun.trainer(model, second, resumed)) {
            TrainingPosition at = resumed.resume(trainer);
            assertEquals(new TrainingPosition(3, 0, 3), at);
            EasyTrain.fit(trainer, Math.toIntExact(3 - at.epoch()), fresh, null);
            assertEquals(new TrainingPosition(15, 3, 0), resumed.position());
            assertEquals(expected, TinyRun.parameterHashes(model));
        }
    }

    /**
     * Overlapped capture copies the weights and moments while the next forward and backward pass run; what it stores
     * must be, step by step, what a copy at the save holds: the same run (a model with BatchNorm, whose running
     * statistics the forward pass changes) saved every step both ways, each checkpoint compared entry by entry, and
     * training itself unchanged. Then a fresh trainer resumed from the overlapped run's last step holds its parameters.
     */
    @Test
    void overlappedCapturesHoldWhatCopiesHoldAtEveryStepAndResumeBitExact() throws Exception {
        Map<String, String> expected;
        List<CheckpointHandle> copied = new ArrayList<>();
        try (MemoryObjectStore otherMemory = new MemoryObjectStore(64L << 20);
             Checkpointer other = Checkpointer.open(CairnConfig.builder("copied")
                     .tier(TierConfig.of("memory", otherMemory).keepLast(20)).encoderThreads(1).chunkBytes(16 << 10)
                     .stagingBytes(4 << 20).build())) {
            CheckpointableAdam adam = TinyRun.adam();
            ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, 5);
            CairnTrainingListener cairn = CairnTrainingListener.builder(other, adam).everySteps(1).userState(data)
                    .onSave(copied::add).build();
            try (Model model = TinyRun.modelWithBatchNorm(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
                cairn.resume(trainer);
                EasyTrain.fit(trainer, 3, data, null);
                expected = TinyRun.parameterHashes(model);
            }

            ShuffledBatches data2 = new ShuffledBatches(TinyRun.SEED, 5);
            CheckpointableAdam adam2 = TinyRun.adam();
            CairnTrainingListener overlapped = CairnTrainingListener.builder(checkpointer, adam2).everySteps(1)
                    .userState(data2).overlapCapture(true).onSave(saves::add).build();
            try (Model model = TinyRun.modelWithBatchNorm(); Trainer trainer = TinyRun.trainer(model, adam2, overlapped)) {
                overlapped.resume(trainer);
                EasyTrain.fit(trainer, 3, data2, null);
                assertEquals(expected, TinyRun.parameterHashes(model), "overlapping changed nothing in training");
            }
            assertEquals(15, steps().size());
            for (CheckpointHandle h : copied) {
                h.done().get(COMMIT_LIMIT_SECONDS, TimeUnit.SECONDS);
            }
            for (long step = 1; step <= 15; step++) {
                TrainingState want = other.restore(RestoreRequest.step(step)).state();
                TrainingState got = checkpointer.restore(RestoreRequest.step(step)).state();
                assertEquals(want.entries().size(), got.entries().size());
                for (dev.cairn.Entry e : want.entries()) {
                    String name = e.name();
                    boolean blob = e instanceof dev.cairn.Blob;
                    byte[] a = blob ? want.blob(name).toByteArray() : bytes(want.tensor(name));
                    byte[] b = !got.contains(name) ? null : blob ? got.blob(name).toByteArray() : bytes(got.tensor(name));
                    assertArrayEquals(a, b, "step " + step + ", " + name);
                }
            }
        }

        CheckpointableAdam third = TinyRun.adam();
        CairnTrainingListener resumed = CairnTrainingListener.builder(checkpointer, third).everySteps(100)
                .userState(new ShuffledBatches(TinyRun.SEED, 5)).overlapCapture(true).build();
        try (Model model = TinyRun.modelWithBatchNorm(); Trainer trainer = TinyRun.trainer(model, third, resumed)) {
            assertEquals(new TrainingPosition(15, 2, 5), resumed.resume(trainer), "the last batch of epoch 2 was saved");
            assertEquals(expected, TinyRun.parameterHashes(model));
        }
    }

    private static byte[] bytes(dev.cairn.Tensor t) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (ByteBuffer b : t.buffers()) {
            byte[] part = new byte[b.remaining()];
            b.duplicate().get(part);
            out.writeBytes(part);
        }
        return out.toByteArray();
    }

    /**
     * A block used twice (tied weights): getParameters() lists its two parameters under two names each, and the
     * optimizer updates each once a step. Each is saved once, under its first name, and the resumed run ends bit for
     * bit like the uninterrupted one.
     */
    @Test
    void aModelThatUsesABlockTwiceSavesEachTiedParameterOnceAndResumesToTheUninterruptedRun() throws Exception {
        Map<String, String> expected = uninterruptedRun(TinyRun::modelWithTiedLayer, 2);
        assertEquals(List.of("01Linear_weight", "01Linear_bias", "03Linear_weight", "03Linear_bias", "04Linear_weight",
                "04Linear_bias"), List.copyOf(expected.keySet()));

        ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, 5);
        CheckpointableAdam first = TinyRun.adam();
        CairnTrainingListener interrupted = CairnTrainingListener.builder(checkpointer, first).everySteps(3)
                .userState(data).onSave(saves::add).build();
        try (Model model = TinyRun.modelWithTiedLayer(); Trainer trainer = TinyRun.trainer(model, first, interrupted)) {
            interrupted.resume(trainer);
            EasyTrain.fit(trainer, 1, data, null); // saves after the 3rd of 5 updates
        }
        assertEquals(List.of(3L), steps());
        TrainingState saved = checkpointer.restore(RestoreRequest.step(3)).state();
        for (String p : List.of("01Linear_weight", "01Linear_bias", "04Linear_weight", "04Linear_bias")) {
            assertTrue(saved.contains(CairnTrainingListener.PARAM + p), p);
            assertTrue(saved.contains(CairnTrainingListener.OPTIM_M + p), p);
            assertEquals(3, i64(saved, CairnTrainingListener.OPTIM_T + p), "Adam's t of " + p);
        }
        for (String p : List.of("03Linear_weight", "03Linear_bias")) {
            for (String prefix : List.of(CairnTrainingListener.PARAM, CairnTrainingListener.OPTIM_M,
                    CairnTrainingListener.OPTIM_V, CairnTrainingListener.OPTIM_T)) {
                assertFalse(saved.contains(prefix + p), prefix + p + ": the tied parameter is held once");
            }
        }

        ShuffledBatches fresh = new ShuffledBatches(TinyRun.SEED, 5);
        CheckpointableAdam second = TinyRun.adam();
        CairnTrainingListener resumed = CairnTrainingListener.builder(checkpointer, second).everySteps(3)
                .userState(fresh).build();
        try (Model model = TinyRun.modelWithTiedLayer(); Trainer trainer = TinyRun.trainer(model, second, resumed)) {
            TrainingPosition at = resumed.resume(trainer);
            assertEquals(new TrainingPosition(3, 0, 3), at);
            EasyTrain.fit(trainer, Math.toIntExact(2 - at.epoch()), fresh, null);
            assertEquals(new TrainingPosition(10, 2, 0), resumed.position());
            assertEquals(expected, TinyRun.parameterHashes(model));
        }
    }

    @Test
    void aStepSaveAfterAnEpochsLastBatchRecordsTheEpochAsOutOfBatchesAndResumesToItsEnd() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(5).atEpochEnd(true)
                .userState(new ShuffledBatches(TinyRun.SEED, 5)).onSave(saves::add).build();
        train(adam, cairn, new ShuffledBatches(TinyRun.SEED, 5), 2);
        assertEquals(List.of(5L, 10L), steps(), "the epoch ends are the step saves' steps: saved once");
        TrainingState five = checkpointer.restore(RestoreRequest.step(5)).state();
        assertEquals(0, i64(five, CairnTrainingListener.TRAIN_EPOCH));
        assertEquals(5, i64(five, CairnTrainingListener.TRAIN_BATCH_IN_EPOCH));

        CheckpointableAdam second = TinyRun.adam();
        ShuffledBatches data = new ShuffledBatches(TinyRun.SEED, 5);
        CairnTrainingListener resumed = CairnTrainingListener.builder(checkpointer, second).everySteps(5).atEpochEnd(true)
                .userState(data).onSave(saves::add).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, second, resumed)) {
            TrainingPosition at = resumed.resume(trainer);
            assertEquals(new TrainingPosition(10, 1, 5), at);
            EasyTrain.fit(trainer, Math.toIntExact(2 - at.epoch()), data, null);
            assertEquals(new TrainingPosition(10, 2, 0), resumed.position(), "epoch 1 had no batch left, only its end");
        }
        assertEquals(2, saves.size(), "step 10 is not saved again");
    }

    @Test
    void aStepThatDoesNotUpdateEveryParameterFailsTheNextBatchInsteadOfSavingAMixedState() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(1).onSave(saves::add).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
            cairn.resume(trainer);
            var batches = trainer.iterateDataset(new ShuffledBatches(TinyRun.SEED, 3)).iterator();
            try (var first = batches.next(); var second = batches.next()) {
                EasyTrain.trainBatch(trainer, first); // arms the save of step 1; no Trainer.step() follows
                CheckpointException e = assertThrows(CheckpointException.class, () -> EasyTrain.trainBatch(trainer, second));
                assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
                assertTrue(e.getMessage().contains("updated 0 of the 6 parameters"), e.getMessage());
            }
        }
        assertEquals(List.of(), saves);
    }

    @Test
    void aTrainerThatDidNotResumeMayNotSaveIntoARunWithCommittedCheckpoints() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener first = CairnTrainingListener.builder(checkpointer, adam).everySteps(2).onSave(saves::add).build();
        train(adam, first, new ShuffledBatches(TinyRun.SEED, 3), 1);
        assertEquals(List.of(2L), steps());

        CheckpointableAdam second = TinyRun.adam();
        CairnTrainingListener forgetful = CairnTrainingListener.builder(checkpointer, second).everySteps(2).onSave(saves::add).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, second, forgetful)) {
            CheckpointException e = assertThrows(CheckpointException.class,
                    () -> EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null));
            assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains("did not resume"), e.getMessage());
        }
        assertEquals(1, saves.size());
    }

    @Test
    void resumeWithNothingCommittedStartsFreshAndChangesNothing() {
        CheckpointableAdam adam = TinyRun.adam();
        boolean[] restored = {false};
        UserState user = new UserState() {
            @Override
            public Map<String, byte[]> capture(TrainingPosition next) {
                return Map.of();
            }

            @Override
            public void restore(TrainingPosition next, Map<String, byte[]> saved) {
                restored[0] = true;
            }
        };
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(2).userState(user).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
            Map<String, String> before = TinyRun.parameterHashes(model);
            assertEquals(TrainingPosition.START, cairn.resume(trainer));
            assertEquals(before, TinyRun.parameterHashes(model));
            assertFalse(restored[0], "no user state to give back");
        }
    }

    @Test
    void resumeOnceTrainingHasStartedIsRefused() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(2).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
            EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null);
            CheckpointException e = assertThrows(CheckpointException.class, () -> cairn.resume(trainer));
            assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains("resume must come before training"), e.getMessage());
        }
    }

    /** The settings are read from the checkpoint's blobs before its tensors are restored: nothing is overwritten. */
    @Test
    void resumeRefusesACheckpointMadeWithOtherAdamSettingsBeforeWritingAnything() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(2).onSave(saves::add).build();
        train(adam, cairn, new ShuffledBatches(TinyRun.SEED, 3), 1);
        steps();

        CheckpointableAdam other = CheckpointableAdam.builder().optBeta1(0.8f).build();
        CairnTrainingListener fresh = CairnTrainingListener.builder(checkpointer, other).everySteps(2).build();
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, other, fresh)) {
            Map<String, String> before = TinyRun.parameterHashes(model);
            CheckpointException e = assertThrows(CheckpointException.class, () -> fresh.resume(trainer));
            assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason());
            assertTrue(e.getMessage().contains("\"beta1\":\"0.9"), e.getMessage());
            assertEquals(TrainingPosition.START, fresh.position());
            assertEquals(before, TinyRun.parameterHashes(model), "the checkpoint's weights were written");
            for (var p : model.getBlock().getParameters()) {
                CheckpointableAdam.Moments m = other.moments(p.getValue().getId(), p.getValue().getArray());
                assertEquals(0, m.updates, p.getKey());
                assertEquals(0f, m.first.abs().sum().getFloat(), p.getKey() + ": its first moment was written");
                assertEquals(0f, m.second.abs().sum().getFloat(), p.getKey() + ": its second moment was written");
            }
        }
    }

    @Test
    void resumeRefusesACheckpointOfAnotherModel() throws Exception {
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(2).onSave(saves::add).build();
        train(adam, cairn, new ShuffledBatches(TinyRun.SEED, 3), 1);
        steps();

        CheckpointableAdam fresh = TinyRun.adam();
        CairnTrainingListener other = CairnTrainingListener.builder(checkpointer, fresh).everySteps(2).build();
        try (Model model = Model.newInstance("wider")) {
            model.setBlock(new ai.djl.nn.SequentialBlock().add(ai.djl.nn.core.Linear.builder().setUnits(ShuffledBatches.OUTPUTS).build()));
            try (Trainer trainer = TinyRun.trainer(model, fresh, other)) {
                Map<String, String> before = TinyRun.parameterHashes(model);
                CheckpointException e = assertThrows(CheckpointException.class, () -> other.resume(trainer));
                assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason(), e.getMessage());
                assertEquals(TrainingPosition.START, other.position());
                assertEquals(before, TinyRun.parameterHashes(model));
            }
        }
    }

    @Test
    void aParameterThatIsNotContiguousIsRefusedAtResumeAndAtSaveBeforeAnythingIsWritten() throws Exception {
        // DJL's toByteBuffer(true) of a transposed view is a copy: a save would read it, a restore write into it.
        // (The other case, parameters on a GPU, needs a GPU; the same check covers it through NDArray.getDevice().)
        CheckpointableAdam adam = TinyRun.adam();
        CairnTrainingListener cairn = CairnTrainingListener.builder(checkpointer, adam).everySteps(1).onSave(saves::add).build();
        try (Model model = TinyRun.modelWithTransposedParameter(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
            CheckpointException atResume = assertThrows(CheckpointException.class, () -> cairn.resume(trainer));
            assertEquals(CheckpointException.Reason.INVALID_CONFIG, atResume.reason());
            assertTrue(atResume.getMessage().contains("_transposed is not contiguous"), atResume.getMessage());

            CheckpointException atSave = assertThrows(CheckpointException.class,
                    () -> EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null));
            assertEquals(CheckpointException.Reason.INVALID_CONFIG, atSave.reason());
            assertTrue(atSave.getMessage().contains("_transposed is not contiguous"), atSave.getMessage());
        }
        assertEquals(List.of(), saves);
        assertEquals(List.of(), checkpointer.list());
    }

    private static void train(CheckpointableAdam adam, CairnTrainingListener cairn, ShuffledBatches data, int epochs)
            throws Exception {
        try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
            assertEquals(TrainingPosition.START, cairn.resume(trainer));
            EasyTrain.fit(trainer, epochs, data, null);
        }
    }

    private static long i64(TrainingState state, String blob) {
        return ByteBuffer.wrap(state.blob(blob).toByteArray()).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /**
     * The parameter hashes of {@code model} trained {@code epochs} epochs of 5 batches without interruption, saving
     * every 3 steps into a memory tier of its own, as the resumed runs the tests compare with do.
     */
    private static Map<String, String> uninterruptedRun(java.util.function.Supplier<Model> model, int epochs) throws Exception {
        try (MemoryObjectStore otherMemory = new MemoryObjectStore(64L << 20);
             Checkpointer other = Checkpointer.open(CairnConfig.builder("uninterrupted")
                     .tier(TierConfig.of("memory", otherMemory)).encoderThreads(1).chunkBytes(16 << 10)
                     .stagingBytes(4 << 20).build())) {
            CheckpointableAdam adam = TinyRun.adam();
            CairnTrainingListener cairn = CairnTrainingListener.builder(other, adam).everySteps(3).build();
            try (Model m = model.get(); Trainer trainer = TinyRun.trainer(m, adam, cairn)) {
                cairn.resume(trainer);
                EasyTrain.fit(trainer, epochs, new ShuffledBatches(TinyRun.SEED, 5), null);
                return TinyRun.parameterHashes(m);
            }
        }
    }
}
