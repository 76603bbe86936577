package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.ChunkReader.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A chunk whose stored object the store itself finds bad is CORRUPT, not UNREADABLE (the store's trouble, after which a
 * copy refuses to put over it): an S3 object whose bytes at rest no longer match the length and CRC32C recorded with
 * them (every attempt finds it so), and a file store's key that is a symbolic link, which the store never writes. Both
 * came back as plain read failures, so `cairn restore --to` could never repair them and `cairn verify` called them
 * unreadable.
 */
class DamageAtRestIsCorruptTest {
    private static final String RUN = "rest";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    @Test
    void anS3ObjectWhoseBytesNoLongerMatchItsRecordIsCorrupt() throws Exception {
        Path at = dir.resolve("s3");
        try (EmbeddedS3 s3 = EmbeddedS3.start("rest", at);
             S3ObjectStore store = new S3ObjectStore(S3StoreConfig.builder(s3.bucket()).endpoint(s3.endpoint())
                     .region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey()).prefix("p/")
                     .retries(2, Duration.ofMillis(1), Duration.ofMillis(10)).build())) {
            ChunkRef c = saveOneChunk(store);
            Path file = fileEndingWith(at, LAYOUT.chunkKey(c.hash()));
            byte[] bytes = Files.readAllBytes(file);
            bytes[bytes.length / 2] ^= 0x40; // at rest: the object's metadata (its record) is left as it was
            Files.write(file, bytes);
            try (ChunkReader reader = new ChunkReader()) {
                ChunkReader.Check check = reader.check(store, LAYOUT, c);
                assertEquals(Status.CORRUPT, check.status(), check.toString());
                assertTrue(check.detail().contains("CRC32C"), check.detail());
            }
        }
    }

    /**
     * The same damage met by a restore, in a tier that a save writes next: the restore takes the chunk from disk and
     * marks it in S3's catalog, and the next save of the same content writes it again over the damaged object (the
     * writer's re-read gets the store's own verdict, unusable, which is damage). Before, that re-read took the
     * verdict for a failure to read: every later save of the content failed STORAGE.
     */
    @Test
    void aSaveAfterARestoreMetDamageAtRestInS3WritesTheChunkAgain() throws Exception {
        Path at = dir.resolve("s3");
        TrainingState frozen = TrainingState.builder().add(randomTensor("w", DType.F32, 4 << 10, 3)).build();
        try (EmbeddedS3 s3 = EmbeddedS3.start("rest", at);
             S3ObjectStore store = new S3ObjectStore(S3StoreConfig.builder(s3.bucket()).endpoint(s3.endpoint())
                     .region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey()).prefix("p/")
                     .retries(2, Duration.ofMillis(1), Duration.ofMillis(10)).build());
             FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("s3", store).keepLast(3))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            cp.save(1, frozen).done().get(60, TimeUnit.SECONDS);
            ChunkRef c = Fixtures.chunksOf(store, LAYOUT, 1, "w").get(0);
            Path file = fileEndingWith(at, LAYOUT.chunkKey(c.hash()));
            byte[] bytes = Files.readAllBytes(file);
            bytes[bytes.length / 2] ^= 0x40;
            Files.write(file, bytes);

            dev.cairn.RestoreResult first = cp.restore(dev.cairn.RestoreRequest.step(1));
            assertEquals("s3", first.tier());
            assertEquals(1, first.chunksRepaired(), "the damaged chunk came from disk");

            cp.save(2, frozen).done().get(60, TimeUnit.SECONDS);
            for (long step : new long[] {1, 2}) {
                dev.cairn.RestoreResult r = cp.restore(dev.cairn.RestoreRequest.step(step));
                assertEquals("s3", r.tier(), "step " + step);
                assertEquals(0, r.chunksRepaired(), "step " + step + ": S3 holds the chunk intact again");
                Fixtures.assertSameState(frozen, r.state());
            }
        }
    }

    @Test
    void aFileStoresKeyThatIsASymbolicLinkIsCorrupt() throws Exception {
        Path at = dir.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(at)) {
            ChunkRef c = saveOneChunk(store);
            Path file = at.resolve(LAYOUT.chunkKey(c.hash()));
            Path copy = dir.resolve("elsewhere");
            Files.move(file, copy);
            Files.createSymbolicLink(file, copy);
            try (ChunkReader reader = new ChunkReader()) {
                ChunkReader.Check check = reader.check(store, LAYOUT, c);
                assertEquals(Status.CORRUPT, check.status(), check.toString());
                assertTrue(check.detail().contains("symbolic link"), check.detail());
            }
        }
    }

    /** Saves a one-chunk state into {@code store}; returns that chunk as step 1 records it. */
    private static ChunkRef saveOneChunk(ObjectStore store) throws Exception {
        try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("t", store)).build())) {
            cp.save(1, TrainingState.builder().add(randomTensor("w", DType.F32, 4 << 10, 3)).build())
                    .done().get(60, TimeUnit.SECONDS);
        }
        List<ChunkRef> chunks = Fixtures.chunksOf(store, LAYOUT, 1, "w");
        assertEquals(1, chunks.size());
        return chunks.get(0);
    }

    private static Path fileEndingWith(Path root, String key) throws Exception {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(p -> p.toString().endsWith(key)).findFirst().orElseThrow(() ->
                    new AssertionError("no file for " + key + " under " + root));
        }
    }
}
