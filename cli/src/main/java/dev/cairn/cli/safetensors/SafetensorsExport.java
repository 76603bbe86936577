package dev.cairn.cli.safetensors;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointDescription.Chunk;
import dev.cairn.CheckpointDescription.Entry;
import dev.cairn.CheckpointDescription.Kind;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.StoreRef;
import dev.cairn.cli.Json;
import dev.cairn.cli.Progress;
import dev.cairn.cli.safetensors.SafetensorsFormat.TensorInfo;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes one checkpoint's tensors as safetensors files. Up to {@code maxShardBytes} of tensors go into
 * {@value #SINGLE}; more are split, in manifest order, into {@code model-00001-of-0000N.safetensors} files plus
 * {@value #INDEX} ({@code {"metadata": {"total_size": ...}, "weight_map": {"tensor": "file", ...}}}), the layout
 * Hugging Face loaders read. A tensor larger than the limit gets a shard of its own.
 *
 * <p>Blobs (RNG state, loader positions) have no safetensors type: they go base64-encoded into the
 * {@code __metadata__} of the first file as {@code cairn.blob.<name>}, next to {@code cairn.run} and
 * {@code cairn.step}, so that the files alone carry the whole checkpoint and {@code cairn import} restores the blobs.
 * Every chunk is verified against its hash on the way. Every file is written first to a temporary created exclusively
 * under a random name in the same directory (see {@code Temporary}); they appear under their names only once all are
 * complete, the index last, and a failed export removes them all (see {@code publish}).
 */
public final class SafetensorsExport {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    public static final String BLOB_PREFIX = "cairn.blob.";
    public static final String RUN_KEY = "cairn.run";
    public static final String STEP_KEY = "cairn.step";

    private SafetensorsExport() {
    }

    /** What was written. */
    public record Report(String run, long step, Path dir, List<String> files, int tensors, int blobs, long tensorBytes) {
    }

    /** Writes the tensors of {@code m} into {@code dir}, reading each chunk from the first of {@code sources} with a good copy. */
    public static Report export(CheckpointDescription m, CheckpointAdmin admin, List<StoreRef> sources, Path dir,
                                long maxShardBytes, PrintStream progressOut) throws IOException {
        List<Entry> tensors = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "pt");
        metadata.put(RUN_KEY, m.run());
        metadata.put(STEP_KEY, Long.toString(m.step()));
        Map<String, List<Entry>> byName = new LinkedHashMap<>();
        for (Entry r : m.entries()) {
            byName.computeIfAbsent(r.name(), k -> new ArrayList<>()).add(r);
        }
        List<Entry> blobs = new ArrayList<>();
        for (List<Entry> copies : byName.values()) {
            Entry first = copies.get(0);
            if (first.isTensor()) {
                Entry whole = copies.stream().filter(r -> r.shard().isWhole()).findFirst().orElse(null);
                tensors.add(whole != null ? whole : wholeByRows(m.step(), copies)); // a whole copy (replicas), or rows
            } else if (first.kind() == Kind.RANK_BLOB && m.worldSize() > 1) {
                for (Entry r : copies) { // each rank's copy under its own name
                    blobs.add(new Entry(r.name() + ".rank" + r.rank(), Kind.BLOB, null, null, null, null, r.rank(), r.byteSize(),
                            r.chunks()));
                }
            } else {
                blobs.add(copies.stream().min(java.util.Comparator.comparingInt(Entry::rank)).orElseThrow());
            }
        }
        refuseCollidingBlobNames(m.step(), blobs);
        List<List<Entry>> shards = shard(tensors, maxShardBytes);
        List<String> files = new ArrayList<>();
        for (int i = 0; i < shards.size(); i++) {
            files.add(shards.size() == 1 ? SINGLE : String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size()));
        }
        List<Path> names = new ArrayList<>();
        for (String f : shards.size() == 1 ? files : concat(files, INDEX)) {
            Path file = dir.resolve(f);
            if (Files.exists(file)) {
                throw new FileAlreadyExistsException(file.toString());
            }
            names.add(file);
        }
        refuseAnotherExport(dir);
        long total = tensors.stream().mapToLong(Entry::byteSize).sum();
        ChunkSource chunks = new ChunkSource(admin, sources, m.run());
        List<Path> written = new ArrayList<>();
        try (Progress bar = Progress.start(progressOut, "export " + m.step(), total)) {
            for (Entry b : blobs) {
                metadata.put(BLOB_PREFIX + b.name(), Base64.getEncoder().encodeToString(entryBytes(chunks, b)));
            }
            List<ByteBuffer> headers = new ArrayList<>(); // all before any file: a refused one stops the export here
            for (int i = 0; i < shards.size(); i++) {
                headers.add(header(shards.get(i), i == 0 ? metadata : Map.of("format", "pt")));
            }
            Files.createDirectories(dir);
            for (int i = 0; i < shards.size(); i++) {
                written.add(writeShard(names.get(i), headers.get(i), shards.get(i), chunks, bar));
            }
            if (shards.size() > 1) {
                written.add(writeIndex(names.get(shards.size()), shards, files, total));
            }
        } catch (IOException | RuntimeException e) {
            deleteAll(written, e);
            throw e;
        }
        publish(written, names);
        if (shards.size() > 1) {
            files.add(INDEX);
        }
        return new Report(m.run(), m.step(), dir, files, tensors.size(), blobs.size(), total);
    }

    /**
     * The whole tensor from the slices several ranks saved, when they are slices of rows (split along the first
     * dimension only, replicas allowed): in row order their bytes are the global tensor's, so the export streams their
     * chunks one after the other. Any other split is refused: restore it on one rank with the library, then export.
     */
    static Entry wholeByRows(long step, List<Entry> copies) {
        Entry first = copies.get(0);
        long[] global = first.globalShape();
        java.util.TreeMap<Long, Entry> byRow = new java.util.TreeMap<>();
        for (Entry r : copies) {
            long[] off = r.shardOffsets();
            long[] len = r.shape();
            for (int d = 1; d < global.length; d++) {
                if (off[d] != 0 || len[d] != global[d]) {
                    throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " holds tensor '" + r.name()
                            + "' split along dimension " + d + "; export takes slices of rows only: restore it on one"
                            + " rank with the library and export that");
                }
            }
            if (global.length > 0 && len[0] > 0) {
                byRow.putIfAbsent(off[0], r); // replicas of a slice: the first
            }
        }
        List<Chunk> chunks = new ArrayList<>();
        long row = 0;
        long at = 0;
        for (Entry r : byRow.values()) {
            if (r.shardOffsets()[0] != row) {
                throw new CheckpointException(Reason.CORRUPT, "step " + step + " does not hold rows " + row + " to "
                        + r.shardOffsets()[0] + " of tensor '" + r.name() + "'");
            }
            for (Chunk c : r.chunks()) {
                chunks.add(c.at(at + c.offset()));
            }
            row += r.shape()[0];
            at += r.byteSize();
        }
        long bytes = dev.cairn.Tensor.expectedBytes(first.name(), first.dtype(), global);
        if ((global.length > 0 && row != global[0]) || at != bytes) {
            throw new CheckpointException(Reason.CORRUPT, "step " + step + " holds " + row + " of the " + (global.length > 0
                    ? global[0] : 1) + " rows of tensor '" + first.name() + "'");
        }
        return new Entry(first.name(), Kind.TENSOR, first.dtype(), global, global, new long[global.length], 0, bytes, chunks);
    }

    /** Greedy, in order: a new shard when the next tensor would take the current one past the limit. */
    static List<List<Entry>> shard(List<Entry> tensors, long maxShardBytes) {
        List<List<Entry>> shards = new ArrayList<>();
        List<Entry> current = new ArrayList<>();
        long bytes = 0;
        for (Entry t : tensors) {
            if (!current.isEmpty() && bytes + t.byteSize() > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(t);
            bytes += t.byteSize();
        }
        shards.add(current);
        return shards;
    }

    /** The header of a file holding {@code tensors}, back to back in that order. */
    private static ByteBuffer header(List<Entry> tensors, Map<String, String> metadata) {
        List<TensorInfo> unplaced = new ArrayList<>();
        for (Entry r : tensors) {
            unplaced.add(new TensorInfo(r.name(), r.dtype(), r.shape(), 0, 0));
        }
        return SafetensorsFormat.encodeHeader(SafetensorsFormat.layOut(unplaced), metadata);
    }

    /** Writes {@code file}'s contents into a temporary beside it and returns the temporary (removed if this fails). */
    private static Path writeShard(Path file, ByteBuffer header, List<Entry> tensors, ChunkSource chunks, Progress bar)
            throws IOException {
        return intoTemporary(file, out -> {
            writeFully(out, header);
            for (Entry r : tensors) {
                for (Chunk c : r.chunks()) {
                    writeFully(out, chunks.read(c, r.name()));
                    bar.advance(c.rawLength());
                }
            }
        });
    }

    /** Writes the index of the shards into a temporary beside {@code file}, as {@link #writeShard} does. */
    private static Path writeIndex(Path file, List<List<Entry>> shards, List<String> files, long total) throws IOException {
        Map<String, Object> weightMap = new LinkedHashMap<>();
        for (int i = 0; i < shards.size(); i++) {
            for (Entry r : shards.get(i)) {
                weightMap.put(r.name(), files.get(i));
            }
        }
        Map<String, Object> index = new LinkedHashMap<>();
        index.put("metadata", Map.of("total_size", total));
        index.put("weight_map", weightMap);
        return intoTemporary(file, out -> writeFully(out, ByteBuffer.wrap(Json.MAPPER.writeValueAsBytes(index))));
    }

    /** What goes into a file. */
    @FunctionalInterface
    private interface Contents {
        void writeTo(FileChannel out) throws IOException;
    }

    /**
     * A temporary beside {@code file} holding {@code contents}, forced to disk; removed if writing fails, which names
     * {@code file}.
     */
    private static Path intoTemporary(Path file, Contents contents) throws IOException {
        Temporary tmp = Temporary.beside(file);
        try (FileChannel out = tmp.channel()) {
            contents.writeTo(out);
            out.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp.path());
            if (e instanceof IOException io) {
                throw naming(io, file);
            }
            throw e;
        }
        return tmp.path();
    }

    /**
     * Refuses, before anything is read or written, a step whose blobs would take one name twice in the file's
     * metadata: a per-rank blob's copies are exported as {@code <name>.rank<r>}, which a blob of the step may already
     * be called (a legal name); one would silently replace the other, and an import would commit the step without it.
     */
    private static void refuseCollidingBlobNames(long step, List<Entry> blobs) {
        Set<String> names = new HashSet<>();
        for (Entry b : blobs) {
            if (!names.add(b.name())) {
                throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " cannot be exported: two of its blobs"
                        + " would both be named '" + b.name() + "' in the file (a per-rank blob's copy of rank " + b.rank()
                        + " is exported as <name>.rank<r>, and the step also has a blob of that name); nothing was written");
            }
        }
    }

    /**
     * Gives each written temporary its name, in order (the index last), once all are written: a failed export leaves
     * no file that looks finished. A name is never taken from a file that appeared there after the check at the start:
     * the temporary is hard-linked to it, which fails on any existing entry; where the file system has no hard links,
     * a move without REPLACE_EXISTING refuses an existing file too (checked just before the rename). If one name
     * cannot be given, the files published before it and every temporary are removed.
     */
    private static void publish(List<Path> temporaries, List<Path> names) throws IOException {
        int published = 0;
        try {
            for (; published < names.size(); published++) {
                rename(temporaries.get(published), names.get(published));
            }
        } catch (IOException | RuntimeException e) {
            deleteAll(names.subList(0, published), e);
            deleteAll(temporaries, e);
            throw e;
        }
        forceDirectory(names.get(0).toAbsolutePath().getParent()); // the export is complete: nothing here undoes it
    }

    /**
     * Makes the names just given durable (each file's bytes were forced before): without it, a power loss after the
     * export reported its files could leave the directory without them. A file system that cannot force a directory
     * (some refuse to open one for reading) is left as it is: its names are as durable as it makes them.
     */
    private static void forceDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | RuntimeException e) {
            // see above
        }
    }

    /**
     * Refuses a directory that holds another export (a {@code .safetensors} file or an index) under other names than
     * this one's: a sharded export beside a single file, or one of another shard count. An import of the directory
     * takes the index if there is one and every {@code .safetensors} file else, so the two would be read as one
     * checkpoint, or the older one taken for the newer.
     */
    private static void refuseAnotherExport(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (java.util.stream.Stream<Path> list = Files.list(dir)) {
            java.util.Optional<Path> other = list.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".safetensors") || n.equals(INDEX);
            }).sorted().findFirst();
            if (other.isPresent()) {
                throw new FileAlreadyExistsException(other.get().toString(), null,
                        "the directory holds another export; export into an empty or new directory");
            }
        }
    }

    /** Gives {@code tmp} the name {@code file}, failing with FileAlreadyExistsException if something is there. */
    private static void rename(Path tmp, Path file) throws IOException {
        try {
            Files.createLink(file, tmp);
        } catch (FileAlreadyExistsException taken) {
            throw taken;
        } catch (UnsupportedOperationException | FileSystemException noLinks) {
            Files.move(tmp, file);
            return;
        }
        Files.delete(tmp);
    }

    /** Removes {@code files} that exist, adding what goes wrong to {@code failure}, which is about to be thrown. */
    private static void deleteAll(List<Path> files, Exception failure) {
        for (Path f : files) {
            try {
                Files.deleteIfExists(f);
            } catch (IOException e) {
                failure.addSuppressed(e);
            }
        }
    }

    /**
     * A new file beside {@code file}, under a name no one else chose, for writing {@code file}'s contents before
     * they are published under it. {@code --out} may be a directory others can write to: a fixed name could be a
     * link planted there to a file elsewhere, which opening it would follow and overwrite. So the name has a random
     * part and the file is created exclusively (CREATE_NEW fails on any existing entry, a link included, without
     * following it); publishing it under {@code file} then never writes through a link there either (see
     * {@code publish}).
     */
    private record Temporary(Path path, FileChannel channel) {
        private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();
        private static final int ATTEMPTS = 16;

        static Temporary beside(Path file) throws IOException {
            for (int attempt = 1; ; attempt++) {
                Path tmp = file.resolveSibling("." + file.getFileName() + "." + Long.toUnsignedString(RANDOM.nextLong(), 36)
                        + ".partial");
                try {
                    return new Temporary(tmp, FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                            java.nio.file.LinkOption.NOFOLLOW_LINKS));
                } catch (FileAlreadyExistsException taken) {
                    if (attempt == ATTEMPTS) {
                        throw taken;
                    }
                }
            }
        }
    }

    private static byte[] entryBytes(ChunkSource chunks, Entry r) {
        byte[] out = new byte[Math.toIntExact(r.byteSize())];
        for (Chunk c : r.chunks()) {
            chunks.read(c, r.name()).get(out, (int) c.offset(), (int) c.rawLength());
        }
        return out;
    }

    /** Verified raw chunks through the engine, each in one scratch buffer that grows to the largest chunk. */
    private static final class ChunkSource {
        private final CheckpointAdmin admin;
        private final List<StoreRef> sources;
        private final String run;
        private ByteBuffer scratch = ByteBuffer.allocateDirect(0);

        ChunkSource(CheckpointAdmin admin, List<StoreRef> sources, String run) {
            this.admin = admin;
            this.sources = sources;
            this.run = run;
        }

        /** The raw bytes of {@code c}, valid until the next read. */
        ByteBuffer read(Chunk c, String entry) {
            if (scratch.capacity() < c.rawLength()) {
                scratch = ByteBuffer.allocateDirect(Math.toIntExact(c.rawLength()));
            }
            scratch.clear();
            admin.readChunk(sources, run, c, entry, scratch);
            return scratch.flip();
        }
    }

    /** An error writing {@code file}, naming it: "No space left on device" alone does not say where. */
    private static IOException naming(IOException e, Path file) {
        return e instanceof java.nio.file.FileSystemException ? e : new IOException("writing " + file + ": " + e.getMessage(), e);
    }

    private static void writeFully(FileChannel out, ByteBuffer src) throws IOException {
        while (src.hasRemaining()) {
            out.write(src);
        }
    }

    private static List<String> concat(List<String> a, String b) {
        List<String> out = new ArrayList<>(a);
        out.add(b);
        return out;
    }
}
