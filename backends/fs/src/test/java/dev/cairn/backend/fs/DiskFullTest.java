package dev.cairn.backend.fs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A store on a full file system, for real: a 1 MiB tmpfs mounted by the test where it may mount one (root on Linux),
 * skipped elsewhere. A write that does not fit fails naming the key's file, leaves no temporary behind, and the
 * objects already there stay readable. The same on the engine (the save fails naming the path, the previous
 * checkpoint restores bit-exact, GC makes room and the next save commits) is {@code DiskFaultTest} in {@code tiers}.
 */
class DiskFullTest {
    @TempDir
    Path tmp;
    private Path mounted;

    @BeforeEach
    void mountSmallFileSystem() throws Exception {
        Path point = Files.createDirectories(tmp.resolve("small"));
        boolean ok = run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", point.toString());
        assumeTrue(ok, "cannot mount a tmpfs here (needs root on Linux): the disk-full case is not run");
        mounted = point;
    }

    @AfterEach
    void unmount() throws Exception {
        if (mounted != null) {
            run("umount", mounted.toString());
        }
    }

    @Test
    void aWriteThatDoesNotFitNamesItsFileAndLeavesTheStoreAsItWas() throws IOException {
        try (FileSystemObjectStore store = new FileSystemObjectStore(mounted)) {
            byte[] small = new byte[100_000];
            java.util.Arrays.fill(small, (byte) 7);
            store.put("run/chunks/aa/kept", ByteBuffer.wrap(small));

            IOException full = assertThrows(IOException.class,
                    () -> store.put("run/chunks/bb/too-big", ByteBuffer.allocate(2 << 20)));
            String message = String.valueOf(full.getMessage());
            assertTrue(message.contains("too-big"), "names the file: " + message);
            assertTrue(message.contains("No space left on device"), message);
            assertThrows(IOException.class, () -> store.putIfAbsent("run/steps/1/MANIFEST", ByteBuffer.allocate(2 << 20)));

            try (Stream<Path> files = Files.walk(mounted)) {
                assertTrue(files.filter(Files::isRegularFile).map(Path::toString).noneMatch(p -> p.contains("too-big")
                        || p.contains("MANIFEST") || p.endsWith(".tmp") || p.contains(".partial")),
                        "no temporary or partial object is left behind");
            }
            ByteBuffer back = store.readAll("run/chunks/aa/kept");
            byte[] got = new byte[back.remaining()];
            back.get(got);
            assertArrayEquals(small, got, "what was stored before stays readable");
        }
    }

    private static boolean run(String... command) throws Exception {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException notThere) {
            return false;
        }
    }
}
