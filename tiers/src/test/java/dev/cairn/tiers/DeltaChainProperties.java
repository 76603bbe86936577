package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
import net.jqwik.api.Assume;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Assertions;

/**
 * Differential chains round-trip byte-exact: float tensors of every dtype, with NaN payloads, infinities, -0.0 and
 * subnormals among their values, saved over and over with a random share of values changed each time and any chain
 * bound, restore exactly at every retained step, from the memory tier that holds the chains and from the disk tier
 * that holds whole chunks only.
 */
class DeltaChainProperties {
    static final DType[] FLOATS = {DType.F64, DType.F32, DType.F16, DType.BF16};

    @Provide
    Arbitrary<List<Double>> fractions() {
        return Arbitraries.oneOf(Arbitraries.of(0.0, 0.001, 0.01, 1.0), Arbitraries.doubles().between(0, 1))
                .list().ofMinSize(1).ofMaxSize(7);
    }

    @Property(tries = 25)
    void everyRetainedStepOfAChainRestoresExactly(@ForAll("fractions") List<Double> fractions,
                                                  @ForAll @IntRange(min = 1, max = 5) int fullEvery,
                                                  @ForAll @IntRange(min = 0, max = 3) int dtype,
                                                  @ForAll @IntRange(min = 1, max = 9000) int elements,
                                                  @ForAll boolean zeroCopy,
                                                  @ForAll long seed) throws Exception {
        DType type = FLOATS[dtype];
        Path dir = Files.createTempDirectory("cairn-delta");
        SplittableRandom random = new SplittableRandom(seed);
        byte[] values = randomValues(type, elements, random);
        Map<Long, TrainingState> saved = new HashMap<>();
        int keep = fractions.size() + 1;
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(fullEvery)
                     .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keep))
                     .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(keep)).build())) {
            long step = 0;
            for (int s = 0; s <= fractions.size(); s++) {
                if (s > 0) {
                    change(values, type, fractions.get(s - 1), random);
                }
                step++;
                saved.put(step, state(type, values));
                cp.save(step, state(type, values), zeroCopy ? SaveMode.ZERO_COPY : SaveMode.COPY).done().get(30, TimeUnit.SECONDS);
            }
            assertChainsBounded(mem, fullEvery);
            for (var info : cp.list()) {
                assertSameState(saved.get(info.step()), cp.restore(RestoreRequest.step(info.step())).state());
            }
            // The disk alone (whole chunks only) restores its steps too.
            try (Checkpointer diskOnly = Checkpointer.open(RoundTripProperties.config(2).tier(TierConfig.of("disk", disk)).build())) {
                for (var info : diskOnly.list()) {
                    var r = diskOnly.restore(RestoreRequest.step(info.step()));
                    assertSameState(saved.get(info.step()), r.state());
                    Assertions.assertEquals(0, r.chunksRepaired());
                }
            }
            assertWholeOnly(disk);
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    /**
     * The chains above are real: a save after a few values changed stores its changed chunks as differences (the
     * property above would also pass if no difference were ever written), and each restores exactly.
     */
    @Property(tries = 15)
    void aFewChangedValuesAreStoredAsDifferences(@ForAll @IntRange(min = 2, max = 6) int fullEvery,
                                                 @ForAll @IntRange(min = 0, max = 3) int dtype,
                                                 @ForAll @IntRange(min = 4000, max = 20000) int elements,
                                                 @ForAll long seed) throws Exception {
        DType type = FLOATS[dtype];
        SplittableRandom random = new SplittableRandom(seed);
        byte[] values = randomValues(type, elements, random);
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(fullEvery)
                     .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(3)).build())) {
            cp.save(1, state(type, values)).done().get(30, TimeUnit.SECONDS);
            TrainingState first = state(type, values.clone());
            values[random.nextInt(values.length)] ^= 0x10; // one value changed: one chunk differs
            cp.save(2, state(type, values)).done().get(30, TimeUnit.SECONDS);
            long differences = 0;
            for (Manifest m : manifests(mem)) {
                for (EntryRecord e : m.entries()) {
                    differences += e.chunks().stream().filter(c -> "xor+zstd".equals(c.codec()) && !c.bases().isEmpty()).count();
                }
            }
            Assertions.assertEquals(1, differences, "the one changed chunk is stored as its difference");
            assertSameState(state(type, values), cp.restore(RestoreRequest.step(2)).state());
            assertSameState(first, cp.restore(RestoreRequest.step(1)).state());
        }
    }

    /**
     * Any link of any chain (the chunk itself or one of its bases), flipped or deleted in the memory tier, never
     * yields wrong bytes: with no other tier the restore fails as CORRUPT (or, for a flip of a bit the format ignores,
     * returns the exact state), and with the disk tier (whole chunks) beside it the restore repairs the link and
     * returns the saved state exactly.
     */
    @Property(tries = 20)
    void aDamagedLinkIsRepairedFromAnotherTierOrReported(@ForAll @IntRange(min = 0, max = 3) int dtype,
                                                         @ForAll @IntRange(min = 3000, max = 12000) int elements,
                                                         @ForAll @IntRange(min = 2, max = 5) int steps,
                                                         @ForAll @IntRange(min = 3, max = 6) int fullEvery,
                                                         @ForAll int pick, @ForAll boolean delete,
                                                         @ForAll long seed) throws Exception {
        DType type = FLOATS[dtype];
        Path dir = Files.createTempDirectory("cairn-damage");
        SplittableRandom random = new SplittableRandom(seed);
        byte[] values = randomValues(type, elements, random);
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(both(mem, disk, fullEvery, steps))) {
                for (long step = 1; step <= steps; step++) {
                    if (step > 1) {
                        values[random.nextInt(values.length)] ^= 0x04;
                        values[random.nextInt(values.length)] ^= 0x40;
                    }
                    cp.save(step, state(type, values)).done().get(30, TimeUnit.SECONDS);
                }
            }
            Manifest newest = manifests(mem).stream().filter(m -> m.step() == steps).findFirst().orElseThrow();
            List<ChunkRef> chained = newest.entries().stream().flatMap(e -> e.chunks().stream())
                    .filter(c -> !c.bases().isEmpty()).toList();
            Assume.that(!chained.isEmpty());
            ChunkRef c = chained.get(Math.floorMod(pick, chained.size()));
            List<String> links = new ArrayList<>();
            links.add(c.hash());
            links.addAll(c.bases());
            String victim = links.get(Math.floorMod(pick / 7, links.size()));
            String key = new StoreLayout("prop").chunkKey(victim);
            if (delete) {
                mem.delete(key);
            } else {
                ByteBuffer stored = mem.readAll(key);
                byte[] bytes = new byte[stored.remaining()];
                stored.get(bytes);
                bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                mem.put(key, ByteBuffer.wrap(bytes));
            }
            boolean harmless = false;
            try (Checkpointer memoryOnly = Checkpointer.open(RoundTripProperties.config(2).differential(fullEvery)
                    .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(steps)).build())) {
                try {
                    // A flip of a bit the zstd format ignores (one reserved header bit) changes nothing: the restore
                    // may then succeed, but only with the exact state.
                    assertSameState(state(type, values), memoryOnly.restore(RestoreRequest.step(steps)).state());
                    harmless = true;
                } catch (CheckpointException e) {
                    Assertions.assertEquals(CheckpointException.Reason.CORRUPT, e.reason(), e.getMessage());
                }
            }
            Assertions.assertFalse(delete && harmless, "a deleted link cannot go unnoticed");
            try (Checkpointer cp = Checkpointer.open(both(mem, disk, fullEvery, steps))) {
                var r = cp.restore(RestoreRequest.step(steps));
                assertSameState(state(type, values), r.state());
                Assertions.assertTrue(harmless || r.chunksRepaired() >= 1, "repaired from disk: " + r.chunksRepaired());
            }
        } finally {
            RoundTripProperties.deleteTree(dir);
        }
    }

    private static dev.cairn.CairnConfig both(MemoryObjectStore mem, FileSystemObjectStore disk, int fullEvery, int keep) {
        return RoundTripProperties.config(2).differential(fullEvery)
                .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keep))
                .tier(TierConfig.of("disk", disk).keepLast(keep)).build();
    }

    static TrainingState state(DType type, byte[] values) {
        ByteBuffer b = ByteBuffer.allocateDirect(values.length).put(values).flip();
        return TrainingState.builder().add(Tensor.of("t", type, new long[] {values.length / type.byteSize()}, b)).build();
    }

    /** {@code elements} values of {@code type} drawn by {@link #putValue}. */
    static byte[] randomValues(DType type, int elements, SplittableRandom random) {
        byte[] values = new byte[elements * type.byteSize()];
        for (int v = 0; v < elements; v++) {
            putValue(values, v, type, random);
        }
        return values;
    }

    /** Replaces about {@code fraction} of the values, at random places, with new draws. */
    static void change(byte[] values, DType type, double fraction, SplittableRandom random) {
        int n = values.length / type.byteSize();
        long k = Math.round(n * fraction);
        for (long c = 0; c < k; c++) {
            putValue(values, random.nextInt(n), type, random);
        }
    }

    /** A value of {@code type}: mostly ordinary, sometimes NaN with a payload, an infinity, -0.0 or a subnormal. */
    static void putValue(byte[] values, int v, DType type, SplittableRandom random) {
        int w = type.byteSize();
        ByteBuffer b = ByteBuffer.wrap(values).order(ByteOrder.LITTLE_ENDIAN);
        long bits;
        int kind = random.nextInt(20);
        int mant = type == DType.F64 ? 52 : type == DType.F32 ? 23 : type == DType.F16 ? 10 : 7;
        int exp = w * 8 - 1 - mant;
        long expAll = ((1L << exp) - 1) << mant;
        long sign = random.nextBoolean() ? 1L << (w * 8 - 1) : 0;
        long mantissa = random.nextLong() & ((1L << mant) - 1);
        switch (kind) {
            case 0 -> bits = sign | expAll | (mantissa == 0 ? 1 : mantissa);   // NaN with a payload
            case 1 -> bits = sign | expAll;                                     // infinity
            case 2 -> bits = sign;                                              // zero, -0.0
            case 3 -> bits = sign | (mantissa == 0 ? 1 : mantissa);             // subnormal
            default -> {
                // An ordinary value of moderate size, near 1.
                long e = ((1L << (exp - 1)) - 1) + random.nextInt(-3, 3);
                bits = sign | (e << mant) | mantissa;
            }
        }
        int at = v * w;
        switch (w) {
            case 8 -> b.putLong(at, bits);
            case 4 -> b.putInt(at, (int) bits);
            default -> b.putShort(at, (short) bits);
        }
    }

    /** Every chain in the memory tier's manifests is shorter than the bound. */
    static void assertChainsBounded(ObjectStore store, int fullEvery) throws Exception {
        for (Manifest m : manifests(store)) {
            for (EntryRecord e : m.entries()) {
                for (ChunkRef c : e.chunks()) {
                    Assertions.assertTrue(c.bases().size() < fullEvery, "chain " + c.bases() + " with fullEvery " + fullEvery);
                }
            }
        }
    }

    static void assertWholeOnly(ObjectStore store) throws Exception {
        for (Manifest m : manifests(store)) {
            for (EntryRecord e : m.entries()) {
                for (ChunkRef c : e.chunks()) {
                    Assertions.assertEquals(List.of(), c.bases(), "slower tiers hold whole chunks only");
                    Assertions.assertNotEquals("xor+zstd", c.codec());
                }
            }
        }
    }

    static List<Manifest> manifests(ObjectStore store) throws Exception {
        StoreLayout layout = new StoreLayout("prop");
        List<Manifest> out = new ArrayList<>();
        try (RootAllocator alloc = new RootAllocator()) {
            for (var o : store.list(layout.stepsPrefix())) {
                if (layout.isManifestKey(o.key())) {
                    out.add(ManifestFormat.read(store.readAll(o.key()), o.key(), alloc));
                }
            }
        }
        return out;
    }
}
