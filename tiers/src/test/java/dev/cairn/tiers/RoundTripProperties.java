package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
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
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Assertions;

/** Any state round-trips byte-exact through every tier, in both save modes. */
class RoundTripProperties {
    static final int CHUNK = 4096;

    enum Backend { MEMORY, DISK }

    /** What to build: an entry's kind, dtype, shape, how its bytes are split into buffers, and its content seed. */
    record EntrySpec(boolean tensor, DType dtype, long[] shape, int pieces, long seed, int blobBytes) {
    }

    @Provide
    Arbitrary<List<EntrySpec>> states() {
        return entrySpecs().list().ofMaxSize(6);
    }

    static Arbitrary<EntrySpec> entrySpecs() {
        Arbitrary<long[]> shapes = Arbitraries.integers().between(0, 3).flatMap(rank ->
                Arbitraries.longs().between(0, 40).array(long[].class).ofSize(rank)
                        .injectDuplicates(0.1)
                        .edgeCases(c -> c.add(new long[] {0}))
                        .map(s -> s));
        Arbitrary<long[]> bigShapes = Arbitraries.longs().between(1, 6000).map(n -> new long[] {n});
        return Combinators.combine(Arbitraries.integers().between(0, 4).map(k -> k > 0),
                        Arbitraries.of(DType.class),
                        Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, shapes), net.jqwik.api.Tuple.of(1, bigShapes)),
                        Arbitraries.integers().between(1, 3),
                        Arbitraries.longs(),
                        Arbitraries.integers().between(0, 3 * CHUNK + 5))
                .as(EntrySpec::new);
    }

    @Property(tries = 100)
    void anyStateRoundTripsThroughEveryTier(@ForAll("states") List<EntrySpec> specs, @ForAll Backend backend,
                                            @ForAll SaveMode mode, @ForAll @IntRange(min = 1, max = 3) int encoders) throws Exception {
        TrainingState state = build(specs);
        Path dir = Files.createTempDirectory("cairn-prop");
        try (ObjectStore store = backend == Backend.MEMORY ? new MemoryObjectStore(512L << 20) : new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(config(encoders).tier(TierConfig.of("t", store)).build())) {
            cp.save(5, state, mode).done().get(60, TimeUnit.SECONDS);
            RestoreResult r = cp.restore(RestoreRequest.latest());
            Assertions.assertEquals(5, r.step());
            assertSameState(build(specs), r.state());
        } finally {
            deleteTree(dir);
        }
    }

    static CairnConfig.Builder config(int encoders) {
        return CairnConfig.builder("prop").chunkBytes(CHUNK).encoderThreads(encoders)
                .stagingBytes(CairnConfig.minimumStagingBytes(CHUNK, encoders)).gcGrace(Duration.ZERO)
                .deadline(Duration.ofSeconds(60));
    }

    static TrainingState build(List<EntrySpec> specs) {
        TrainingState.Builder b = TrainingState.builder();
        for (int i = 0; i < specs.size(); i++) {
            EntrySpec s = specs.get(i);
            String name = (s.tensor ? "t" : "b") + i + "/x";
            b.add(s.tensor ? tensor(name, s) : blob(name, s));
        }
        return b.build();
    }

    private static Entry blob(String name, EntrySpec s) {
        byte[] bytes = new byte[s.blobBytes];
        new java.util.SplittableRandom(s.seed).nextBytes(bytes);
        return Blob.of(name, bytes);
    }

    /** A tensor whose bytes are split into {@code pieces} direct buffers of uneven sizes. */
    private static Tensor tensor(String name, EntrySpec s) {
        long bytes = Tensor.expectedBytes(name, s.dtype, s.shape);
        byte[] all = new byte[(int) bytes];
        new java.util.SplittableRandom(s.seed).nextBytes(all);
        List<ByteBuffer> pieces = new ArrayList<>();
        int at = 0;
        for (int p = 0; p < s.pieces; p++) {
            int len = p == s.pieces - 1 ? all.length - at : (all.length - at) / 3;
            pieces.add(ByteBuffer.allocateDirect(len).put(all, at, len).flip());
            at += len;
        }
        return Tensor.of(name, s.dtype, s.shape, pieces.toArray(new ByteBuffer[0]));
    }

    static void deleteTree(Path dir) throws java.io.IOException {
        if (Files.exists(dir)) {
            try (var walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
