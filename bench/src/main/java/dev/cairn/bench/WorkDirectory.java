package dev.cairn.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** A benchmark's own working directory: created fresh under a parent, deleted with everything in it on close. */
final class WorkDirectory implements AutoCloseable {
    private final Path path;
    private Thread cleanup;

    private WorkDirectory(Path path) {
        this.path = path;
    }

    /** A new directory named {@code prefix...} under {@code parent} (or the current directory when null). */
    static WorkDirectory create(Path parent, String prefix) throws IOException {
        Path dir = (parent == null ? Path.of("") : parent).toAbsolutePath();
        Files.createDirectories(dir);
        return new WorkDirectory(Files.createTempDirectory(dir, prefix));
    }

    Path path() {
        return path;
    }

    /** Also deletes the directory when the JVM is stopped (Ctrl-C, kill) before {@link #close()}; returns this. */
    WorkDirectory deletedOnShutdown(String threadName) {
        cleanup = new Thread(() -> deleteQuietly(path), threadName);
        Runtime.getRuntime().addShutdownHook(cleanup);
        return this;
    }

    @Override
    public void close() throws IOException {
        deleteTree(path);
        if (cleanup != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(cleanup);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or has run: nothing left to remove
            }
        }
    }

    /** Best effort while the JVM goes down: the engine's I/O threads may still be writing, so try a few times. */
    private static void deleteQuietly(Path dir) {
        for (int attempt = 0; attempt < 20 && Files.exists(dir); attempt++) {
            try {
                deleteTree(dir);
            } catch (IOException | RuntimeException e) {
                try {
                    Thread.sleep(50);
                } catch (InterruptedException stop) {
                    return;
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
