package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Assertions;

/**
 * One stored form per chunk key and tier, whatever a run does: saves whose chunks change a little (stored as
 * differences), change wholly, stay, or return to any content seen before (at the same place, at another place, or
 * in a tensor of another dtype, whose whole codec differs), saved every step into memory and every 2nd into disk, with
 * saves waited for or still in flight, promotion, retention, explicit GC and restarts of the checkpointer in between,
 * and a grace period short enough that recurring chunks count as stale. Afterwards, in every tier: every manifest
 * records the form its chunks are stored in (codec, stored length, bases), every base a stored form needs is there,
 * and every committed step restores bit-exact from that tier alone, with nothing repaired.
 */
class StoredFormProperties {
    private static final int CHUNK = RoundTripProperties.CHUNK;
    /** Chunk places: three of the float tensor "w", one of the integer tensor "n". */
    private static final int PLACES = 4;

    /** What a save does at one place: 0 keep, 1 change a few values, 2 new values, 3 take content {@code pick} seen before. */
    record Change(int kind, int pick) {
    }

    /** A save (waited for or not) with a change per place, or a GC, or a restart of the checkpointer. */
    record Op(int kind, boolean await, List<Change> changes) {
        static final int SAVE = 0;
        static final int GC = 1;
        static final int RESTART = 2;
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Change> change = Combinators.combine(Arbitraries.integers().between(0, 3), Arbitraries.integers().between(0, 1000))
                .as(Change::new);
        Arbitrary<Op> save = Combinators.combine(Arbitraries.of(true, true, false), change.list().ofSize(PLACES))
                .as((await, changes) -> new Op(Op.SAVE, await, changes));
        Arbitrary<Op> other = Arbitraries.of(Op.GC, Op.RESTART).map(k -> new Op(k, true, List.of()));
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(6, save), net.jqwik.api.Tuple.of(1, other))
                .list().ofMinSize(2).ofMaxSize(12);
    }

    @Property(tries = 50)
    void everyTierHoldsOneFormPerKeyThatItsManifestsRecord(@ForAll("ops") List<Op> ops,
                                                          @ForAll @IntRange(min = 2, max = 4) int fullEvery,
                                                          @ForAll @IntRange(min = 1, max = 4) int keepLast,
                                                          @ForAll boolean shortGrace,
                                                          @ForAll long seed) throws Exception {
        Path dir = Files.createTempDirectory("cairn-forms");
        SplittableRandom random = new SplittableRandom(seed);
        List<byte[]> seen = new ArrayList<>();
        byte[][] places = new byte[PLACES][];
        for (int p = 0; p < PLACES; p++) {
            places[p] = DeltaChainProperties.randomValues(DType.F32, CHUNK / 4, random);
            seen.add(places[p]);
        }
        Map<Long, TrainingState> saved = new HashMap<>();
        Duration grace = shortGrace ? Duration.ofMillis(1) : Duration.ZERO;
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            Checkpointer cp = Checkpointer.open(config(mem, disk, fullEvery, keepLast, grace));
            List<CheckpointHandle> pending = new ArrayList<>();
            try {
                long step = 0;
                for (Op op : ops) {
                    if (op.kind() == Op.GC) {
                        cp.gc(false);
                    } else if (op.kind() == Op.RESTART) {
                        awaitAll(pending);
                        cp.close();
                        cp = Checkpointer.open(config(mem, disk, fullEvery, keepLast, grace));
                    } else {
                        for (int p = 0; p < PLACES; p++) {
                            places[p] = next(places[p], op.changes().get(p), seen, random);
                            seen.add(places[p]);
                        }
                        step++;
                        saved.put(step, state(places));
                        CheckpointHandle h = cp.save(step, state(places));
                        pending.add(h);
                        if (op.await()) {
                            h.done().get(30, TimeUnit.SECONDS);
                        }
                        if (shortGrace) {
                            Thread.sleep(2); // recurring chunks are then older than the grace allows to count on
                        }
                    }
                }
                awaitAll(pending);
                cp.gc(false);
            } finally {
                cp.close();
            }
            for (ObjectStore store : List.of(mem, disk)) {
                StoredForms.assertManifestsAgree(store, "prop");
                try (Checkpointer alone = Checkpointer.open(RoundTripProperties.config(2)
                        .tier(TierConfig.of("only", store).keepLast(100)).build())) {
                    for (var info : alone.list()) {
                        var r = alone.restore(RestoreRequest.step(info.step()));
                        assertSameState(saved.get(info.step()), r.state());
                        Assertions.assertEquals(0, r.chunksRepaired(), "step " + info.step() + " in " + store.describe());
                    }
                }
            }
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    private static CairnConfig config(MemoryObjectStore mem, FileSystemObjectStore disk, int fullEvery, int keepLast,
                                      Duration grace) {
        return RoundTripProperties.config(2).differential(fullEvery).gcGrace(grace)
                .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keepLast))
                .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(keepLast)).build();
    }

    private static byte[] next(byte[] current, Change c, List<byte[]> seen, SplittableRandom random) {
        switch (c.kind()) {
            case 1 -> {
                byte[] b = current.clone();
                for (int k = 0, n = 1 + random.nextInt(3); k < n; k++) {
                    b[random.nextInt(b.length)] ^= (byte) (1 + random.nextInt(255));
                }
                return b;
            }
            case 2 -> {
                return DeltaChainProperties.randomValues(DType.F32, CHUNK / 4, random);
            }
            case 3 -> {
                return seen.get(c.pick() % seen.size());
            }
            default -> {
                return current;
            }
        }
    }

    /** Places 0..2 as the float tensor "w" (one chunk each), place 3 as the integer tensor "n". */
    private static TrainingState state(byte[][] places) {
        ByteBuffer w = ByteBuffer.allocateDirect(3 * CHUNK);
        for (int p = 0; p < 3; p++) {
            w.put(places[p]);
        }
        ByteBuffer n = ByteBuffer.allocateDirect(CHUNK).put(places[3]);
        return TrainingState.builder()
                .add(Tensor.of("w", DType.F32, new long[] {3 * CHUNK / 4}, w.flip()))
                .add(Tensor.of("n", DType.I32, new long[] {CHUNK / 4}, n.flip()))
                .build();
    }

    private static void awaitAll(List<CheckpointHandle> pending) throws Exception {
        for (CheckpointHandle h : pending) {
            h.done().get(30, TimeUnit.SECONDS);
        }
        pending.clear();
    }
}
