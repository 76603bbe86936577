package dev.cairn.backend.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectStore;
import dev.cairn.ObjectStores;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSystemStoreProviderTest {
    @TempDir
    Path dir;

    @Test
    void pathsAndFileUrisOpenTheSameDirectory() throws Exception {
        try (ObjectStore byPath = ObjectStores.open(dir.toString(), Map.of());
             ObjectStore byUri = ObjectStores.open(dir.toUri().toString(), Map.of())) {
            assertInstanceOf(FileSystemObjectStore.class, byPath);
            byPath.put("a/b", ByteBuffer.wrap(new byte[] {7}));
            assertEquals(1, byUri.stat("a/b").size());
        }
    }

    @Test
    void anUnknownOrMissingBackendIsAClearConfigurationError() {
        CheckpointException unknown = assertThrows(CheckpointException.class, () -> ObjectStores.open("ftp://host/x", Map.of()));
        assertTrue(unknown.getMessage().contains("unknown store scheme 'ftp'"), unknown.getMessage());
        CheckpointException s3 = assertThrows(CheckpointException.class, () -> ObjectStores.open("s3://bucket/p", Map.of()));
        assertTrue(s3.getMessage().contains("dev.cairn:cairn-backend-s3"), s3.getMessage());
    }

    @Test
    void aFileUriThatIsNotALocalPathIsAClearConfigurationError() {
        for (String location : new String[] {"file://host/ckpt", "file:/ckpt?x=1", "file:/ckpt#part"}) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ObjectStores.open(location, Map.of()));
            assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains(location) && e.getMessage().contains("component"), e.getMessage());
        }
    }
}
