package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.FaultyObjectStore;
import dev.cairn.testkit.FaultyObjectStore.Faults;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import org.junit.jupiter.api.Assertions;

/**
 * Under a store that fails, throttles, stalls, truncates reads and loses acknowledgements: every save and restore
 * ends within the deadline, no checkpoint reported committed is lost, and nothing wrong is ever restored.
 */
class FaultToleranceProperties {
    static final Duration DEADLINE = Duration.ofSeconds(10);

    @Property(tries = 15)
    void savesAndRestoresEndInTimeAndNeverLoseOrCorruptACommit(@ForAll long seed,
                                                                @ForAll @DoubleRange(min = 0, max = 0.2) double errors,
                                                                @ForAll @DoubleRange(min = 0, max = 0.3) double truncations,
                                                                @ForAll @DoubleRange(min = 0, max = 0.1) double lostAcks) throws Exception {
        Faults faults = Faults.none(seed).withErrors(errors).withThrottling(errors / 2).withLatency(Duration.ofMillis(3))
                .withTruncatedReads(truncations).withLostAcknowledgements(lostAcks);
        Set<Long> reportedCommitted = new HashSet<>();
        try (MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             MemoryObjectStore remoteBytes = new MemoryObjectStore(256L << 20);
             FaultyObjectStore remote = new FaultyObjectStore(remoteBytes, faults)) {
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).deadline(DEADLINE)
                    .tier(TierConfig.of("memory", memory).keepLast(2)).tier(TierConfig.of("remote", remote).keepLast(3)).build())) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (long step = 1; step <= 6; step++) {
                    try {
                        handles.add(cp.save(step, GcSafetyProperties.variant((int) (step % 3), step)));
                    } catch (CheckpointException e) {
                        // A save may be refused outright (e.g. the remote cannot be read for the step check).
                    }
                }
                for (CheckpointHandle h : handles) {
                    for (String tier : h.tiers()) {
                        try {
                            CommitReport r = h.committed(tier).get(DEADLINE.toMillis() * 2, TimeUnit.MILLISECONDS);
                            if (tier.equals("remote")) {
                                reportedCommitted.add(r.step());
                            }
                        } catch (ExecutionException e) {
                            Assertions.assertInstanceOf(CheckpointException.class, e.getCause(), "failures are CheckpointExceptions");
                        }
                    }
                }
                // Restores through the faulty store: exact, or a clear failure; never wrong, never hung.
                for (int i = 0; i < 3; i++) {
                    try {
                        var r = cp.restore(RestoreRequest.latest());
                        assertSameState(GcSafetyProperties.variant((int) (r.step() % 3), r.step()), r.state());
                    } catch (CheckpointException e) {
                        Assertions.assertNotNull(e.reason());
                    }
                }
            }
            // With the faults gone, every step reported committed in the remote tier (and not yet retired) restores
            // from that tier alone.
            remote.setEnabled(false);
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).tier(TierConfig.of("remote", remoteBytes).keepLast(3)).build())) {
                Set<Long> listed = new HashSet<>();
                for (CheckpointInfo info : cp.list()) {
                    listed.add(info.step());
                    TrainingState s = cp.restore(RestoreRequest.step(info.step())).state();
                    assertSameState(GcSafetyProperties.variant((int) (info.step() % 3), info.step()), s);
                }
                long newestReported = reportedCommitted.stream().mapToLong(Long::longValue).max().orElse(-1);
                if (newestReported >= 0) {
                    Assertions.assertTrue(listed.contains(newestReported), "newest reported commit " + newestReported + " is listed: " + listed);
                }
            }
        }
    }
}
