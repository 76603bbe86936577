package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's meters on a real Micrometer registry, tagged by run, rank and tier only. */
class MicrometerMetricsTest {
    @TempDir
    Path dir;

    /** A store that counts its own puts, as the peer tier counts its replicas, to see a store's counts reach the registry. */
    private static final class CountingStore extends ForwardingObjectStore {
        final AtomicLong puts = new AtomicLong();

        CountingStore(MemoryObjectStore delegate) {
            super(delegate);
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            puts.incrementAndGet();
            super.put(key, data);
        }

        @Override
        public Map<String, Long> counters() {
            return Map.of("puts", puts.get());
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 100_000, seed)).build();
    }

    @Test
    void savesCommitsPromotionsRestoresAndCollectionsReachTheRegistry() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        long stateBytes = state(0).byteSize();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             CountingStore counted = new CountingStore(mem);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(smallConfig("metrics").meterRegistry(registry)
                     .tier(TierConfig.of("memory", counted).keepLast(1)).tier(TierConfig.of("disk", disk).everySteps(2)).build())) {
            for (long step = 1; step <= 4; step++) {
                cp.save(step, state(step)).done().get(30, TimeUnit.SECONDS);
            }
            CheckpointException conflict = assertThrows(CheckpointException.class, () -> cp.save(4, state(4)));
            assertEquals(CheckpointException.Reason.CONFLICT, conflict.reason());
            assertEquals(4, cp.restore(RestoreRequest.latest()).step());
            // A look at the blobs before a restore is not counted as one, nor is its NOT_FOUND.
            assertEquals(4, cp.restore(RestoreRequest.latest().blobsOnly()).step());
            assertEquals(CheckpointException.Reason.NOT_FOUND, assertThrows(CheckpointException.class,
                    () -> cp.restore(RestoreRequest.step(99).blobsOnly())).reason());
            cp.gc(false);

            Timer stall = registry.get("cairn.save.stall").tags("run", "metrics", "rank", "0", "tier", "memory").timer();
            assertEquals(4, stall.count());
            assertEquals(3, stall.takeSnapshot().percentileValues().length, "p50, p90, p99");
            assertEquals(4, registry.get("cairn.commit.time").tag("tier", "memory").timer().count());
            assertEquals(2, registry.get("cairn.commit.time").tag("tier", "disk").timer().count());
            assertEquals(2, registry.get("cairn.promotion.time").tag("tier", "disk").timer().count());
            assertEquals(2, registry.get("cairn.promotion.lag").tag("tier", "disk").summary().count());
            assertEquals(4.0 * stateBytes, registry.get("cairn.bytes.raw").tag("tier", "memory").counter().count());
            assertEquals(2.0 * stateBytes, registry.get("cairn.bytes.raw").tag("tier", "disk").counter().count());
            assertTrue(registry.get("cairn.bytes.stored").tag("tier", "memory").counter().count() > 0);
            assertTrue(registry.get("cairn.bytes.written").tag("tier", "disk").counter().count() > 0);
            assertEquals(4, registry.get("cairn.commit.count").tag("tier", "memory").counter().count());
            assertEquals(1, registry.get("cairn.save.refused").tag("reason", "CONFLICT").counter().count());
            assertEquals(1, registry.get("cairn.restore.time").tag("tier", "memory").timer().count());
            assertTrue(registry.find("cairn.restore.failed").counters().isEmpty(), "no restore failed");
            assertTrue(registry.get("cairn.restore.bytes").tag("tier", "memory").counter().count() > 0);
            assertEquals(0, registry.get("cairn.restore.chunks.repaired").tag("tier", "memory").counter().count());
            assertTrue(registry.get("cairn.gc.time").tag("tier", "memory").timer().count() >= 1);
            assertTrue(registry.get("cairn.gc.bytes.freed").tag("tier", "memory").counter().count() > 0,
                    "keepLast(1) and a new state each step: older steps' chunks go");
            assertEquals(16.0 * (1 << 20), registry.get("cairn.staging.limit").gauge().value());
            assertTrue(registry.get("cairn.staging.used").gauge().value() >= 0);
            assertEquals((double) counted.puts.get(), registry.get("cairn.store.puts").tag("tier", "memory").functionCounter().count());
            assertTrue(counted.puts.get() > 0);

            // phi: Micrometer's own tag on the published percentiles (three values).
            Set<String> allowed = Set.of("run", "rank", "tier", "reason", "phi");
            for (Meter m : registry.getMeters()) {
                for (Tag t : m.getId().getTags()) {
                    assertTrue(allowed.contains(t.getKey()), m.getId() + " is tagged " + t.getKey());
                }
            }
        }
        assertNull(registry.find("cairn.staging.used").gauge(), "a closed checkpointer's gauges leave the registry");
        assertNull(registry.find("cairn.store.puts").functionCounter());
        assertEquals(4, registry.get("cairn.save.stall").timer().count(), "counts and timers stay");
    }

    @Test
    void aMeterRegistryOfAnotherTypeIsRefusedWhenSet() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> CairnConfig.builder("r").meterRegistry("registry"));
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason());
        assertTrue(e.getMessage().contains("io.micrometer.core.instrument.MeterRegistry"), e.getMessage());
    }
}
