package dev.cairn.backend.fs;

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
        return new FileSystemObjectStore(Path.of(location));
    }
}
