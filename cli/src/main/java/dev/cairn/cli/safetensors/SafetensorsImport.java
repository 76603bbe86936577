package dev.cairn.cli.safetensors;

import com.fasterxml.jackson.databind.JsonNode;
import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.cli.Json;
import dev.cairn.cli.safetensors.SafetensorsFormat.Header;
import dev.cairn.cli.safetensors.SafetensorsFormat.TensorInfo;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Reads safetensors files into a {@link TrainingState} whose tensors are read-only memory maps of the files (no
 * copy on the heap), and whose blobs come from {@code cairn.blob.*} metadata written by {@link SafetensorsExport}.
 * Keep the instance open until the state has been saved: closing it unmaps nothing (the JDK frees maps with the
 * buffers) but closes the files.
 */
public final class SafetensorsImport implements AutoCloseable {
    /** The bytes of every empty tensor; read-only and never read from (a tensor takes a slice of it). */
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0).asReadOnlyBuffer();
    private final List<FileChannel> open = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Map<Path, Long> sizes = new LinkedHashMap<>();
    private final List<Path> files;

    private SafetensorsImport(List<Path> files) {
        this.files = files;
    }

    /**
     * The files {@code input} names: a {@code .safetensors} file; a {@value SafetensorsExport#INDEX} (its weight
     * map's files); or a directory holding either (the index if present, else every {@code *.safetensors}).
     */
    public static SafetensorsImport open(Path input) throws IOException {
        Path index = Files.isDirectory(input) ? input.resolve(SafetensorsExport.INDEX) : input;
        List<Path> files = new ArrayList<>();
        if (Files.isRegularFile(index) && index.getFileName().toString().endsWith(".json")) {
            JsonNode weightMap = Json.MAPPER.readTree(index.toFile()).get("weight_map");
            if (weightMap == null || !weightMap.isObject()) {
                throw new IOException(index + ": not a safetensors index (no weight_map)");
            }
            TreeSet<String> names = new TreeSet<>();
            weightMap.forEach(f -> names.add(f.asText()));
            Path dir = index.toAbsolutePath().normalize().getParent();
            for (String n : names) {
                Path f = dir.resolve(n).normalize();
                if (!dir.equals(f.getParent())) {
                    throw new IOException(index + ": weight_map names a file outside its directory: " + n);
                }
                files.add(f);
            }
        } else if (Files.isDirectory(input)) {
            try (Stream<Path> list = Files.list(input)) {
                list.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
            }
            if (files.isEmpty()) {
                throw new IOException(input + ": no .safetensors files and no " + SafetensorsExport.INDEX);
            }
        } else {
            files.add(input);
        }
        return new SafetensorsImport(files);
    }

    public List<Path> files() {
        return files;
    }

    /** Every tensor of every file, and the blobs in the metadata. Duplicate names across files are refused. */
    public TrainingState read() throws IOException {
        TrainingState.Builder state = TrainingState.builder();
        for (Path f : files) {
            FileChannel ch = FileChannel.open(f, StandardOpenOption.READ);
            open.add(ch);
            sizes.put(f, ch.size());
            Header h = SafetensorsFormat.readHeader(ch, f.toString());
            h.metadata().forEach(metadata::putIfAbsent);
            for (TensorInfo t : h.tensors()) {
                state.add(Tensor.of(t.name(), t.dtype(), t.shape(), map(ch, h.dataStart() + t.begin(), t.byteSize())));
            }
        }
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (e.getKey().startsWith(SafetensorsExport.BLOB_PREFIX)) {
                byte[] bytes;
                try {
                    bytes = Base64.getDecoder().decode(e.getValue());
                } catch (IllegalArgumentException bad) {
                    throw new IOException("metadata " + e.getKey() + " is not base64: " + bad.getMessage());
                }
                state.add(Blob.of(e.getKey().substring(SafetensorsExport.BLOB_PREFIX.length()), bytes));
            }
        }
        return state.build();
    }

    /** The {@code __metadata__} of every file (the first file's value wins). Filled by {@link #read}. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * What to report for a failed save of what {@link #read} returned, or null to report {@code failure} itself. The
     * tensors are maps of the files: a file that another process truncates meanwhile makes a read of a map fault,
     * which the JVM reports as an {@link InternalError} ("a fault occurred in a recent unsafe memory access"). That
     * becomes INVALID_INPUT naming the file and its sizes; nothing was committed.
     */
    public CheckpointException explain(Throwable failure) {
        boolean fault = false;
        for (Throwable t = failure; t != null && !fault; t = t.getCause() == t ? null : t.getCause()) {
            fault = t instanceof InternalError;
        }
        List<String> shrunk = new ArrayList<>();
        sizes.forEach((file, size) -> {
            long now;
            try {
                now = Files.size(file);
            } catch (IOException gone) {
                now = -1;
            }
            if (now < size) {
                shrunk.add(file + " (" + size + " bytes when mapped, " + (now < 0 ? "gone" : now + " bytes") + " now)");
            }
        });
        if (!fault && shrunk.isEmpty()) {
            return null;
        }
        return new CheckpointException(CheckpointException.Reason.INVALID_INPUT, (shrunk.isEmpty()
                ? "a source file among " + files + " changed" : String.join(", ", shrunk) + " was truncated")
                + " during the import (reading its memory map faulted); nothing was committed", failure);
    }

    /** Read-only maps of {@code [at, at + length)}, in pieces of at most {@link Tensor#MAX_BUFFER_BYTES}. */
    private static ByteBuffer[] map(FileChannel ch, long at, long length) throws IOException {
        List<ByteBuffer> pieces = new ArrayList<>();
        for (long done = 0; done < length; done += Tensor.MAX_BUFFER_BYTES) {
            pieces.add(ch.map(FileChannel.MapMode.READ_ONLY, at + done, Math.min(Tensor.MAX_BUFFER_BYTES, length - done)));
        }
        if (pieces.isEmpty()) {
            pieces.add(EMPTY); // one for every empty tensor: a header may list a million of them
        }
        return pieces.toArray(new ByteBuffer[0]);
    }

    @Override
    public void close() throws IOException {
        for (FileChannel ch : open) {
            ch.close();
        }
    }
}
