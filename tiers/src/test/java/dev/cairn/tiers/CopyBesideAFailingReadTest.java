package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointAdmin.BadChunk;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ReadErrorStore;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy into a target whose store fails one read (an S3 503 after the SDK's retries, a disk's EIO) of a chunk the
 * target already holds in another stored form: its own step 1 stored {@code w} compressed, the source stored the same
 * content uncompressed. The copy checks the target's object to decide whether to count on it; before, a read that
 * failed was taken for damage ("no reader can use it"), and the copy put the source's form over the target's (here
 * 65,564 raw bytes over 49 of zstd) and committed step 2 recording that form, while step 1 still records the
 * compressed one: two forms of one content key in one tier. A job running on the target then failed its next save
 * with STORAGE ("stored in another form than the save found"), and a promotion of step 1, which reads its recorded
 * length and a byte more, would refuse it ("stored again in another form since"). A read that failed says nothing about
 * the object: the copy now fails with STORAGE, puts nothing over it and commits nothing, and running it again once
 * the store answers copies the step.
 */
class CopyBesideAFailingReadTest {
    private static final String RUN = "unreadable";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    private static Map<String, ByteBuffer> chunksOf(ObjectStore store, Manifest m) throws Exception {
        Map<String, ByteBuffer> out = new HashMap<>();
        for (ChunkRef c : m.entries().get(0).chunks()) {
            out.put(c.hash(), store.readAll(LAYOUT.chunkKey(c.hash())));
        }
        return out;
    }

    /**
     * Fails, with a plain IOException (not NoSuchFileException), the first read of {@code key} that asks for more than
     * a stored chunk's header: the read of its stored bytes that a check of the chunk makes, not the header a lookup
     * of its form reads first. Every other read passes.
     */
    private static final class FailsOneRead extends ForwardingObjectStore {
        private final String key;
        private final AtomicInteger left = new AtomicInteger(1);
        final AtomicInteger failed = new AtomicInteger();

        FailsOneRead(ObjectStore delegate, String key) {
            super(delegate);
            this.key = key;
        }

        @Override
        public int read(String k, long offset, ByteBuffer dst) throws IOException {
            if (k.equals(key) && dst.remaining() > StoredChunkHeader.MAX_LENGTH && left.getAndDecrement() > 0) {
                failed.incrementAndGet();
                throw new IOException(ReadErrorStore.EIO);
            }
            return delegate.read(k, offset, dst);
        }

        @Override
        public String describe() {
            return "fails-one-read(" + delegate.describe() + ")";
        }
    }

    /** Step 2 in the source, uncompressed; step 1 in the target, compressed. */
    private void saveBoth() throws Exception {
        try (FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", source).uncompressed()
                     .keepLast(10)).build())) {
            cp.save(2, CopyIntoAnotherStoredFormTest.state(2)).done().join();
        }
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", target).keepLast(10)).build())) {
            cp.save(1, CopyIntoAnotherStoredFormTest.state(1)).done().join();
        }
    }

    @Test
    void aReadThatFailsInTheTargetPutsNothingOverTheChunkAndCommitsNothing() throws Exception {
        saveBoth();
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"))) {
            Manifest one = Fixtures.manifest(target, LAYOUT, 1);
            ChunkRef inTarget = one.entries().get(0).chunks().get(0);
            ChunkRef inSource = Fixtures.manifest(source, LAYOUT, 2).entries().get(0).chunks().get(0);
            assertEquals(inTarget.hash(), inSource.hash());
            assertNotEquals(inTarget.storedLength(), inSource.storedLength(), "two forms of one content");
            Map<String, ByteBuffer> before = chunksOf(target, one);

            FailsOneRead failing = new FailsOneRead(target, LAYOUT.chunkKey(inTarget.hash()));
            CheckpointException failure = null;
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                admin.copy(RUN, 2, new StoreRef("target", "t", failing), 2, CheckpointAdmin.Progress.NONE);
            } catch (CheckpointException e) {
                failure = e;
            }
            assertEquals(1, failing.failed.get(), "the check of the held chunk's stored bytes failed once");

            // What the target's committed step 1 names is as it was, and step 1 verifies and restores there.
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
                StepCheck check = admin.verify(RUN, List.of(1L), CheckpointAdmin.Progress.NONE).get(0);
                assertTrue(check.intact(), check.toString());
            }
            assertEquals(before, chunksOf(target, one), "nothing put over a chunk the copy could not read");

            assertNotNull(failure, "the copy must fail: it cannot tell whether the target holds the chunk intact");
            assertEquals(Reason.STORAGE, failure.reason(), failure.toString());
            assertTrue(failure.getMessage().contains(inTarget.hash()), failure.getMessage());
            assertTrue(failure.getMessage().contains(ReadErrorStore.EIO), failure.getMessage());
            assertTrue(failure.getMessage().contains("again"), failure.getMessage());
            assertThrows(NoSuchFileException.class, () -> target.stat(LAYOUT.manifestKey(2)), "step 2 not committed");

            // Once the store answers, the copy run again copies the step, keeping the target's form.
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                assertFalse(admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE)
                        .alreadyCommitted());
            }
            assertEquals(before, chunksOf(target, one));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
                for (StepCheck check : admin.verify(RUN, List.of(1L, 2L), CheckpointAdmin.Progress.NONE)) {
                    assertTrue(check.intact(), check.toString());
                }
            }
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", target).keepLast(10)).build())) {
                assertSameState(CopyIntoAnotherStoredFormTest.state(1), cp.restore(RestoreRequest.step(1)).state());
                assertSameState(CopyIntoAnotherStoredFormTest.state(2), cp.restore(RestoreRequest.step(2)).state());
            }
        }
    }

    /**
     * The step committed in the target already, and the copy run again to repair it: a read that fails there is not
     * damage either, so nothing is sent over the chunk (the source holds it in another form than the target's MANIFEST
     * records, so it could not be anyway) and the copy fails with STORAGE, not with CORRUPT ("no good copy").
     */
    @Test
    void aRepairThatCannotReadAChunkFailsWithStorage() throws Exception {
        saveBoth();
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"));
             FileSystemObjectStore source = new FileSystemObjectStore(dir.resolve("s"))) {
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                admin.copy(RUN, 2, new StoreRef("target", "t", target), 2, CheckpointAdmin.Progress.NONE);
            }
            Manifest two = Fixtures.manifest(target, LAYOUT, 2);
            ChunkRef c = two.entries().get(0).chunks().get(0);
            Map<String, ByteBuffer> before = chunksOf(target, two);
            FailsOneRead failing = new FailsOneRead(target, LAYOUT.chunkKey(c.hash()));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("src", "s", source)))) {
                CheckpointException e = assertThrows(CheckpointException.class, () -> admin.copy(RUN, 2,
                        new StoreRef("target", "t", failing), 2, CheckpointAdmin.Progress.NONE));
                assertEquals(Reason.STORAGE, e.reason(), e.toString());
                assertTrue(e.getMessage().contains(c.hash()), e.getMessage());
            }
            assertEquals(before, chunksOf(target, two));
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", target)))) {
                for (StepCheck check : admin.verify(RUN, List.of(1L, 2L), CheckpointAdmin.Progress.NONE)) {
                    assertTrue(check.intact(), check.toString());
                }
            }
        }
    }

    /** {@code cairn verify} tells a chunk its store could not read from a damaged one. */
    @Test
    void verifyReportsAChunkItCouldNotReadAsUnreadable() throws Exception {
        saveBoth();
        try (FileSystemObjectStore target = new FileSystemObjectStore(dir.resolve("t"))) {
            ChunkRef c = Fixtures.manifest(target, LAYOUT, 1).entries().get(0).chunks().get(0);
            ReadErrorStore failing = new ReadErrorStore(target).failReadsOf(LAYOUT.chunkKey(c.hash())::equals);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("t", "t", failing)))) {
                StepCheck check = admin.verify(RUN, List.of(1L), CheckpointAdmin.Progress.NONE).get(0);
                assertFalse(check.intact());
                assertEquals(1, check.badChunks().size(), check.toString());
                BadChunk bad = check.badChunks().get(0);
                assertEquals(c.hash(), bad.hash());
                assertEquals("UNREADABLE", bad.problem().name(), bad.toString()); // by name: the test compiles without it
                assertTrue(bad.detail().contains(ReadErrorStore.EIO), bad.detail());
            }
        }
    }
}
