package dev.cairn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.StoreRef;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.store.StoreSession;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A copy cut off by a failing target leaves no commit, and the next copy sends only what is missing; what the target
 * already holds is checked, not trusted.
 */
class CheckpointCopierTest {
    @TempDir
    Path tmp;

    @Test
    void aCopyInterruptedAfterThreeChunksCommitsNothingAndTheNextCopyResumes() throws IOException {
        try (FileSystemObjectStore source = new FileSystemObjectStore(tmp.resolve("src"))) {
            Checkpoints.save(source, Checkpoints.RUN, 5);
        }
        StoreLayout layout = new StoreLayout(Checkpoints.RUN);
        try (StoreSession session = new StoreSession(List.of(StoreSession.source(0, "src",
                new FileSystemObjectStore(tmp.resolve("src")))));
             FileSystemObjectStore target = new FileSystemObjectStore(tmp.resolve("dst"))) {
            session.selectRun(null);
            IOException cut = assertThrows(IOException.class, () -> session.admin().copy(session.run(), 5,
                    new StoreRef("target", "dst", new FailingAfter(target, 3)), 1, CheckpointAdmin.Progress.NONE));
            assertTrue(cut.getMessage().contains("connection lost"), cut.getMessage());
            assertFalse(exists(target, layout.manifestKey(5)), "an interrupted copy must not commit");
            long written = target.list(layout.chunksPrefix()).size();
            assertEquals(3, written);

            CheckpointAdmin.CopyReport report = session.admin().copy(session.run(), 5, new StoreRef("target", "dst", target), 2,
                    CheckpointAdmin.Progress.NONE);
            assertEquals(3, report.chunksSkipped());
            assertEquals(report.chunks() - 3, report.chunksCopied());
            assertTrue(exists(target, layout.manifestKey(5)));
        }
        try (FileSystemObjectStore target = new FileSystemObjectStore(tmp.resolve("dst"))) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(5), Checkpoints.restore(target, Checkpoints.RUN, 5)));
        }
    }

    @Test
    void aTargetChunkOfTheRightLengthButOtherBytesIsReplacedAndARerunRepairsADamagedCommittedCopy() throws IOException {
        Path src = tmp.resolve("src");
        Path dst = tmp.resolve("dst");
        StoreLayout layout = new StoreLayout(Checkpoints.RUN);
        String chunk;
        try (FileSystemObjectStore source = new FileSystemObjectStore(src);
             FileSystemObjectStore target = new FileSystemObjectStore(dst)) {
            Checkpoints.save(source, Checkpoints.RUN, 5);
            chunk = source.list(layout.chunksPrefix()).get(0).key();
            target.put(chunk, flipped(source.readAll(chunk)));
        }

        CairnCliTest.Run restore = CairnCliTest.cairn("restore", "5", "--store", src.toString(), "--to", dst.toString());
        assertEquals(0, restore.status(), restore.err());
        assertTrue(restore.out().contains("0 already there"), restore.out());
        CairnCliTest.Run verify = CairnCliTest.cairn("verify", "--store", dst.toString());
        assertEquals(0, verify.status(), verify.out());

        try (FileSystemObjectStore target = new FileSystemObjectStore(dst)) {
            target.put(chunk, flipped(target.readAll(chunk)));
        }
        CairnCliTest.Run again = CairnCliTest.cairn("restore", "5", "--store", src.toString(), "--to", dst.toString());
        assertEquals(0, again.status(), again.err());
        assertTrue(again.out().contains("1 damaged or missing chunk(s) repaired"), again.out());
        verify = CairnCliTest.cairn("verify", "--store", dst.toString());
        assertEquals(0, verify.status(), verify.out());
        try (FileSystemObjectStore target = new FileSystemObjectStore(dst)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(5), Checkpoints.restore(target, Checkpoints.RUN, 5)));
        }
    }

    /** The same number of bytes, every one inverted. */
    private static ByteBuffer flipped(ByteBuffer bytes) {
        ByteBuffer out = ByteBuffer.allocate(bytes.remaining());
        while (bytes.hasRemaining()) {
            out.put((byte) ~bytes.get());
        }
        return out.flip();
    }

    private static boolean exists(ObjectStore store, String key) throws IOException {
        return store.list(key).stream().map(ObjectInfo::key).anyMatch(key::equals);
    }

    /** A store whose puts fail after the first {@code n}, as when a connection drops mid-copy. */
    private static final class FailingAfter extends ForwardingObjectStore {
        private final AtomicInteger left;

        FailingAfter(ObjectStore delegate, int n) {
            super(delegate);
            this.left = new AtomicInteger(n);
        }

        private void spend() throws IOException {
            if (left.getAndDecrement() <= 0) {
                throw new IOException("connection lost");
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            spend();
            delegate.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            spend();
            return delegate.putIfAbsent(key, data);
        }

        @Override
        public String describe() {
            return "failing " + delegate.describe();
        }

        @Override
        public void close() {
            // the delegate belongs to the test
        }
    }
}
