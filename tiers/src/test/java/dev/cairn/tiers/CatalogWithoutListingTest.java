package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.testkit.RequestKind;
import dev.cairn.testkit.RequestStats;
import dev.cairn.testkit.SimulatedObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A process's chunk catalog starts from its rank's rows of the newest committed step, not from a listing of the tier's
 * chunks: no save lists the chunk prefix (on a fresh run, on a restarted one, after a restore), dedup still skips what
 * those rows name, and a chunk the tier holds that they do not name keeps its stored form. Counted on a
 * {@link SimulatedObjectStore}, which counts every request by kind and key prefix. The scheduled sweep, which lists
 * every chunk on purpose (after a process's first commit, then every {@code gcSweepEvery} commits), is turned off
 * here, so that every LIST counted is the save path's.
 */
class CatalogWithoutListingTest {
    private static final String RUN = "seeded";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    /** 64 KiB chunks ({@link Fixtures#smallConfig}): "w" (160,000 bytes) has three. */
    private static final int W_CHUNKS = 3;

    /** A weight tensor that changes every step beside one that never does. */
    private static TrainingState state(long step) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 40_000, step))
                .add(randomTensor("frozen", DType.F32, 20_000, 1)).build();
    }

    private static CairnConfig config(SimulatedObjectStore sim, int level) {
        return smallConfig(RUN).gcSweepEvery(0).tier(TierConfig.of("s3", sim).keepLast(3).compressionLevel(level)).build();
    }

    private static SimulatedObjectStore store() {
        return SimulatedObjectStore.builder().latency(SimulatedObjectStore.Latency.NONE).build();
    }

    @Test
    void aFreshRunsFirstSaveListsNoChunks() throws Exception {
        SimulatedObjectStore sim = store();
        try (Checkpointer cp = Checkpointer.open(config(sim, 1))) {
            // State 2, whose tensors share no chunk (state 1's "w" and "frozen" are drawn from the same seed).
            CommitReport report = cp.save(1, state(2)).done().get(60, TimeUnit.SECONDS).get(0);
            assertTrue(report.chunks() > W_CHUNKS, report.toString());
            assertEquals(report.chunks(), report.chunksWritten());
            assertEquals(0, chunkRequests(sim.stats()).get(RequestKind.LIST), "no LIST of the chunk prefix");
            assertEquals(report.chunks(), chunkRequests(sim.stats()).get(RequestKind.PUT_IF_ABSENT),
                    "each chunk created once, nothing asked before: " + chunkRequests(sim.stats()));
        }
    }

    @Test
    void aRestartedRunSkipsWhatItsNewestStepNamesWithoutListing() throws Exception {
        SimulatedObjectStore sim = store();
        try (Checkpointer cp = Checkpointer.open(config(sim, 1))) {
            cp.save(1, state(1)).done().get(60, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(60, TimeUnit.SECONDS);
        }
        // A new process, saving at once without a restore.
        RequestStats before = sim.stats();
        try (Checkpointer cp = Checkpointer.open(config(sim, 1))) {
            CommitReport report = cp.save(3, state(3)).done().get(60, TimeUnit.SECONDS).get(0);
            Map<RequestKind, Long> spent = since(before, sim.stats());
            assertEquals(0, spent.get(RequestKind.LIST), "no LIST of the chunk prefix: " + spent);
            assertEquals(W_CHUNKS, report.chunksWritten(), "the frozen tensor's chunks, named by step 2, are skipped");
            assertEquals(W_CHUNKS, spent.get(RequestKind.PUT) + spent.get(RequestKind.PUT_IF_ABSENT),
                    "only the changed chunks were sent: " + spent);
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
        }
        // Another, which restores first (a replacement process), then saves.
        before = sim.stats();
        try (Checkpointer cp = Checkpointer.open(config(sim, 1))) {
            assertSameState(state(3), cp.restore(RestoreRequest.latest()).state());
            CommitReport report = cp.save(4, state(4)).done().get(60, TimeUnit.SECONDS).get(0);
            Map<RequestKind, Long> spent = since(before, sim.stats());
            assertEquals(0, spent.get(RequestKind.LIST), "no LIST of the chunk prefix: " + spent);
            assertEquals(W_CHUNKS, report.chunksWritten());
            assertEquals(W_CHUNKS, spent.get(RequestKind.PUT) + spent.get(RequestKind.PUT_IF_ABSENT), spent.toString());
            assertSameState(state(4), cp.restore(RestoreRequest.latest()).state());
            assertSameState(state(2), cp.restore(RestoreRequest.step(2)).state());
        }
    }

    /**
     * Step 1 stores a text at zstd level 1; step 2 another text, so the newest step no longer names the first. A new
     * process at level 19 saves the first text again: its catalog does not know those chunks, so it creates them,
     * finds them stored, and keeps the level-1 form that step 1's manifest records (putting its own over it would
     * leave step 1 describing bytes no longer there).
     */
    @Test
    void aChunkTheNewestStepDoesNotNameKeepsTheFormTheTierHolds() throws Exception {
        SimulatedObjectStore sim = store();
        byte[] first = Fixtures.wordText(200_000, 3);
        byte[] second = Fixtures.wordText(200_000, 4);
        try (Checkpointer cp = Checkpointer.open(config(sim, 1))) {
            cp.save(1, text(first)).done().get(60, TimeUnit.SECONDS);
            cp.save(2, text(second)).done().get(60, TimeUnit.SECONDS);
        }
        Map<String, byte[]> stored = new TreeMap<>();
        for (ObjectInfo o : sim.list(LAYOUT.chunksPrefix())) {
            stored.put(o.key(), bytes(sim.readAll(o.key())));
        }
        RequestStats before = sim.stats();
        try (Checkpointer cp = Checkpointer.open(config(sim, 19))) {
            CommitReport report = cp.save(3, text(first)).done().get(60, TimeUnit.SECONDS).get(0);
            Map<RequestKind, Long> spent = since(before, sim.stats());
            assertEquals(0, spent.get(RequestKind.LIST), "no LIST of the chunk prefix: " + spent);
            assertEquals(0, report.chunksWritten(), "every chunk was found stored and kept as it was");
            assertTrue(spent.get(RequestKind.PUT_IF_ABSENT) > 0, "the creates found them: " + spent);
            assertSameState(text(first), cp.restore(RestoreRequest.latest()).state());
            assertSameState(text(first), cp.restore(RestoreRequest.step(1)).state());
        }
        for (ObjectInfo o : sim.list(LAYOUT.chunksPrefix())) {
            assertArrayEquals(stored.get(o.key()), bytes(sim.readAll(o.key())), o.key() + " was stored again in another form");
        }
        StoredForms.assertManifestsAgree(sim, RUN);
    }

    private static TrainingState text(byte[] text) {
        Tensor t = Tensor.allocate("text", DType.U8, text.length);
        t.buffers().get(0).put(0, text);
        return TrainingState.builder().add(t).build();
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    /** Requests to the chunk prefixes (LIST pages of the chunk prefix among them), by kind. */
    private static Map<RequestKind, Long> chunkRequests(RequestStats stats) {
        Map<RequestKind, Long> n = new TreeMap<>();
        for (RequestKind kind : RequestKind.values()) {
            n.put(kind, 0L);
        }
        for (Map.Entry<String, RequestStats.PrefixStats> e : stats.prefixes().entrySet()) {
            if (e.getKey().startsWith(LAYOUT.chunksPrefix())) {
                for (RequestKind kind : RequestKind.values()) {
                    n.merge(kind, e.getValue().requests(kind), Long::sum);
                }
            }
        }
        return n;
    }

    private static Map<RequestKind, Long> since(RequestStats before, RequestStats after) {
        Map<RequestKind, Long> was = chunkRequests(before);
        Map<RequestKind, Long> now = chunkRequests(after);
        now.replaceAll((kind, n) -> n - was.get(kind));
        return now;
    }
}
