package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The MANIFEST create happens but its answer is lost, and the first read-back fails too: the writer must still find
 * that the step it committed is its own (as {@code cairn import} does through the library), never call it a conflict.
 */
class LostManifestAnswerTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    @Test
    void aCreateAnsweredNotCreatedAfterALostAnswerAndAFailedReadBackStillCommitsTheStep() throws IOException {
        saveStepOneThroughALostAnswer(false);
    }

    @Test
    void aCreateThatFailedAfterItWasAppliedAndAFailedReadBackStillCommitsTheStep() throws IOException {
        saveStepOneThroughALostAnswer(true);
    }

    /**
     * Saves step 1 on a store that applies the MANIFEST create, then either fails it (a connection reset after the
     * write) or answers "not created" (what an S3 store's retry reports when it finds the object its first, lost
     * attempt created), and fails the first read of the MANIFEST after that.
     */
    private void saveStepOneThroughALostAnswer(boolean createFails) throws IOException {
        Path disk = tmp.resolve("disk");
        AtomicBoolean created = new AtomicBoolean();
        AtomicInteger failedReads = new AtomicInteger();
        try (ObjectStore store = new ForwardingObjectStore(new FileSystemObjectStore(disk)) {
            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
                boolean applied = super.putIfAbsent(key, data);
                if (!key.equals(LAYOUT.manifestKey(1)) || !applied) {
                    return applied;
                }
                created.set(true);
                if (createFails) {
                    throw new IOException("create '" + key + "': connection reset after the write was applied (test)");
                }
                return false;
            }

            @Override
            public int read(String key, long offset, ByteBuffer dst) throws IOException {
                if (key.equals(LAYOUT.manifestKey(1)) && created.get() && failedReads.getAndIncrement() == 0) {
                    throw new IOException("read '" + key + "': connection reset (test)");
                }
                return super.read(key, offset, dst);
            }
        }; Checkpointer cp = Checkpointer.open(Checkpoints.config(Checkpoints.RUN, store))) {
            cp.save(1, Checkpoints.toState(Checkpoints.state(1))).done().join();
        }
        assertTrue(created.get() && failedReads.get() >= 1, "the create was applied and a read-back failed");
        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(1), Checkpoints.restore(store, Checkpoints.RUN, 1)));
        }
    }
}
