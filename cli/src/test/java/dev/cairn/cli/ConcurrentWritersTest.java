package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A writer and another process working on one store at once: the command line's {@code gc} runs at a chosen point
 * of a save (through a {@link ForwardingObjectStore}), so each interleaving is exact and does not depend on timing.
 */
class ConcurrentWritersTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    Path disk;

    @BeforeEach
    void stepsOneAndTwo() throws IOException {
        disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 1, 2);
        }
    }

    /**
     * Step 1 (which differs from step 2 in one chunk) retired by {@code gc --keep-last 1} (its own chunk stays: it
     * is younger than the grace period), then every file aged by an hour.
     */
    private void stepOneRetiredAndEverythingAnHourOld() throws IOException {
        Run gc = cairn("gc", "--store", disk.toString(), "--keep-last", "1");
        assertEquals(0, gc.status(), gc.err());
        assertTrue(gc.out().contains("retired steps [1]") && gc.out().contains(" 0 chunks"), gc.out());
        FileTime anHourAgo = FileTime.from(Instant.now().minus(Duration.ofHours(1)));
        try (Stream<Path> files = Files.walk(disk)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.setLastModifiedTime(f, anHourAgo);
            }
        }
    }

    /** Saves step 3 with step 1's tensors, running {@code gcArgs} just before the step's index is written. */
    private void saveStepThreeWithGcBeforeItsIndex(String... gcArgs) throws IOException {
        stepOneRetiredAndEverythingAnHourOld();
        List<Run> gcs = new ArrayList<>();
        try (ObjectStore store = new ForwardingObjectStore(new FileSystemObjectStore(disk)) {
            @Override
            public void put(String key, ByteBuffer data) throws IOException {
                if (key.equals(LAYOUT.indexKey(3, 0))) {
                    List<String> args = new ArrayList<>(List.of("gc", "--store", disk.toString()));
                    args.addAll(List.of(gcArgs));
                    gcs.add(cairn(args.toArray(new String[0])));
                }
                super.put(key, data);
            }
        }; Checkpointer cp = Checkpointer.open(Checkpoints.config(Checkpoints.RUN, store))) {
            cp.save(3, Checkpoints.toState(Checkpoints.state(1))).done().join();
        } finally {
            assertEquals(1, gcs.size(), "the gc ran once, before the index of step 3");
            assertEquals(0, gcs.get(0).status(), gcs.get(0).err());
        }
    }

    @Test
    void gcWithTheDefaultGraceDuringASaveThatReusesAnOldUnreferencedChunkLeavesTheStepIntact() throws IOException {
        saveStepThreeWithGcBeforeItsIndex("--keep-last", "1");

        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(1), Checkpoints.restore(store, Checkpoints.RUN, 3)));
        }
    }

    @Test
    void gcWithNoGraceDuringASaveMakesTheSaveFailInsteadOfCommittingAChunkItDeleted() throws IOException {
        CompletionException failed = assertThrows(CompletionException.class,
                () -> saveStepThreeWithGcBeforeItsIndex("--keep-last", "1", "--grace", "0s"));
        CheckpointException e = assertInstanceOf(CheckpointException.class, failed.getCause());
        assertEquals(CheckpointException.Reason.STORAGE, e.reason(), e.getMessage());
        assertTrue(e.getMessage().contains("not in the tier"), e.getMessage());
        assertFalse(Files.exists(disk.resolve(LAYOUT.manifestKey(3))), "step 3 must not be committed");

        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
        // A new save of the step writes the chunk again.
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk);
             Checkpointer cp = Checkpointer.open(Checkpoints.config(Checkpoints.RUN, store))) {
            cp.save(3, Checkpoints.toState(Checkpoints.state(1))).done().join();
        }
        verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(1), Checkpoints.restore(store, Checkpoints.RUN, 3)));
        }
    }

    @Test
    void aSaveThatLosesTheRaceForAStepLeavesTheWinnersIndexInPlace() throws IOException {
        // The loser checks that step 3 is not committed; right then the winner saves and commits it whole; then the
        // loser writes its index (replacing the winner's) and loses the MANIFEST create.
        AtomicBoolean winnerRan = new AtomicBoolean();
        try (ObjectStore store = new ForwardingObjectStore(new FileSystemObjectStore(disk)) {
            @Override
            public ObjectInfo stat(String key) throws IOException {
                try {
                    return super.stat(key);
                } catch (NoSuchFileException absent) {
                    if (key.equals(LAYOUT.manifestKey(3)) && winnerRan.compareAndSet(false, true)) {
                        try (FileSystemObjectStore other = new FileSystemObjectStore(disk)) {
                            Checkpoints.save(other, Checkpoints.RUN, 3);
                        }
                    }
                    throw absent;
                }
            }
        }; Checkpointer loser = Checkpointer.open(Checkpoints.config(Checkpoints.RUN, store))) {
            CompletionException lost = assertThrows(CompletionException.class,
                    () -> loser.save(3, Checkpoints.toState(Checkpoints.state(1))).done().join());
            CheckpointException e = assertInstanceOf(CheckpointException.class, lost.getCause());
            assertEquals(CheckpointException.Reason.CONFLICT, e.reason(), e.getMessage());
        }
        assertTrue(winnerRan.get());

        try (FileSystemObjectStore store = new FileSystemObjectStore(disk); RootAllocator allocator = new RootAllocator()) {
            Manifest committed = ManifestFormat.read(store.readAll(LAYOUT.manifestKey(3)), "MANIFEST", allocator);
            Manifest index = ManifestFormat.read(store.readAll(LAYOUT.indexKey(3, 0)), "index", allocator);
            assertEquals(committed.referencedHashes(), index.referencedHashes(), "the index names the committed chunks");
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(3), Checkpoints.restore(store, Checkpoints.RUN, 3)));
        }
        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
    }

    @Test
    void verifyReportsAnIndexThatNamesOtherChunksThanItsManifest() throws IOException {
        Files.copy(disk.resolve(LAYOUT.indexKey(1, 0)), disk.resolve(LAYOUT.indexKey(2, 0)),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(CairnCli.DAMAGED, verify.status(), verify.out() + verify.err());
        assertTrue(verify.out().contains("step 2 in") && verify.out().contains("rank-0.index"), verify.out());
    }
}
