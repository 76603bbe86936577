package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Run by {@link RunsWithoutMicrometerTest} in a JVM whose class path has no Micrometer: saves, promotes, restores and
 * collects, then prints {@code OK} and exits 0; anything else exits non-zero with the reason on stderr.
 */
public final class NoMicrometerChild {
    public static void main(String[] args) throws Exception {
        try {
            Class.forName("io.micrometer.core.instrument.MeterRegistry");
            System.err.println("Micrometer is on this JVM's class path");
            System.exit(2);
        } catch (ClassNotFoundException expected) {
            // the point of this JVM
        }
        try {
            CairnConfig.builder("r").meterRegistry(new Object());
            System.err.println("a plain Object was taken as a meter registry");
            System.exit(3);
        } catch (CheckpointException expected) {
            // refused by name, without Micrometer
        }
        TrainingState state = TrainingState.builder().add(Fixtures.randomTensor("w", DType.F32, 50_000, 7)).build();
        try (MemoryObjectStore fast = new MemoryObjectStore(64L << 20);
             MemoryObjectStore slow = new MemoryObjectStore(64L << 20);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("plain").chunkBytes(64 << 10).stagingBytes(16L << 20)
                     .encoderThreads(1).gcGrace(Duration.ZERO).tier(TierConfig.of("fast", fast).keepLast(1))
                     .tier(TierConfig.of("slow", slow)).build())) {
            for (long step = 1; step <= 3; step++) {
                cp.save(step, state).done().get(60, TimeUnit.SECONDS);
            }
            RestoreResult r = cp.restore(RestoreRequest.latest());
            Fixtures.assertSameState(state, r.state());
            cp.gc(false);
        }
        System.out.println("OK");
    }
}
