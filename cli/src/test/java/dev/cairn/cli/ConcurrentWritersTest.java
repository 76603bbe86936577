package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;
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

    /**
     * Steps 1 and 2 (which differ in one chunk), step 1 retired by {@code gc --keep-last 1} (its own chunk stays:
     * it is younger than the grace period), then every file aged by an hour.
     */
    @BeforeEach
    void stepOneRetiredAndEverythingAnHourOld() throws IOException {
        disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 1, 2);
        }
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
    private List<Run> saveStepThreeWithGcBeforeItsIndex(String... gcArgs) throws IOException {
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
        return gcs;
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
}
