package dev.cairn.djl;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import static org.junit.jupiter.api.Assertions.assertNotNull;

/** {@code everySteps(n)} takes every n of at least 1 and refuses every other with INVALID_CONFIG. */
class EveryStepsProperties {
    private static MemoryObjectStore memory;
    private static Checkpointer checkpointer;

    @BeforeContainer
    static void open() {
        memory = new MemoryObjectStore(8L << 20);
        checkpointer = Checkpointer.open(CairnConfig.builder("config").tier(TierConfig.of("memory", memory))
                .encoderThreads(1).chunkBytes(16 << 10).stagingBytes(4 << 20).build());
    }

    @AfterContainer
    static void close() {
        checkpointer.close();
        memory.close();
    }

    @Property(tries = 200)
    void everyStepsTakesEveryPositiveCountAndRefusesTheRest(@ForAll @LongRange(min = Long.MIN_VALUE, max = Long.MAX_VALUE) long n) {
        CairnTrainingListener.Builder b = CairnTrainingListener.builder(checkpointer, CheckpointableAdam.builder().build());
        if (n >= 1) {
            assertNotNull(b.everySteps(n).build());
        } else {
            ListenerConfigTest.assertInvalidConfig("everySteps must be at least 1, was " + n, () -> b.everySteps(n));
        }
    }
}
