package dev.cairn.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A real, small file system for disk-fault tests: a tmpfs mounted by the test where it may (root on Linux), which it
 * can fill to the last byte or remount read-only while a store works on it. Root ignores permission bits, so a
 * read-only directory can only be made this way (or with a read-only bind mount): {@code chmod} proves nothing.
 * {@link #mount} answers empty where mounting is impossible, and the test skips.
 */
public final class Tmpfs implements AutoCloseable {
    private final Path point;
    private boolean mounted = true;

    private Tmpfs(Path point) {
        this.point = point;
    }

    /** Mounts a tmpfs of {@code bytes} at {@code point} (created if missing); empty if this machine will not. */
    public static Optional<Tmpfs> mount(Path point, long bytes) throws IOException, InterruptedException {
        Files.createDirectories(point);
        if (!run("mount", "-t", "tmpfs", "-o", "size=" + bytes, "tmpfs", point.toString())) {
            return Optional.empty();
        }
        return Optional.of(new Tmpfs(point));
    }

    /** Where it is mounted. */
    public Path path() {
        return point;
    }

    /** Remounts it read-only: every write, create, rename, link and delete under it fails with EROFS. */
    public void readOnly() throws IOException, InterruptedException {
        remount("ro");
    }

    /** Remounts it read-write; what was there is still there. */
    public void readWrite() throws IOException, InterruptedException {
        remount("rw");
    }

    private void remount(String mode) throws IOException, InterruptedException {
        if (!run("mount", "-o", "remount," + mode, point.toString())) {
            throw new IOException("mount -o remount," + mode + " " + point + " failed");
        }
    }

    /** Unmounts it (lazily, so a file a dead store left open does not keep it mounted). */
    @Override
    public void close() throws IOException, InterruptedException {
        if (mounted) {
            mounted = false;
            run("umount", "-l", point.toString());
        }
    }

    private static boolean run(String... command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException notThere) {
            return false; // no mount command here
        }
        p.getInputStream().readAllBytes();
        // Generous: mount is instant, but a machine loaded by other builds may take seconds to start a process.
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return false;
        }
        return p.exitValue() == 0;
    }
}
