package dev.cairn.examples.mlp;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class MlpTrainingTest {
    private static final MlpSpec SPEC = MlpSpec.standard();

    @Test
    void twoFreshRunsComputeTheSameLossesBitForBit() {
        try (MlpTraining a = new MlpTraining(SPEC); MlpTraining b = new MlpTraining(SPEC)) {
            for (int i = 0; i < 5; i++) {
                assertEquals(Float.floatToRawIntBits(a.trainStep()), Float.floatToRawIntBits(b.trainStep()));
            }
            assertEquals(a.parameterHash(), b.parameterHash());
        }
    }

    @Test
    void stateCopiedIntoAFreshModelContinuesExactlyLikeTheOriginal() {
        try (MlpTraining original = new MlpTraining(SPEC); MlpTraining copy = new MlpTraining(SPEC)) {
            for (int i = 0; i < 4; i++) {
                original.trainStep();
            }
            TrainingState saved = original.state();
            for (Entry target : copy.restoreTargets().entries()) {
                target.buffers().get(0).put(saved.tensor(target.name()).buffers().get(0));
            }
            copy.resumeFrom(saved);

            assertEquals(original.parameterHash(), copy.parameterHash());
            assertEquals(4, copy.step());
            for (int i = 0; i < 3; i++) {
                assertEquals(Float.floatToRawIntBits(original.trainStep()), Float.floatToRawIntBits(copy.trainStep()));
            }
            assertEquals(original.parameterHash(), copy.parameterHash());
        }
    }

    @Test
    void checkpointRestoresParametersAndAdamMomentsIntoAFreshModelExactly() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             Checkpointer checkpointer = Checkpointer.open(CairnConfig.builder("unit")
                     .tier(TierConfig.of("memory", memory)).encoderThreads(1).stagingBytes(64L << 20).build());
             MlpTraining original = new MlpTraining(SPEC);
             MlpTraining fresh = new MlpTraining(SPEC)) {
            for (int i = 0; i < 5; i++) {
                original.trainStep();
            }
            Map<String, byte[]> atSave = bytesOf(original.state());
            CheckpointHandle handle = checkpointer.save(original.step(), original.state());
            // COPY mode: training may go on at once without changing what was saved.
            float nextLoss = original.trainStep();
            handle.done().get(60, TimeUnit.SECONDS);

            RestoreResult restored = checkpointer.restore(RestoreRequest.latest().into(fresh.restoreTargets()));
            fresh.resumeFrom(restored.state());

            assertEquals(5, restored.step());
            assertEquals("memory", restored.tier());
            assertEquals(5, fresh.step());
            Map<String, byte[]> afterRestore = bytesOf(fresh.state());
            assertEquals(atSave.keySet(), afterRestore.keySet());
            assertEquals(3 * fresh.parameterNames().size() + 4, afterRestore.size());
            for (String name : atSave.keySet()) {
                assertArrayEquals(atSave.get(name), afterRestore.get(name), name);
            }
            assertNotEquals(original.parameterHash(), fresh.parameterHash(), "the original trained on after the save");
            assertEquals(Float.floatToRawIntBits(nextLoss), Float.floatToRawIntBits(fresh.trainStep()));
            assertEquals(original.parameterHash(), fresh.parameterHash());
        }
    }

    private static Map<String, byte[]> bytesOf(TrainingState state) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (Entry e : state.entries()) {
            ByteBuffer all = ByteBuffer.allocate(Math.toIntExact(e.byteSize()));
            e.buffers().forEach(all::put);
            out.put(e.name(), all.array());
        }
        return out;
    }
}
