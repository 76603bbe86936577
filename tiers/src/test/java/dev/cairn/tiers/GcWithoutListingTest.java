package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.RequestKind;
import dev.cairn.testkit.RequestStats;
import dev.cairn.testkit.SimulatedObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * Retention after a commit learns what to delete from the manifests it retires: in steady state no collection lists
 * the tier, and chunks go in batches. Counted on a {@link SimulatedObjectStore}, which counts every request by kind.
 */
class GcWithoutListingTest {
    private static final String RUN = "nolist";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final int KEEP = 2;

    /** A weight tensor that changes every step (three chunks) beside one that never does (two, shared by every step). */
    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, step))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    @Test
    void aRetiredStepsChunksAreDeletedWithoutAnyListing() throws Exception {
        SimulatedObjectStore sim = SimulatedObjectStore.builder().latency(SimulatedObjectStore.Latency.NONE).build();
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(0)
                .tier(TierConfig.of("s3", sim).keepLast(KEEP)).build())) {
            for (long step = 1; step <= 3; step++) {
                cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
            }
            // A dry run takes the tier's commit lock, so it starts after the collection that follows the last commit.
            cp.gc(true);
            RequestStats before = sim.stats();
            for (long step = 4; step <= 8; step++) {
                cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
            }
            cp.gc(true);
            RequestStats after = sim.stats();
            cp.gc(true);
            long sweepLists = sim.stats().requests(RequestKind.LIST) - after.requests(RequestKind.LIST);
            assertTrue(sweepLists > 0, "a sweep, even a dry run, lists the tier");

            assertEquals(sweepLists, after.requests(RequestKind.LIST) - before.requests(RequestKind.LIST),
                    "five saves, their commits and the retirement of steps 2 to 6 listed nothing: only the dry run did");
            assertEquals(5, after.requests(RequestKind.DELETE) - before.requests(RequestKind.DELETE),
                    "one DELETE per retired step, its MANIFEST; everything else in batches");
            assertEquals(10, after.requests(RequestKind.DELETE_BATCH) - before.requests(RequestKind.DELETE_BATCH),
                    "two batches per retired step: its index, then the chunks only it named");

            Set<String> named = new TreeSet<>();
            try (RootAllocator alloc = new RootAllocator()) {
                for (long step : new long[] {7, 8}) {
                    for (String hash : ManifestFormat.read(sim.readAll(LAYOUT.manifestKey(step)), "m", alloc)
                            .referencedHashes()) {
                        named.add(LAYOUT.chunkKey(hash));
                    }
                }
            }
            Set<String> held = new TreeSet<>();
            sim.list(LAYOUT.chunksPrefix()).forEach(o -> held.add(o.key()));
            assertEquals(named, held, "the tier holds exactly the chunks the two kept steps name: the frozen"
                    + " tensor's, shared by every step, stayed");
            assertEquals(Set.of(LAYOUT.manifestKey(7), LAYOUT.indexKey(7, 0), LAYOUT.manifestKey(8), LAYOUT.indexKey(8, 0)),
                    keys(sim, LAYOUT.stepsPrefix()));
            assertSameState(state(7), cp.restore(RestoreRequest.step(7)).state());
            assertSameState(state(8), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /**
     * The same run collected as before manifest differences (a sweep listing every step and chunk after each commit,
     * one DELETE per key) and as now; prints both, for the record.
     */
    @Test
    void collectingByManifestDifferencesSendsFewerRequestsThanSweepingAfterEachCommit() throws Exception {
        Map<RequestKind, Long> sweeping = run(1, false);
        Map<RequestKind, Long> retiring = run(CairnConfig.DEFAULT_GC_SWEEP_EVERY, true);
        System.out.println("requests of 10 saves (keepLast " + KEEP + ", 10 steps retired, 5 chunks a step, 3 of them"
                + " new), sweep after each commit and a DELETE per key: " + sweeping);
        System.out.println("requests of the same, retirement from manifests and batch deletes: " + retiring);
        assertEquals(0, retiring.get(RequestKind.LIST), "after the first collection's one listing of the steps");
        assertTrue(sweeping.get(RequestKind.LIST) >= 20, "two listings (steps, chunks) per commit: " + sweeping);
        assertTrue(retiring.get(RequestKind.DELETE) + retiring.get(RequestKind.DELETE_BATCH)
                < sweeping.get(RequestKind.DELETE), retiring + " vs " + sweeping);
    }

    /** Requests of saves 3 to 12 (after the first collection) of a run on a simulated store, by kind. */
    private static Map<RequestKind, Long> run(int sweepEvery, boolean batches) throws Exception {
        SimulatedObjectStore sim = SimulatedObjectStore.builder().latency(SimulatedObjectStore.Latency.NONE).build();
        // A forwarding store passes deleteAll to the SPI's default: one delete per key, as every store did before.
        ObjectStore store = batches ? sim : new ForwardingObjectStore(sim) { };
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcSweepEvery(sweepEvery)
                .tier(TierConfig.of("s3", store).keepLast(KEEP)).build())) {
            for (long step = 1; step <= 2; step++) {
                cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
            }
            cp.gc(true);
            RequestStats before = sim.stats();
            for (long step = 3; step <= 12; step++) {
                cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
            }
            cp.gc(true);
            RequestStats after = sim.stats();
            cp.gc(true);
            RequestStats dryRun = sim.stats();
            Map<RequestKind, Long> spent = new TreeMap<>();
            for (RequestKind kind : RequestKind.values()) {
                // Less the final dry run's own requests, which the second dry run repeats exactly.
                spent.put(kind, after.requests(kind) - before.requests(kind)
                        - (dryRun.requests(kind) - after.requests(kind)));
            }
            return spent;
        }
    }

    private static Set<String> keys(ObjectStore store, String prefix) throws java.io.IOException {
        Set<String> keys = new TreeSet<>();
        for (ObjectInfo o : store.list(prefix)) {
            keys.add(o.key());
        }
        return keys;
    }
}
