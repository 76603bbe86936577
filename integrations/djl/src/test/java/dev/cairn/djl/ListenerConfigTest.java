package dev.cairn.djl;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad settings of the listener and of its optimizer fail at once with INVALID_CONFIG naming the setting. */
class ListenerConfigTest {
    private final MemoryObjectStore memory = new MemoryObjectStore(8L << 20);
    private final Checkpointer checkpointer = Checkpointer.open(CairnConfig.builder("config")
            .tier(TierConfig.of("memory", memory)).encoderThreads(1).chunkBytes(16 << 10).stagingBytes(4 << 20).build());
    private final CheckpointableAdam adam = CheckpointableAdam.builder().build();

    @AfterEach
    void close() {
        checkpointer.close();
        memory.close();
    }

    @Test
    void listenerNeedsACheckpointerAndAnOptimizer() {
        assertInvalidConfig("checkpointer", () -> CairnTrainingListener.builder(null, adam));
        assertInvalidConfig("optimizer", () -> CairnTrainingListener.builder(checkpointer, null));
    }

    @Test
    void everyStepsBelowOneIsRefused() {
        assertInvalidConfig("everySteps must be at least 1, was 0", () -> CairnTrainingListener.builder(checkpointer, adam).everySteps(0));
        assertInvalidConfig("everySteps must be at least 1, was -4", () -> CairnTrainingListener.builder(checkpointer, adam).everySteps(-4));
    }

    @Test
    void aListenerThatWouldNeverSaveIsRefused() {
        assertInvalidConfig("would never save", () -> CairnTrainingListener.builder(checkpointer, adam).build());
        assertInvalidConfig("would never save", () -> CairnTrainingListener.builder(checkpointer, adam).atEpochEnd(false).build());
        assertNotNull(CairnTrainingListener.builder(checkpointer, adam).atEpochEnd(true).build());
    }

    @Test
    void nullHooksAreRefused() {
        assertInvalidConfig("userState", () -> CairnTrainingListener.builder(checkpointer, adam).userState(null));
        assertInvalidConfig("onSave", () -> CairnTrainingListener.builder(checkpointer, adam).onSave(null));
    }

    @Test
    void adamRefusesHyperparametersOutsideTheirRanges() {
        assertInvalidConfig("beta1 must be in [0, 1), was 1.0", () -> CheckpointableAdam.builder().optBeta1(1f));
        assertInvalidConfig("beta1", () -> CheckpointableAdam.builder().optBeta1(-0.1f));
        assertInvalidConfig("beta2", () -> CheckpointableAdam.builder().optBeta2(Float.NaN));
        assertInvalidConfig("epsilon", () -> CheckpointableAdam.builder().optEpsilon(0f));
        assertInvalidConfig("epsilon", () -> CheckpointableAdam.builder().optEpsilon(Float.POSITIVE_INFINITY));
        assertInvalidConfig("weight decay", () -> CheckpointableAdam.builder().optWeightDecays(-1e-4f));
        assertInvalidConfig("rescaleGrad", () -> CheckpointableAdam.builder().setRescaleGrad(0f));
        assertInvalidConfig("learning rate tracker", () -> CheckpointableAdam.builder().optLearningRateTracker(null));
    }

    @Test
    void adamRefusesAStartingUpdateCountItCouldNotSave() {
        assertInvalidConfig("optBeginNumUpdate is not supported", () -> CheckpointableAdam.builder().optBeginNumUpdate(5));
        assertNotNull(CheckpointableAdam.builder().optBeginNumUpdate(0).build());
    }

    static void assertInvalidConfig(String expectedInMessage, Executable call) {
        CheckpointException e = assertThrows(CheckpointException.class, call);
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains(expectedInMessage), () -> "message '" + e.getMessage() + "' lacks '" + expectedInMessage + "'");
    }
}
