package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code restore} with several {@code --store}s takes a damaged or missing rank index or MANIFEST from the next store. */
class RestoreFromSeveralStoresTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    Path first;
    Path second;

    @BeforeEach
    void oneStepInTwoStores() throws IOException {
        first = tmp.resolve("first");
        second = tmp.resolve("second");
        try (FileSystemObjectStore store = new FileSystemObjectStore(first)) {
            Checkpoints.save(store, Checkpoints.RUN, 20);
        }
        assertEquals(0, cairn("restore", "20", "--store", first.toString(), "--to", second.toString()).status());
    }

    @Test
    void aDamagedRankIndexInTheFirstStoreIsTakenFromTheNext() throws IOException {
        RecoveryCommandsTest.flipLastByte(first.resolve(LAYOUT.indexKey(20, 0)));
        assertRestoredFromBoth();

        Path alone = tmp.resolve("alone");
        Run refused = cairn("restore", "20", "--store", first.toString(), "--to", alone.toString());
        assertEquals(CairnCli.FAILED, refused.status(), refused.out() + refused.err());
        assertEquals(1, refused.errLines().size(), refused.err());
        assertTrue(refused.err().contains("rank index " + LAYOUT.indexKey(20, 0)), refused.err());
        assertFalse(refused.err().contains("manifest " + first), "an index is not called a manifest: " + refused.err());
        assertFalse(Files.exists(alone.resolve(LAYOUT.manifestKey(20))), "nothing may be committed");
    }

    @Test
    void aMissingRankIndexInTheFirstStoreIsTakenFromTheNextAndNeverLeftOut() throws IOException {
        Files.delete(first.resolve(LAYOUT.indexKey(20, 0)));
        assertRestoredFromBoth();

        Path alone = tmp.resolve("alone");
        Run refused = cairn("restore", "20", "--store", first.toString(), "--to", alone.toString());
        assertEquals(CairnCli.FAILED, refused.status(), refused.out() + refused.err());
        assertTrue(refused.err().contains("rank index " + LAYOUT.indexKey(20, 0)) && refused.err().contains("missing"),
                refused.err());
        assertFalse(Files.exists(alone.resolve(LAYOUT.manifestKey(20))), "a step without its index may not be committed");
    }

    @Test
    void aDamagedManifestInTheFirstStoreIsTakenFromTheNext() throws IOException {
        RecoveryCommandsTest.flipLastByte(first.resolve(LAYOUT.manifestKey(20)));
        assertRestoredFromBoth();
    }

    private void assertRestoredFromBoth() throws IOException {
        Path target = tmp.resolve("target");
        Run r = cairn("restore", "20", "--store", first.toString(), "--store", second.toString(), "--to", target.toString());
        assertEquals(0, r.status(), r.out() + r.err());
        assertArrayEquals(Files.readAllBytes(second.resolve(LAYOUT.indexKey(20, 0))),
                Files.readAllBytes(target.resolve(LAYOUT.indexKey(20, 0))));
        assertArrayEquals(Files.readAllBytes(second.resolve(LAYOUT.manifestKey(20))),
                Files.readAllBytes(target.resolve(LAYOUT.manifestKey(20))));
        Run verify = cairn("verify", "20", "--store", target.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
        try (FileSystemObjectStore t = new FileSystemObjectStore(target)) {
            assertTrue(Checkpoints.sameBytes(Checkpoints.state(20), Checkpoints.restore(t, Checkpoints.RUN, 20)));
        }
    }
}
