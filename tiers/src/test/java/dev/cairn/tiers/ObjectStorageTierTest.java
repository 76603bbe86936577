package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Memory, disk and S3 (a real S3Proxy on loopback) working together: promotion, retention, GC and repair. */
class ObjectStorageTierTest {
    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 150_000, seed)).add(randomTensor("frozen", DType.BF16, 50_000, 1)).build();
    }

    @Test
    void stepsReachS3ByPromotionAreCollectedThereAndRepairTheDisk() throws Exception {
        try (EmbeddedS3 s3 = EmbeddedS3.start();
             S3ObjectStore remote = new S3ObjectStore(S3StoreConfig.builder(s3.bucket()).endpoint(s3.endpoint())
                     .region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey()).prefix("ckpt").build());
             MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            try (Checkpointer cp = Checkpointer.open(smallConfig("run1")
                    .tier(TierConfig.of("memory", mem).keepLast(1))
                    .tier(TierConfig.of("disk", disk).everySteps(2).keepLast(2))
                    .tier(TierConfig.of("s3", remote).everySteps(4).keepLast(2)).build())) {
                for (long step = 1; step <= 12; step++) {
                    cp.save(step, state(step)).done().get(60, TimeUnit.SECONDS);
                }
                cp.gc(false);
                List<Long> inS3 = cp.list().stream().filter(i -> i.tier().equals("s3")).map(CheckpointInfo::step).toList();
                assertEquals(List.of(12L, 8L), inS3, "S3 keeps its last 2 of steps 4, 8, 12");
            }
            // Chunks of retired step 4 are gone from S3; what is left is exactly what steps 8 and 12 reference.
            StoreLayout layout = new StoreLayout("run1");
            try (RootAllocator alloc = new RootAllocator()) {
                java.util.Set<String> referenced = new java.util.HashSet<>();
                for (long step : List.of(8L, 12L)) {
                    referenced.addAll(ManifestFormat.read(remote.readAll(layout.manifestKey(step)), "m", alloc).chunkHashes());
                }
                java.util.Set<String> stored = new java.util.HashSet<>();
                remote.list(layout.chunksPrefix()).forEach(o -> stored.add(layout.hashOfChunkKey(o.key())));
                assertEquals(referenced, stored);
            }
            // The node loses its memory; a chunk of the disk's newest step is corrupted: S3 repairs it.
            try (RootAllocator alloc = new RootAllocator()) {
                String hash = ManifestFormat.read(disk.readAll(layout.manifestKey(12)), "m", alloc).chunkHashes().iterator().next();
                Files.write(dir.resolve(layout.chunkKey(hash)), new byte[] {1, 2, 3, 4});
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("disk", disk))
                    .tier(TierConfig.of("s3", remote)).build())) {
                RestoreResult r = cp.restore(RestoreRequest.latest());
                assertEquals(12, r.step());
                assertEquals("disk", r.tier());
                assertEquals(1, r.chunksRepaired());
                assertTrue(r.bytesReadByTier().get("s3") > 0, r.bytesReadByTier().toString());
                assertSameState(state(12), r.state());
            }
            // The disk is lost too: S3 alone restores the newest step it holds.
            try (Checkpointer cp = Checkpointer.open(smallConfig("run1").tier(TierConfig.of("s3", remote)).build())) {
                RestoreResult r = cp.restore(RestoreRequest.latest());
                assertEquals(12, r.step());
                assertSameState(state(12), r.state());
            }
        }
    }
}
