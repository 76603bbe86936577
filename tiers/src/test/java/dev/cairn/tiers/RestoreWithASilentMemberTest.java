package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store spread over members that may not answer (the peer-memory tier) lists, stats and reads what the members that
 * answered hold. When the silent member holds every MANIFEST, index and mark of the run (a replacement rank's only
 * placement target), those listings find nothing: a restore of the newest step must then fail as a store that could
 * not be asked (STORAGE), never as "no checkpoint" (NOT_FOUND), on which a job starts from scratch and loses its run.
 * It asks {@code listWhole}, which fails while a member is silent. A store whose whole listing is empty too is a new
 * run: NOT_FOUND.
 */
class RestoreWithASilentMemberTest {
    private static final String RUN = "spread";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    @TempDir
    Path dir;

    /**
     * The store in {@code dir} as a member sees it while the one holding the run's metadata is silent: its steps'
     * MANIFESTs, indexes, notices and marks are neither listed nor found; {@code listWhole} fails. Chunks are held by
     * the members that answer. {@code partial}: whether it says its listings may leave members out.
     */
    private static final class SpreadStore extends ForwardingObjectStore {
        private final boolean partial;
        volatile boolean silent;
        /** Only a whole listing fails: a member that holds nothing does not answer (a fresh run's peer is down). */
        volatile boolean wholeFails;

        SpreadStore(FileSystemObjectStore delegate, boolean partial) {
            super(delegate);
            this.partial = partial;
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            List<ObjectInfo> all = delegate.list(prefix);
            return silent ? all.stream().filter(o -> !heldOnlyBySilentMember(o.key())).toList() : all;
        }

        @Override
        public List<String> listFolders(String prefix) throws IOException {
            List<String> all = delegate.listFolders(prefix);
            return silent ? all.stream().filter(f -> !heldOnlyBySilentMember(f)).toList() : all;
        }

        @Override
        public List<ObjectInfo> listWhole(String prefix) throws IOException {
            if (silent || wholeFails) {
                throw new IOException("cannot list " + prefix + " whole: member 1 did not answer");
            }
            return delegate.listWhole(prefix);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            if (silent && heldOnlyBySilentMember(key)) {
                throw new NoSuchFileException(key, null, "on no member that answered");
            }
            return delegate.stat(key);
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            if (silent && heldOnlyBySilentMember(key)) {
                throw new NoSuchFileException(key, null, "on no member that answered");
            }
            return delegate.read(key, offset, dst);
        }

        @Override
        public boolean listsMayBePartial() {
            return partial;
        }

        private static boolean heldOnlyBySilentMember(String key) {
            return key.startsWith(LAYOUT.stepsPrefix()) || key.startsWith(LAYOUT.marksPrefix())
                    || LAYOUT.stepOfNoticeKey(key).isPresent();
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 30_000, 100 + seed)).build();
    }

    private Checkpointer open(SpreadStore store) {
        return Checkpointer.open(smallConfig(RUN).gcSweepEvery(0).tier(TierConfig.of("peer", store).keepLast(10)).build());
    }

    private void save(long... steps) throws Exception {
        try (SpreadStore store = new SpreadStore(new FileSystemObjectStore(dir), true); Checkpointer cp = open(store)) {
            for (long s : steps) {
                cp.save(s, state(s)).done().get(120, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void theNewestStepWhileTheMemberHoldingItIsSilentIsNotNoCheckpoint() throws Exception {
        save(1, 2);
        try (SpreadStore store = new SpreadStore(new FileSystemObjectStore(dir), true); Checkpointer cp = open(store)) {
            store.silent = true;
            CheckpointException unknown = assertThrows(CheckpointException.class,
                    () -> cp.restore(RestoreRequest.latest()));
            assertEquals(CheckpointException.Reason.STORAGE, unknown.reason(), unknown.toString());
            assertTrue(unknown.getMessage().contains("member 1 did not answer"), unknown.getMessage());

            store.silent = false; // it answers again: the same checkpointer restores the newest step
            assertEquals(2, cp.restore(RestoreRequest.latest()).step());
            assertSameState(state(2), cp.restore(RestoreRequest.latest()).state());
        }
    }

    @Test
    void aSpreadStoreWhoseWholeListingIsEmptyHoldsNoCheckpoint() throws Exception {
        try (SpreadStore store = new SpreadStore(new FileSystemObjectStore(dir), true); Checkpointer cp = open(store)) {
            CheckpointException none = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
            assertEquals(CheckpointException.Reason.NOT_FOUND, none.reason(), none.toString());
            cp.save(1, state(1)).done().get(120, TimeUnit.SECONDS); // and its first save goes on
            assertEquals(1, cp.restore(RestoreRequest.latest()).step());
        }
    }

    /**
     * A save's look for the newest step is not a restore's: in a fresh run whose other member is down, saves go on
     * with the members that answer (as before the restore's look became strict), training is not refused a checkpoint
     * for it; a step number another writer took meanwhile is refused by the create-only MANIFEST. The restore of the
     * newest step, in the same state, cannot tell.
     */
    @Test
    void aSaveInAFreshRunGoesOnWhileAMemberIsSilent() throws Exception {
        try (SpreadStore store = new SpreadStore(new FileSystemObjectStore(dir), true); Checkpointer cp = open(store)) {
            store.wholeFails = true;
            CheckpointException unknown = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
            assertEquals(CheckpointException.Reason.STORAGE, unknown.reason(), unknown.toString());
            cp.save(1, state(1)).done().get(120, TimeUnit.SECONDS);
            cp.save(2, state(2)).done().get(120, TimeUnit.SECONDS);
            assertEquals(2, cp.restore(RestoreRequest.latest()).step(), "found in the marks: no whole listing needed");
        }
    }

    /** What a store that does not say its listings may be partial gets: its empty answer is taken as it is. */
    @Test
    void aStoreWhoseListingsAreWholeIsNotAskedTwice() throws Exception {
        save(1);
        try (SpreadStore store = new SpreadStore(new FileSystemObjectStore(dir), false); Checkpointer cp = open(store)) {
            store.silent = true;
            CheckpointException none = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
            assertEquals(CheckpointException.Reason.NOT_FOUND, none.reason(), none.toString());
        }
    }
}
