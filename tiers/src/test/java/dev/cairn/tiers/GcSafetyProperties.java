package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Assertions;

/**
 * Whatever the order of saves (waited for or still in flight), retention and explicit GC, with no grace period,
 * every chunk a retained manifest references is still there (differential bases included), and every retained step
 * restores exactly.
 */
class GcSafetyProperties {

    /** An action: save the next step with content variant {@code variant} (some chunks shared), or run GC. */
    record Op(boolean gc, int variant, boolean awaitCommit) {
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> op = Arbitraries.integers().between(0, 9).flatMap(kind ->
                Arbitraries.integers().between(0, 3).flatMap(variant ->
                        Arbitraries.of(true, false).map(w -> new Op(kind < 2, variant, w))));
        return op.list().ofMinSize(1).ofMaxSize(14);
    }

    @Property(tries = 40)
    void gcNeverDeletesAChunkThatARetainedManifestReferences(@ForAll("ops") List<Op> ops,
                                                             @ForAll @IntRange(min = 1, max = 3) int keepLast,
                                                             @ForAll @IntRange(min = 1, max = 2) int diskEvery,
                                                             @ForAll boolean zeroCopy,
                                                             @ForAll @IntRange(min = 1, max = 4) int fullEvery) throws Exception {
        Path dir = Files.createTempDirectory("cairn-gc");
        Map<Long, TrainingState> saved = new HashMap<>();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(fullEvery)
                     .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keepLast))
                     .tier(TierConfig.of("disk", disk).everySteps(diskEvery).keepLast(keepLast)).build())) {
            List<CheckpointHandle> pending = new ArrayList<>();
            long step = 0;
            for (Op op : ops) {
                if (op.gc) {
                    cp.gc(false);
                    continue;
                }
                step++;
                TrainingState s = variant(op.variant, step);
                saved.put(step, variant(op.variant, step));
                CheckpointHandle h = cp.save(step, s, zeroCopy ? SaveMode.ZERO_COPY : SaveMode.COPY);
                pending.add(h);
                if (op.awaitCommit) {
                    h.done().get(30, TimeUnit.SECONDS);
                }
            }
            for (CheckpointHandle h : pending) {
                h.done().get(30, TimeUnit.SECONDS);
            }
            cp.gc(false);
            for (ObjectStore store : List.of(mem, disk)) {
                assertRetainedStepsComplete(store, keepLast);
            }
            for (var info : cp.list()) {
                TrainingState got = cp.restore(RestoreRequest.step(info.step())).state();
                assertSameState(saved.get(info.step()), got);
            }
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    private static void assertRetainedStepsComplete(ObjectStore store, int keepLast) throws Exception {
        StoreLayout layout = new StoreLayout("prop");
        List<Long> committed = new ArrayList<>();
        for (ObjectInfo o : store.list(layout.stepsPrefix())) {
            if (layout.isManifestKey(o.key())) {
                committed.add(layout.stepOf(o.key()).getAsLong());
            }
        }
        Assertions.assertTrue(committed.size() <= keepLast, "retention keeps at most " + keepLast + ": " + committed);
        org.apache.arrow.memory.RootAllocator alloc = new org.apache.arrow.memory.RootAllocator();
        try (alloc) {
            for (long step : committed) {
                var m = dev.cairn.tiers.internal.manifest.ManifestFormat.read(store.readAll(layout.manifestKey(step)), "m", alloc);
                for (String hash : m.referencedHashes()) {
                    Assertions.assertDoesNotThrow(() -> store.stat(layout.chunkKey(hash)), "chunk " + hash + " of step " + step);
                }
            }
        }
    }

    /**
     * Variant {@code v} of a state: tensor "shared" is the same in every variant and step (dedup), "variant" depends
     * on {@code v} only, "step" changes every step, "drift" changes a few bytes per step (differential chains).
     */
    static TrainingState variant(int v, long step) {
        return TrainingState.builder()
                .add(filled("shared", 3 * RoundTripProperties.CHUNK + 17, 1))
                .add(filled("variant", 2 * RoundTripProperties.CHUNK, 100 + v))
                .add(filled("step", RoundTripProperties.CHUNK / 2, 1000 + step))
                .add(drifted(3 * RoundTripProperties.CHUNK, step))
                .build();
    }

    /** The same bytes with a few changed at each step: step s differs from step s-1 in s-dependent places. */
    private static Tensor drifted(int bytes, long step) {
        byte[] b = new byte[bytes];
        new SplittableRandom(7).nextBytes(b);
        for (long s = 1; s <= step; s++) {
            SplittableRandom r = new SplittableRandom(s);
            for (int k = 0; k < 8; k++) {
                b[r.nextInt(bytes)] = (byte) r.nextInt();
            }
        }
        return Tensor.of("drift", DType.U8, new long[] {bytes}, ByteBuffer.allocateDirect(bytes).put(b).flip());
    }

    private static Tensor filled(String name, int bytes, long seed) {
        byte[] b = new byte[bytes];
        new SplittableRandom(seed).nextBytes(b);
        return Tensor.of(name, DType.U8, new long[] {bytes}, ByteBuffer.allocateDirect(bytes).put(b).flip());
    }
}
