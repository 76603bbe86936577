package dev.cairn.backend.fs;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectStore;
import dev.cairn.ObjectStoreProvider;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** Opens {@code file:} locations (and plain paths, which {@link dev.cairn.ObjectStores} turns into them). */
public final class FileSystemStoreProvider implements ObjectStoreProvider {
    @Override
    public Set<String> schemes() {
        return Set.of("file");
    }

    @Override
    public ObjectStore open(URI location, Map<String, String> settings) throws IOException {
        Path root;
        try {
            root = Path.of(location);
        } catch (IllegalArgumentException e) {
            // file://host/ckpt, file:/ckpt?x=1: a host, a query or a fragment, which a local path has no place for.
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "file: location " + location
                    + " is not a local directory (" + e.getMessage() + "): write file:/dir or file:///dir, or the path");
        }
        return new FileSystemObjectStore(root);
    }
}
