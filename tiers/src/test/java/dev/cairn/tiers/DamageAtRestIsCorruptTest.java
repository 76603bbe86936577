package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
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

    /**
     * The store's own verdict met by a commit: a chunk a save counts on, whose key in the file store became a symbolic
     * link, fails that step (STORAGE: the tier holds no usable copy) and is marked damaged, so the next save of the same
     * content writes it again over the link and commits in both tiers. Before, every later save counted on the link
     * and failed the same way: no tier got a step while the run went on.
     */
    @Test
    void aCommitThatMeetsAnUnusableObjectMarksItAndTheNextSaveWritesItAgain() throws Exception {
        TrainingState frozen = TrainingState.builder().add(randomTensor("w", DType.F32, 4 << 10, 3)).build();
        Path at = dir.resolve("disk");
        try (FileSystemObjectStore disk = new FileSystemObjectStore(at);
             FileSystemObjectStore archive = new FileSystemObjectStore(dir.resolve("archive"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1).tier(TierConfig.of("disk", disk).keepLast(3))
                     .tier(TierConfig.of("archive", archive).everySteps(2).keepLast(3)).build())) {
            cp.save(1, frozen).done().get(60, TimeUnit.SECONDS);
            ChunkRef c = Fixtures.chunksOf(disk, LAYOUT, 1, "w").get(0);
            Path file = at.resolve(LAYOUT.chunkKey(c.hash()));
            Path copy = dir.resolve("elsewhere");
            Files.move(file, copy);
            Files.createSymbolicLink(file, copy);

            CheckpointException failed = failure(cp.save(2, frozen).committed("disk"));
            assertEquals(CheckpointException.Reason.STORAGE, failed.reason(), failed.getMessage());
            assertTrue(failed.getMessage().contains(c.hash()) && failed.getMessage().contains("unusable"), failed.getMessage());

            CheckpointHandle step4 = cp.save(4, frozen);
            step4.committed("disk").get(60, TimeUnit.SECONDS);
            step4.committed("archive").get(60, TimeUnit.SECONDS);
            assertFalse(Files.isSymbolicLink(file), "the link was replaced by the chunk written again");
            for (long step : new long[] {1, 4}) {
                RestoreResult r = cp.restore(RestoreRequest.step(step));
                assertEquals("disk", r.tier(), "step " + step);
                assertEquals(0, r.chunksRepaired(), "step " + step + ": disk holds the chunk intact again");
                Fixtures.assertSameState(frozen, r.state());
            }
        }
    }

    /**
     * The store's own verdict met by a promotion: a chunk whose reads the source tier's store finds unusable (as S3
     * does for bytes at rest that no longer match their recorded CRC32C, which a stat does not see) fails the promotion
     * CORRUPT, as a hash that does not match does, and is marked: the next save writes it again and is promoted.
     * Before, the promotion failed STORAGE and marked nothing: every later save named the damaged object and every
     * later promotion failed the same way, so the slower tier got no step while the run went on.
     */
    @Test
    void aPromotionThatMeetsAnUnusableObjectMarksItAndTheNextSaveWritesItAgain() throws Exception {
        TrainingState frozen = TrainingState.builder().add(randomTensor("w", DType.F32, 4 << 10, 3)).build();
        try (UnusableUntilWritten fast = new UnusableUntilWritten(new FileSystemObjectStore(dir.resolve("fast")));
             FileSystemObjectStore archive = new FileSystemObjectStore(dir.resolve("archive"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).encoderThreads(1).tier(TierConfig.of("fast", fast).keepLast(3))
                     .tier(TierConfig.of("archive", archive).everySteps(2).keepLast(3)).build())) {
            cp.save(1, frozen).done().get(60, TimeUnit.SECONDS);
            assertTrue(archive.list(LAYOUT.manifestKey(1)).isEmpty(), "step 1 is in the fast tier only");
            String key = LAYOUT.chunkKey(Fixtures.chunksOf(fast, LAYOUT, 1, "w").get(0).hash());
            fast.damaged = key;

            CheckpointHandle step2 = cp.save(2, frozen);
            step2.committed("fast").get(60, TimeUnit.SECONDS);
            CheckpointException failed = failure(step2.committed("archive"));
            assertEquals(CheckpointException.Reason.CORRUPT, failed.reason(), failed.getMessage());
            assertTrue(failed.getMessage().contains(key), failed.getMessage());
            assertTrue(archive.list(key).isEmpty(), "nothing of the damaged chunk reached the archive");

            CheckpointHandle step4 = cp.save(4, frozen);
            step4.committed("fast").get(60, TimeUnit.SECONDS);
            step4.committed("archive").get(60, TimeUnit.SECONDS);
            assertEquals(null, fast.damaged, "the save wrote the chunk again over the damaged object");
            for (long step : new long[] {1, 2, 4}) {
                RestoreResult r = cp.restore(RestoreRequest.step(step));
                assertEquals("fast", r.tier(), "step " + step);
                assertEquals(0, r.chunksRepaired(), "step " + step);
                Fixtures.assertSameState(frozen, r.state());
            }
        }
    }

    /** Reads of {@link #damaged} fail as unusable (a stat passes) until something puts that key again. */
    private static final class UnusableUntilWritten extends dev.cairn.testkit.ForwardingObjectStore {
        volatile String damaged;

        UnusableUntilWritten(ObjectStore delegate) {
            super(delegate);
        }

        @Override
        public int read(String key, long offset, java.nio.ByteBuffer dst) throws java.io.IOException {
            if (key.equals(damaged)) {
                throw new dev.cairn.UnusableObjectException("object " + key + ": bytes that do not match their record");
            }
            return super.read(key, offset, dst);
        }

        @Override
        public void put(String key, java.nio.ByteBuffer data) throws java.io.IOException {
            super.put(key, data);
            if (key.equals(damaged)) {
                damaged = null;
            }
        }

        @Override
        public String describe() {
            return "unusable-until-written";
        }
    }

    private static CheckpointException failure(java.util.concurrent.CompletableFuture<?> f) {
        java.util.concurrent.ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(
                java.util.concurrent.ExecutionException.class, () -> f.get(60, TimeUnit.SECONDS));
        return org.junit.jupiter.api.Assertions.assertInstanceOf(CheckpointException.class, e.getCause());
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
