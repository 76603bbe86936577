package dev.cairn.cli.store;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.ChunkRef;
import dev.cairn.tiers.restore.ChunkReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/** One store given on the command line: the URI as the operator typed it (for messages) and the open store. */
public record Source(String uri, ObjectStore store) {
    @Override
    public String toString() {
        return uri;
    }

    /**
     * The verified raw bytes of {@code c} from the first of {@code sources} that holds a good copy, in a buffer of
     * {@code reader}; CORRUPT naming what each source had when none does.
     */
    public static ByteBuffer fetch(ChunkReader reader, List<Source> sources, StoreLayout layout, ChunkRef c, String entry) {
        List<String> tried = new ArrayList<>();
        for (Source s : sources) {
            try {
                return reader.verify(s.store(), layout, reader.readStored(s.store(), layout, c), c);
            } catch (NoSuchFileException e) {
                tried.add(s.uri() + ": missing");
            } catch (IOException | RuntimeException e) {
                tried.add(s.uri() + ": " + e.getMessage());
            }
        }
        throw new CheckpointException(CheckpointException.Reason.CORRUPT, "chunk " + c.hash() + " of '" + entry
                + "' at offset " + c.offset() + " has no good copy (" + String.join("; ", tried) + ")");
    }
}
