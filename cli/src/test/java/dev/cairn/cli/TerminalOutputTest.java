package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whatever a store or an argument holds, the human output of every command shows control characters as escapes. */
class TerminalOutputTest {
    private static final StoreLayout LAYOUT = new StoreLayout(Checkpoints.RUN);
    /** Retitles and clears a terminal, rings its bell, then reverses what follows. */
    static final String HOSTILE = "zstd\u001b]0;PWNED\u0007\u001b[2J\u009b31m\u202eevil\u2066";

    @TempDir
    Path tmp;

    @Test
    void inspectShowsAHostileCodecAsEscapesInTextAndKeepsItsJsonValid() throws IOException {
        Path disk = hostileCodecStore();
        Run text = cairn("inspect", "1", "--store", disk.toString());
        assertEquals(0, text.status(), text.err());
        assertSafe(text);
        assertTrue(text.out().contains("zstd\\x1b]0;PWNED\\x07\\x1b[2J\\x9b31m\\u202eevil\\u2066"), text.out());

        Run json = cairn("inspect", "1", "--store", disk.toString(), "--json");
        assertEquals(0, json.status(), json.err());
        assertSafe(json);
        JsonNode doc = new ObjectMapper().readTree(json.out());
        assertEquals(HOSTILE, doc.get("tensors").get(0).get("codecs").get(0).asText(), "JSON keeps the value itself");
    }

    @Test
    void theOneLineErrorEscapesWhatItQuotes() {
        Run r = cairn("inspect", "1", "--store", tmp.resolve("no-such\u001b[2J\u202e\nsecond line").toString());
        assertEquals(CairnCli.FAILED, r.status());
        assertSafe(r);
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("no-such\\x1b[2J\\u202e\\x0asecond line"), r.err());

        Run usage = cairn("inspect", "--stor\u001b[2J", "1");
        assertEquals(CairnCli.USAGE, usage.status());
        assertSafe(usage);
    }

    @Test
    void tablesEscapeTheirCells() {
        ByteArrayOutput out = new ByteArrayOutput();
        new Table("A", "B").row("x\u001b[2J\ty", 1).print(out.stream());
        assertEquals("A" + " ".repeat(14) + "B\nx\\x1b[2J\\x09y  1\n", out.text());
    }

    static void assertSafe(Run r) {
        for (String s : List.of(r.out(), r.err())) {
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                assertFalse(c != '\n' && c != '\t' && Text.unsafe(c), () -> "raw U+" + Integer.toHexString(c) + " in: " + s);
            }
        }
    }

    /** A committed step whose manifest names {@link #HOSTILE} as every chunk's codec (its digest recomputed). */
    private Path hostileCodecStore() throws IOException {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 1);
        }
        Path manifest = disk.resolve(LAYOUT.manifestKey(1));
        try (RootAllocator allocator = new RootAllocator()) {
            Manifest m = ManifestFormat.read(ByteBuffer.wrap(Files.readAllBytes(manifest)), "test", allocator);
            List<EntryRecord> entries = new ArrayList<>();
            for (EntryRecord e : m.entries()) {
                List<ChunkRef> chunks = e.chunks().stream().map(c -> new ChunkRef(c.offset(), c.rawLength(), c.hash(), HOSTILE,
                        c.storedLength(), c.bases(), c.errorBound(), c.contentHash())).toList();
                entries.add(new EntryRecord(e.name(), e.tensor(), e.dtype(), e.shape(), e.globalShape(), e.shardOffsets(),
                        e.perRank(), e.byteSize(), e.rank(), chunks));
            }
            Files.write(manifest, ManifestFormat.write(m.withEntries(entries), "manifest", allocator));
        }
        return disk;
    }

    /** A PrintStream into memory, UTF-8. */
    static final class ByteArrayOutput {
        private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        private final java.io.PrintStream stream = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);

        java.io.PrintStream stream() {
            return stream;
        }

        String text() {
            return bytes.toString(java.nio.charset.StandardCharsets.UTF_8).replace(System.lineSeparator(), "\n");
        }
    }
}
