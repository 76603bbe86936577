package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One entry that cannot name a run (a directory with a control character, a backslash) never hides the other runs. */
class LsOfAStoreWithStrayEntriesTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);

    @TempDir
    Path tmp;

    @Test
    void lsSkipsAndReportsARunDirectoryWithAControlCharacterAndListsTheRest() throws IOException {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 1);
        }
        for (String bad : new String[] {"bad\u001b[2Jrun", "back\\slash"}) {
            Path manifest = disk.resolve(bad).resolve("steps/1/MANIFEST");
            Files.createDirectories(manifest.getParent());
            Files.copy(disk.resolve(LAYOUT.manifestKey(1)), manifest);
        }

        Run text = cairn("ls", "--store", disk.toString());
        assertEquals(0, text.status(), text.err());
        assertTrue(text.out().contains(Checkpoints.RUN) && text.out().contains("committed"), text.out());
        assertEquals(2, text.errLines().size(), text.err());
        assertTrue(text.err().contains("skipped 'bad\\u001b[2Jrun'") && text.err().contains("back\\slash"), text.err());
        TerminalOutputTest.assertSafe(text);

        Run json = cairn("ls", "--store", disk.toString(), "--json");
        assertEquals(0, json.status(), json.err());
        JsonNode runs = new ObjectMapper().readTree(json.out()).get("runs");
        assertEquals(1, runs.size(), json.out());
        assertEquals(Checkpoints.RUN, runs.get(0).get("run").asText());

        Run verify = cairn("verify", "--store", disk.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
    }

    /** Retention's RETIRED marker outlives a removed step until the GC grace ends: ls does not show that step. */
    @Test
    void lsDoesNotListAStepThatRetentionRemovedAndMarked() throws IOException {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 1);
            store.put(LAYOUT.retiredKey(7), java.nio.ByteBuffer.allocate(0));
        }
        Run json = cairn("ls", "--store", disk.toString(), "--json");
        assertEquals(0, json.status(), json.err());
        JsonNode steps = new ObjectMapper().readTree(json.out()).get("runs").get(0).get("steps");
        assertEquals(1, steps.size(), json.out());
        assertEquals(1, steps.get(0).get("step").asLong(), json.out());
    }
}
