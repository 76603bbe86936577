package dev.cairn.djl;

import ai.djl.Model;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ReadErrorStore;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A fresh process whose store fails to answer (S3 throttling its listings after the retries, a disk failing a read):
 * the run's committed step 2 is there, so resume and a first save fail, and neither starts the run over.
 */
class ResumeFromAFailingStoreTest {
    private static final long COMMIT_LIMIT_SECONDS = 120;

    @TempDir
    Path dir;

    /** A disk store whose listings fail while {@link #failing} is set; reads, stats and writes pass. */
    private static final class ListingsFail extends ForwardingObjectStore {
        volatile boolean failing;

        ListingsFail(ObjectStore delegate) {
            super(delegate);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            fail();
            return super.list(prefix);
        }

        @Override
        public List<String> listFolders(String prefix) throws IOException {
            fail();
            return super.listFolders(prefix);
        }

        private void fail() throws IOException {
            if (failing) {
                throw new IOException("injected: ListObjectsV2 503 SlowDown after the retries");
            }
        }
    }

    /** Step 2 of run "tiny" committed on disk by a first trainer (3 batches, a save every 2 steps). */
    @BeforeEach
    void commitStep2() throws Exception {
        List<CheckpointHandle> saves = new ArrayList<>();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir); Checkpointer cp = open(disk)) {
            CheckpointableAdam adam = TinyRun.adam();
            CairnTrainingListener cairn = CairnTrainingListener.builder(cp, adam).everySteps(2).onSave(saves::add).build();
            try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
                assertEquals(TrainingPosition.START, cairn.resume(trainer));
                EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null);
            }
            for (CheckpointHandle h : saves) {
                h.done().get(COMMIT_LIMIT_SECONDS, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void resumeWhileNoTierCanBeListedFailsWithStorageInsteadOfStartingOverAndResumesOnceItCan() throws Exception {
        try (ListingsFail store = new ListingsFail(new FileSystemObjectStore(dir)); Checkpointer cp = open(store)) {
            store.failing = true;
            CheckpointableAdam adam = TinyRun.adam();
            CairnTrainingListener cairn = CairnTrainingListener.builder(cp, adam).everySteps(2).build();
            try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
                Map<String, String> before = TinyRun.parameterHashes(model);
                CheckpointException e = assertThrows(CheckpointException.class, () -> cairn.resume(trainer));
                assertEquals(CheckpointException.Reason.STORAGE, e.reason(), e.getMessage());
                assertEquals(TrainingPosition.START, cairn.position());
                assertEquals(before, TinyRun.parameterHashes(model));

                store.failing = false;
                assertEquals(new TrainingPosition(2, 0, 2), cairn.resume(trainer));
                assertNotEquals(before, TinyRun.parameterHashes(model));
            }
        }
    }

    @Test
    void resumeWhileTheNewestManifestCannotBeReadFailsInsteadOfStartingOver() throws Exception {
        // Failing from the open on: the checkpointer reads the newest MANIFEST ahead there.
        try (ReadErrorStore store = new ReadErrorStore(new FileSystemObjectStore(dir))
                .failReadsOf(key -> key.endsWith("/MANIFEST"));
             Checkpointer cp = open(store)) {
            CheckpointableAdam adam = TinyRun.adam();
            CairnTrainingListener cairn = CairnTrainingListener.builder(cp, adam).everySteps(2).build();
            try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
                Map<String, String> before = TinyRun.parameterHashes(model);
                CheckpointException e = assertThrows(CheckpointException.class, () -> cairn.resume(trainer));
                assertEquals(CheckpointException.Reason.STORAGE, e.reason(), e.getMessage());
                assertTrue(e.getMessage().contains(ReadErrorStore.EIO), e.getMessage());
                assertEquals(TrainingPosition.START, cairn.position());
                assertEquals(before, TinyRun.parameterHashes(model));
            }
        }
    }

    /**
     * A trainer that did not resume: its first save must know that the run holds nothing, and cannot while no tier can
     * be listed. The save is skipped (a failed tier never fails training: the handle says why) rather than taken into
     * a run whose newest step is 2, and each later save asks again; once the listings are back, the next save finds
     * step 2 and is refused (INVALID_INPUT: resume first, or use a new run name).
     */
    @Test
    void aFirstSaveWithoutResumeWhileNoTierCanBeListedIsSkippedNotSavedIntoTheRun() throws Exception {
        List<CheckpointHandle> saves = new ArrayList<>();
        try (ListingsFail store = new ListingsFail(new FileSystemObjectStore(dir)); Checkpointer cp = open(store)) {
            store.failing = true;
            CheckpointableAdam adam = TinyRun.adam();
            CairnTrainingListener cairn = CairnTrainingListener.builder(cp, adam).everySteps(1).onSave(saves::add).build();
            try (Model model = TinyRun.model(); Trainer trainer = TinyRun.trainer(model, adam, cairn)) {
                EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null); // training goes on
                assertEquals(List.of(1L, 2L, 3L), saves.stream().map(CheckpointHandle::step).toList());
                for (CheckpointHandle h : saves) {
                    assertTrue(h.skipped().isPresent() && h.skipped().get().contains("could not tell whether the run holds"
                            + " committed checkpoints"), h.skipped().toString());
                    assertTrue(h.tiers().isEmpty() && h.done().get(COMMIT_LIMIT_SECONDS, TimeUnit.SECONDS).isEmpty());
                }
                store.failing = false;
                CheckpointException e = assertThrows(CheckpointException.class,
                        () -> EasyTrain.fit(trainer, 1, new ShuffledBatches(TinyRun.SEED, 3), null));
                assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason(), e.getMessage());
            }
            assertEquals(List.of(2L), cp.list().stream().map(CheckpointInfo::step).toList(), "nothing saved into the run");
        }
    }

    private static Checkpointer open(ObjectStore store) {
        return Checkpointer.open(CairnConfig.builder("tiny").tier(TierConfig.of("disk", store))
                .encoderThreads(1).chunkBytes(16 << 10).stagingBytes(4 << 20).build());
    }
}
