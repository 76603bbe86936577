package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.apache.arrow.memory.RootAllocator;

/**
 * Float tensors of every width and content (normal weights, NaN payloads, infinities, signed zeros, subnormals,
 * noise) round-trip byte-exact through save and restore with the codec chosen per chunk; checkpoints written by the
 * format-1 code path (every chunk plain zstd) still restore, and new saves dedup against their chunks.
 */
class CodecRoundTripProperties {
    static final int CHUNK = 4096;
    static final List<DType> FLOATS = List.of(DType.F64, DType.F32, DType.F16, DType.BF16);

    record FloatSpec(DType dtype, int elements, int kind, long seed) {
    }

    @Provide
    Arbitrary<List<FloatSpec>> floatStates() {
        return Combinators.combine(Arbitraries.of(FLOATS), Arbitraries.integers().between(0, 5000),
                Arbitraries.integers().between(0, 3), Arbitraries.longs()).as(FloatSpec::new).list().ofMinSize(1).ofMaxSize(5);
    }

    @Property(tries = 60)
    void floatStatesRoundTripWithTheChosenCodecs(@ForAll("floatStates") List<FloatSpec> specs) throws Exception {
        try (ObjectStore store = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).tier(TierConfig.of("t", store).compressionLevel(1)).build())) {
            cp.save(3, build(specs)).done().get(60, TimeUnit.SECONDS);
            RestoreResult r = cp.restore(RestoreRequest.latest());
            assertSameState(build(specs), r.state());
            for (EntryRecord e : manifest(store, 3).entries()) {
                for (ChunkRef c : e.chunks()) {
                    assertTrue(Codec.byName(c.codec()) != null && !Codec.XOR.manifestName().equals(c.codec()), c.codec());
                    ByteBuffer stored = store.readAll(new StoreLayout("prop").chunkKey(c.hash()));
                    assertEquals(c.codec(), StoredChunkHeader.codecNameOf(stored, 0, stored.remaining()), "manifest and stored form agree");
                }
            }
        }
    }

    @Example
    void normalWeightsAreStoredAsPlanesAndSmaller() throws Exception {
        List<FloatSpec> specs = List.of(new FloatSpec(DType.F32, 600_000, 1, 1), new FloatSpec(DType.BF16, 1_200_000, 3, 2));
        int chunk = 1 << 20;
        try (ObjectStore store = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(1).chunkBytes(chunk)
                     .stagingBytes(dev.cairn.CairnConfig.minimumStagingBytes(chunk, 1)).tier(TierConfig.of("t", store).compressionLevel(1)).build())) {
            cp.save(1, build(specs)).done().get(60, TimeUnit.SECONDS);
            Manifest m = manifest(store, 1);
            assertEquals(Set.of(Codec.PLANES4R.manifestName()), codecs(m.entries().get(0)));
            assertEquals(Set.of(Codec.PLANES2R.manifestName()), codecs(m.entries().get(1)));
            assertTrue(m.storedBytes() < m.rawBytes() / 1.15, m.storedBytes() + " of " + m.rawBytes());
            assertSameState(build(specs), cp.restore(RestoreRequest.latest()).state());
        }
    }

    /**
     * Rewrites a checkpoint the way format 1 stored it (every chunk one plain zstd frame, codec "zstd", keyed by its
     * MurmurHash3, version 1), restores it with a fresh checkpointer, then saves the same state again: the new save
     * (format 3) keys its chunks by XXH3, so it names none of the format-1 chunks, and both steps restore.
     */
    @Example
    void checkpointsOfFormatOneStillRestoreUnderFormatThreeSaves() throws Exception {
        List<FloatSpec> specs = List.of(new FloatSpec(DType.F32, 4000, 1, 5), new FloatSpec(DType.BF16, 3001, 2, 6));
        StoreLayout layout = new StoreLayout("prop");
        try (ObjectStore store = new MemoryObjectStore(256L << 20)) {
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(1).tier(TierConfig.of("t", store).compressionLevel(1)).build())) {
                cp.save(1, build(specs)).done().get(60, TimeUnit.SECONDS);
            }
            Manifest now = manifest(store, 1);
            List<EntryRecord> v1Entries = new ArrayList<>();
            try (ChunkCodec codec = new ChunkCodec(1)) {
                for (EntryRecord e : now.entries()) {
                    List<ChunkRef> refs = new ArrayList<>();
                    for (ChunkRef c : e.chunks()) {
                        ByteBuffer raw = ByteBuffer.allocateDirect((int) c.rawLength());
                        ByteBuffer stored = store.readAll(layout.chunkKey(c.hash()));
                        ByteBuffer direct = ByteBuffer.allocateDirect(stored.remaining()).put(stored).flip();
                        codec.decode(direct, 0, direct.remaining(), raw, 0, raw.capacity());
                        ByteBuffer v1 = ByteBuffer.allocateDirect(ChunkCodec.maxEncodedBytes(raw.capacity()));
                        int n = codec.encode(raw, 0, raw.capacity(), v1);
                        String murmur = ContentHash.MURMUR3_128.hex(raw, 0, raw.capacity());
                        store.delete(layout.chunkKey(c.hash()));
                        store.put(layout.chunkKey(murmur), v1.limit(n));
                        refs.add(new ChunkRef(c.offset(), c.rawLength(), murmur, Codec.ZSTD.manifestName(), n, List.of(), 0,
                                ContentHash.MURMUR3_128));
                    }
                    v1Entries.add(new EntryRecord(e.name(), e.tensor(), e.dtype(), e.shape(), e.byteSize(), e.rank(), refs));
                }
            }
            Manifest v1 = new Manifest(1, now.run(), now.step(), now.worldSize(), now.rank(), now.createdAt(), now.chunkBytes(), v1Entries);
            try (RootAllocator alloc = new RootAllocator()) {
                store.put(layout.indexKey(1, 0), ByteBuffer.wrap(ManifestFormat.write(v1, "index", alloc)));
                store.put(layout.manifestKey(1), ByteBuffer.wrap(ManifestFormat.write(v1, "manifest", alloc)));
            }
            assertEquals(Set.of(Codec.ZSTD.manifestName()), codecs(manifest(store, 1).entries().get(0)));
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(1).tier(TierConfig.of("t", store).compressionLevel(1)).build())) {
                RestoreResult r = cp.restore(RestoreRequest.latest());
                assertEquals(1, r.step());
                assertSameState(build(specs), r.state());
                cp.save(2, build(specs)).done().get(60, TimeUnit.SECONDS);
                Set<String> shared = new HashSet<>(manifest(store, 2).chunkHashes());
                shared.retainAll(v1.chunkHashes());
                assertEquals(Set.of(), shared, "step 2 names no format-1 (MurmurHash3) key");
                assertEquals(ContentHash.XXH3_128, manifest(store, 2).contentHash());
                assertSameState(build(specs), cp.restore(RestoreRequest.step(2)).state());
                assertSameState(build(specs), cp.restore(RestoreRequest.step(1)).state());
            }
            try (Checkpointer cp = Checkpointer.open(RoundTripProperties.config(1).tier(TierConfig.of("t", store).compressionLevel(1)).build())) {
                // A new process dedups against step 2's chunks, found by listing, and learns their codec from them.
                cp.save(3, build(specs)).done().get(60, TimeUnit.SECONDS);
                assertEquals(manifest(store, 2).chunkHashes(), manifest(store, 3).chunkHashes());
                assertEquals(codecs(manifest(store, 2).entries().get(0)), codecs(manifest(store, 3).entries().get(0)));
                assertEquals(manifest(store, 2).storedBytes(), manifest(store, 3).storedBytes());
                assertSameState(build(specs), cp.restore(RestoreRequest.step(3)).state());
            }
        }
    }

    static Manifest manifest(ObjectStore store, long step) throws Exception {
        try (RootAllocator alloc = new RootAllocator()) {
            return ManifestFormat.read(store.readAll(new StoreLayout("prop").manifestKey(step)), "m", alloc);
        }
    }

    static Set<String> codecs(EntryRecord e) {
        Set<String> out = new HashSet<>();
        e.chunks().forEach(c -> out.add(c.codec()));
        return out;
    }

    static TrainingState build(List<FloatSpec> specs) {
        TrainingState.Builder b = TrainingState.builder();
        for (int i = 0; i < specs.size(); i++) {
            FloatSpec s = specs.get(i);
            Tensor t = Tensor.allocate("f" + i, s.dtype, s.elements);
            byte[] bytes = dev.cairn.tiers.internal.codec.CodecProperties.fill(s.kind, (int) t.byteSize(), s.seed);
            if (bytes.length > 0) {
                t.buffers().get(0).put(0, bytes);
            }
            b.add(t);
        }
        return b.build();
    }
}
