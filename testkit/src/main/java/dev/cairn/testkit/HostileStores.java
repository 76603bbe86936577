package dev.cairn.testkit;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A corpus of hostile stores: each {@link Case} damages a file-system store that holds one committed step of one
 * run (as {@code cairn import} or a save leaves it) the way a hostile or broken store might: manifests and rank
 * indexes with {@code ..}, absolute paths, control characters, absurd shapes, offsets and lengths, future format
 * versions, a size of gigabytes, truncation; chunks replaced by a directory, a FIFO or a symbolic link out of the
 * store. Edited manifests carry a rows digest that matches the edit ({@link ManifestEdit}), so the reader meets the
 * hostile value itself. Every command of the CLI must answer each with one clear line, its documented exit status,
 * nothing written outside its target, bounded memory, and no hang.
 */
public final class HostileStores {
    /** 2^64 + 64 in three positive int64 parts: chunk lengths whose sum wraps back to an entry of 64 bytes. */
    private static final long[] WRAPPING_THIRDS = {6148914691236517227L, 6148914691236517227L, 6148914691236517226L};

    private HostileStores() {
    }

    /** What a case damages: the step's MANIFEST, a rank index, a chunk, or the layout of the store. */
    public enum Part { MANIFEST, INDEX, CHUNK }

    /** Damages the store at {@code root} holding {@code step} of {@code run}. */
    @FunctionalInterface
    public interface Damage {
        void apply(Target target) throws IOException;
    }

    /** One hostile store: a name for messages, the part it damages, and how. */
    public record Case(String name, Part part, Damage damage) {
        @Override
        public String toString() {
            return name;
        }
    }

    /**
     * The store to damage: its root directory, the run and step it holds, and {@code outside}, a directory beside
     * the store where a case may put what a symbolic link points to.
     */
    public record Target(Path root, String run, long step, Path outside) {
        public Path manifest() {
            return root.resolve(run).resolve("steps").resolve(Long.toString(step)).resolve("MANIFEST");
        }

        public Path index(int rank) {
            return manifest().resolveSibling("rank-" + rank + ".index");
        }

        /** Every chunk file of the run, sorted. */
        public List<Path> chunks() throws IOException {
            Path dir = root.resolve(run).resolve("chunks");
            try (Stream<Path> files = Files.walk(dir)) {
                return files.filter(Files::isRegularFile).sorted().toList();
            }
        }

        /** The largest chunk file: the one a restore or export surely reads. */
        public Path someChunk() throws IOException {
            Path best = null;
            for (Path p : chunks()) {
                if (best == null || Files.size(p) > Files.size(best)) {
                    best = p;
                }
            }
            if (best == null) {
                throw new IOException("the store at " + root + " holds no chunk to damage");
            }
            return best;
        }
    }

    /** Every case. FIFO cases are left out where {@code mkfifo} cannot be run. */
    public static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        // Manifests: names.
        out.add(manifest("manifest-entry-name-with-dotdot", r -> r.put("entry", "../../outside/escape")));
        out.add(manifest("manifest-entry-name-absolute", r -> r.put("entry", "/etc/passwd")));
        out.add(manifest("manifest-entry-name-control-chars", r -> r.put("entry", "w\u001b]0;PWNED\u0007\u001b[2J")));
        out.add(manifest("manifest-codec-control-chars", r -> r.put("codec", "zstd\u001b]0;PWNED\u0007\u001b[2J")));
        // Manifests: shapes, offsets and lengths.
        out.add(manifest("manifest-shape-beyond-int64", r -> r.put("shape", "[18446744073709551620,4]")));
        out.add(manifest("manifest-shape-whose-product-overflows", r -> {
            r.put("shape", "[9223372036854775807,9223372036854775807]");
            r.put("global_shape", "[9223372036854775807,9223372036854775807]");
        }));
        out.add(manifest("manifest-shard-offset-absurd", r -> r.put("shard_offset", "[9223372036854775807,0]")));
        out.add(manifestEdit("manifest-raw-length-above-chunk-size", m -> {
            // One 1.6 GB chunk in a manifest of a few KB: a reader that trusts it reserves 1.6 GB per thread.
            m.rows.subList(1, m.rows.size()).removeIf(r -> r.get("entry").equals(m.rows.get(0).get("entry")));
            m.firstEntry(r -> {
                r.put("kind", "blob");
                r.put("dtype", "");
                r.put("shape", "");
                r.put("global_shape", "");
                r.put("shard_offset", "");
                r.put("entry_bytes", 1_600_000_000L);
                r.put("raw_length", 1_600_000_000L);
            });
        }));
        out.add(manifestEdit("manifest-chunk-lengths-wrap-64-bits", m -> {
            Map<String, Object> first = m.rows.get(0);
            m.rows.removeIf(r -> r.get("entry").equals(first.get("entry")) && r.get("rank").equals(first.get("rank")));
            long offset = 0;
            for (int c = 0; c < 3; c++) {
                Map<String, Object> r = new java.util.LinkedHashMap<>(first);
                r.put("kind", "blob");
                r.put("dtype", "");
                r.put("shape", "");
                r.put("global_shape", "");
                r.put("shard_offset", "");
                r.put("entry_bytes", 64L);
                r.put("chunk", c);
                r.put("offset", offset);
                r.put("raw_length", WRAPPING_THIRDS[c]);
                offset += WRAPPING_THIRDS[c];
                m.rows.add(c, r);
            }
        }));
        out.add(manifest("manifest-stored-length-2^62", r -> r.put("stored_length", 1L << 62)));
        out.add(manifest("manifest-negative-offset", r -> r.put("offset", -4096L)));
        // Manifests: header values.
        out.add(manifestEdit("manifest-world-size-wraps-to-1", m -> m.meta.put("cairn.world_size", "4294967297")));
        out.add(manifestEdit("manifest-chunk-bytes-absurd", m -> m.meta.put("cairn.chunk_bytes", "2147483647")));
        out.add(manifestEdit("manifest-future-format-version", m -> m.meta.put("cairn.format_version", "99")));
        out.add(manifestEdit("manifest-unknown-content-hash", m -> m.meta.put("cairn.hash", "sha0\u001b[2J")));
        out.add(manifestEdit("manifest-run-name-with-dotdot", m -> m.meta.put("cairn.run", "../other")));
        out.add(manifestEdit("manifest-step-not-a-number", m -> m.meta.put("cairn.step", "abc")));
        // Manifests: the file itself.
        out.add(new Case("manifest-truncated", Part.MANIFEST, t -> truncate(t.manifest())));
        out.add(new Case("manifest-garbage", Part.MANIFEST, t -> Files.write(t.manifest(), garbage(4096))));
        // 2 GB, as the issue had it: just below what a Java array can hold, so a reader that trusts it tries.
        out.add(new Case("manifest-2-GB", Part.MANIFEST, t -> sparse(t.manifest(), 2_000_000_000L)));
        out.add(new Case("manifest-stale-digest", Part.MANIFEST, t -> {
            byte[] b = Files.readAllBytes(t.manifest());
            // One byte of an entry name changed in place, the digest left as it was: garbled, yet still Arrow.
            String s = new String(b, java.nio.charset.StandardCharsets.ISO_8859_1).replace("weight", "weighT");
            Files.write(t.manifest(), s.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        }));
        // Rank indexes.
        out.add(index("index-entry-name-with-dotdot", m -> m.firstEntry(r -> r.put("entry", "../../outside/escape"))));
        out.add(index("index-future-format-version", m -> m.meta.put("cairn.format_version", "99")));
        out.add(index("index-raw-length-above-chunk-size", m -> m.firstEntry(r -> r.put("raw_length", 1_600_000_000L))));
        out.add(new Case("index-truncated", Part.INDEX, t -> truncate(t.index(0))));
        out.add(new Case("index-2-GB", Part.INDEX, t -> sparse(t.index(0), 2_000_000_000L)));
        // Chunks.
        out.add(new Case("chunk-truncated", Part.CHUNK, t -> truncate(t.someChunk())));
        out.add(new Case("chunk-missing", Part.CHUNK, t -> Files.delete(t.someChunk())));
        out.add(new Case("chunk-replaced-by-directory", Part.CHUNK, t -> {
            Path c = t.someChunk();
            Files.delete(c);
            Files.createDirectory(c);
            Files.writeString(c.resolve("inside"), "not a chunk");
        }));
        out.add(new Case("chunk-symlink-out-of-the-store", Part.CHUNK, t -> {
            // The link points at a copy of the very chunk: content that would verify, but from outside the store.
            Path c = t.someChunk();
            Files.createDirectories(t.outside());
            Path copy = Files.copy(c, t.outside().resolve("copied-chunk"));
            Files.delete(c);
            Files.createSymbolicLink(c, copy);
        }));
        if (fifosWork()) {
            out.add(new Case("chunk-replaced-by-fifo", Part.CHUNK, t -> {
                Path c = t.someChunk();
                Files.delete(c);
                mkfifo(c);
            }));
            out.add(new Case("manifest-replaced-by-fifo", Part.MANIFEST, t -> {
                Files.delete(t.manifest());
                mkfifo(t.manifest());
            }));
        }
        return out;
    }

    /** Whether this machine can make a FIFO (a Unix with {@code mkfifo} on the path). */
    public static boolean fifosWork() {
        try {
            Path probe = Files.createTempDirectory("cairn-fifo-probe");
            try {
                mkfifo(probe.resolve("f"));
                return true;
            } finally {
                Files.deleteIfExists(probe.resolve("f"));
                Files.deleteIfExists(probe);
            }
        } catch (IOException e) {
            return false;
        }
    }

    /** Makes a FIFO at {@code path} with {@code mkfifo}. */
    public static void mkfifo(Path path) throws IOException {
        Process p = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start();
        try {
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                p.destroyForcibly();
                throw new IOException("mkfifo " + path + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while making a FIFO", e);
        }
    }

    private static Case manifest(String name, Consumer<Map<String, Object>> row) {
        return manifestEdit(name, m -> m.firstEntry(row));
    }

    private static Case manifestEdit(String name, Consumer<ManifestEdit> edit) {
        return new Case(name, Part.MANIFEST, t -> rewrite(t.manifest(), edit));
    }

    private static Case index(String name, Consumer<ManifestEdit> edit) {
        return new Case(name, Part.INDEX, t -> rewrite(t.index(0), edit));
    }

    private static void rewrite(Path file, Consumer<ManifestEdit> edit) throws IOException {
        ManifestEdit m = ManifestEdit.parse(Files.readAllBytes(file));
        edit.accept(m);
        Files.write(file, m.encode());
    }

    private static void truncate(Path file) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
    }

    /** {@code file} grown to {@code size} bytes without writing them (a sparse file: cheap on disk). */
    private static void sparse(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    private static byte[] garbage(int n) {
        byte[] b = new byte[n];
        new java.util.Random(42).nextBytes(b);
        return b;
    }
}
