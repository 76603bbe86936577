package dev.cairn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged {@code target/cairn.jar} run as a user runs it, {@code java -jar} with no flags: its manifest must
 * find every dependency in {@code lib/} and open java.nio for Arrow (the engine writes Arrow IPC manifests).
 */
class CairnJarIT {
    private static final Path JAR = Path.of(System.getProperty("cairn.jar", "target/cairn.jar"));

    @TempDir
    Path tmp;

    @Test
    void manifestNamesTheMainClassTheLibrariesAndOpensJavaNio() throws IOException {
        try (JarFile jar = new JarFile(JAR.toFile())) {
            Manifest m = jar.getManifest();
            Attributes a = m.getMainAttributes();
            assertEquals(CairnCli.class.getName(), a.getValue("Main-Class"));
            assertEquals("java.base/java.nio", a.getValue("Add-Opens"));
            for (String entry : a.getValue("Class-Path").split(" ")) {
                assertTrue(Files.isRegularFile(JAR.resolveSibling(entry)), "missing " + entry);
            }
        }
    }

    @Test
    void benchRunsFromThePlainJarAndRestoresBitExact() throws Exception {
        Result r = java("-jar", JAR.toString(), "bench", "--size", "8m", "--reps", "1", "--json", "--dir", tmp.toString());
        assertEquals(0, r.status, r.output);
        assertTrue(r.output.contains("\"restoreBitExact\": true"), r.output);
    }

    @Test
    void versionAndErrorsWorkFromThePlainJar() throws Exception {
        Result version = java("-jar", JAR.toString(), "--version");
        assertEquals(0, version.status, version.output);
        assertTrue(version.output.startsWith("cairn 0."), version.output);
        Result bad = java("-jar", JAR.toString(), "bench", "--reps", "none");
        assertEquals(2, bad.status, bad.output);
        assertEquals(1, bad.output.lines().count(), bad.output);
    }

    @Test
    void recoveryCommandsRunFromThePlainJar() throws Exception {
        Path disk = tmp.resolve("disk");
        try (dev.cairn.backend.fs.FileSystemObjectStore store = new dev.cairn.backend.fs.FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 3);
        }
        Result ls = java(false, "-jar", JAR.toString(), "ls", "--store", disk.toString(), "--json");
        assertEquals(0, ls.status, ls.output);
        assertTrue(ls.output.contains("\"committed\""), ls.output);
        assertTrue(ls.output.strip().startsWith("[") || ls.output.strip().startsWith("{"),
                "stdout of --json is the JSON alone, no library's log lines: " + ls.output);
        Result export = java("-jar", JAR.toString(), "export", "3", "--store", disk.toString(), "--out", tmp.resolve("st").toString());
        assertEquals(0, export.status, export.output);
        assertTrue(Files.isRegularFile(tmp.resolve("st/model.safetensors")));
        try (var chunks = Files.walk(disk.resolve(Checkpoints.RUN + "/chunks"))) {
            Files.delete(chunks.filter(Files::isRegularFile).findFirst().orElseThrow());
        }
        Result verify = java("-jar", JAR.toString(), "verify", "--store", disk.toString());
        assertEquals(3, verify.status, verify.output);
        assertTrue(verify.output.contains("missing"), verify.output);
    }

    private record Result(int status, String output) {
    }

    private static Result java(String... args) throws Exception {
        return java(true, args);
    }

    /** Runs the JVM; its output is stdout, with stderr too if {@code withStderr} (else stderr is discarded). */
    private static Result java(boolean withStderr, String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        if (withStderr) {
            builder.redirectErrorStream(true);
        } else {
            builder.redirectError(ProcessBuilder.Redirect.DISCARD);
        }
        Process p = builder.start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
