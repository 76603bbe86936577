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
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Reads safetensors files into a {@link TrainingState} whose tensors are read-only memory maps of the files (no
 * copy on the heap), and whose blobs come from {@code cairn.blob.*} metadata written by {@link SafetensorsExport}.
 * Keep the instance open until the state has been saved: closing it unmaps nothing (the JDK frees maps with the
 * buffers) but closes the files.
 */
public final class SafetensorsImport implements AutoCloseable {
    /** {@code <prefix>-<i>-of-<N>.safetensors}, the names of a set of shards (i and N of up to 9 digits). */
    private static final Pattern SHARD = Pattern.compile("(.*)-(\\d{1,9})-of-(\\d{1,9})\\.safetensors");
    /** How many missing shards or misplaced tensors a refusal names; it counts them all. */
    private static final int NAMED = 5;
    /** The bytes of every empty tensor; read-only and never read from (a tensor takes a slice of it). */
    private static final ByteBuffer EMPTY = ByteBuffer.allocateDirect(0).asReadOnlyBuffer();
    private final List<FileChannel> open = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final Map<Path, Long> sizes = new LinkedHashMap<>();
    private final List<Path> files;
    /** Tensor name to file, from the index's weight map; null without an index. */
    private final Map<String, Path> weightMap;
    private final Path index;

    private SafetensorsImport(List<Path> files, Path index, Map<String, Path> weightMap) {
        this.files = files;
        this.index = index;
        this.weightMap = weightMap;
    }

    /**
     * The files {@code input} names: a {@code .safetensors} file; a {@value SafetensorsExport#INDEX} (its weight
     * map's files); or a directory holding either (the index if present, else every {@code *.safetensors}). Files
     * named {@code <prefix>-<i>-of-<N>.safetensors} in an index or a directory must all be there, 1 to N, and one such
     * file is not imported alone: the rest alone would import as a step without the missing files' tensors.
     */
    public static SafetensorsImport open(Path input) throws IOException {
        Path index = Files.isDirectory(input) ? input.resolve(SafetensorsExport.INDEX) : input;
        List<Path> files = new ArrayList<>();
        if (Files.isRegularFile(index) && index.getFileName().toString().endsWith(".json")) {
            JsonNode weightMap = Json.MAPPER.readTree(index.toFile()).get("weight_map");
            if (weightMap == null || !weightMap.isObject()) {
                throw new IOException(index + ": not a safetensors index (no weight_map)");
            }
            Map<String, Path> byTensor = new LinkedHashMap<>();
            TreeSet<Path> names = new TreeSet<>();
            Path dir = index.toAbsolutePath().normalize().getParent();
            for (var it = weightMap.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                String n = e.getValue().asText();
                Path f = dir.resolve(n).normalize();
                if (!dir.equals(f.getParent())) {
                    throw new IOException(index + ": weight_map names a file outside its directory: " + n);
                }
                byTensor.put(e.getKey(), f);
                names.add(f);
            }
            files.addAll(names);
            checkShardSet(files, index);
            if (Files.isDirectory(input)) {
                refuseUnnamed(input, names);
            }
            return new SafetensorsImport(files, index, byTensor);
        } else if (Files.isDirectory(input)) {
            try (Stream<Path> list = Files.list(input)) {
                list.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().forEach(files::add);
            }
            if (files.isEmpty()) {
                throw new IOException(input + ": no .safetensors files and no " + SafetensorsExport.INDEX);
            }
            checkShardSet(files, input);
        } else {
            files.add(input);
            checkShardSet(files, input); // one shard of a set, named alone: the step would lack the others' tensors
        }
        return new SafetensorsImport(files, null, null);
    }

    /**
     * Refuses a directory whose index does not name every {@code .safetensors} file in it: two exports in one directory
     * (a single file beside a sharded export), of which the index would silently choose one.
     */
    private static void refuseUnnamed(Path dir, Set<Path> named) throws IOException {
        List<String> unnamed = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            list.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .filter(p -> !named.contains(p.toAbsolutePath().normalize()))
                    .forEach(p -> unnamed.add(p.getFileName().toString()));
        }
        if (!unnamed.isEmpty()) {
            java.util.Collections.sort(unnamed);
            throw new IOException(dir + ": its " + SafetensorsExport.INDEX + " does not name " + String.join(", ", unnamed)
                    + ": two exports in one directory? Name the index or the file to import");
        }
    }

    /** Refuses {@code files} if they hold some of a set of shards {@code <prefix>-<i>-of-<N>.safetensors} but not all. */
    private static void checkShardSet(List<Path> files, Path input) {
        Map<ShardSet, Set<Integer>> sets = new LinkedHashMap<>();
        for (Path f : files) {
            Matcher m = SHARD.matcher(f.getFileName().toString());
            if (m.matches()) {
                String format = m.group(1).replace("%", "%%") + "-%0" + m.group(2).length() + "d-of-" + m.group(3)
                        + ".safetensors";
                ShardSet set = new ShardSet(format, Integer.parseInt(m.group(3)));
                sets.computeIfAbsent(set, k -> new HashSet<>()).add(Integer.parseInt(m.group(2)));
            }
        }
        List<String> missing = new ArrayList<>();
        long count = 0;
        for (Map.Entry<ShardSet, Set<Integer>> e : sets.entrySet()) {
            int of = e.getKey().of();
            Set<Integer> present = e.getValue();
            count += of - present.stream().filter(i -> i >= 1 && i <= of).count();
            for (int i = 1; i <= of && missing.size() < NAMED; i++) { // a few steps past the files there, never to N
                if (!present.contains(i)) {
                    missing.add(String.format(Locale.ROOT, e.getKey().format(), i));
                }
            }
        }
        if (count > 0) {
            String more = count > missing.size() ? " and " + (count - missing.size()) + " more" : "";
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, input + ": the set of shards is"
                    + " incomplete, missing " + String.join(", ", missing) + more
                    + "; importing the rest would commit a step without their tensors");
        }
    }

    /** The shards {@code String.format(format, i)} for i from 1 to {@code of}. */
    private record ShardSet(String format, int of) {
    }

    public List<Path> files() {
        return files;
    }

    /**
     * Every tensor of every file, and the blobs in the metadata. Duplicate names across files are refused, and so,
     * with an index, are a tensor its weight map lists but no file holds and one a file holds that the map places
     * elsewhere or does not list.
     */
    public TrainingState read() throws IOException {
        TrainingState.Builder state = TrainingState.builder();
        List<String> misplaced = new ArrayList<>();
        Map<String, Path> unfound = weightMap == null ? Map.of() : new LinkedHashMap<>(weightMap);
        for (Path f : files) {
            FileChannel ch = FileChannel.open(f, StandardOpenOption.READ);
            open.add(ch);
            sizes.put(f, ch.size());
            Header h = SafetensorsFormat.readHeader(ch, f.toString());
            for (Map.Entry<String, String> kv : h.metadata().entrySet()) {
                // Two files of one checkpoint that disagree on a value the import uses (a blob, the run, the step): no
                // file may win silently, as the first in sorted order would. Other keys (a tool's own) keep the first.
                String before = metadata.putIfAbsent(kv.getKey(), kv.getValue());
                if (before != null && !before.equals(kv.getValue()) && used(kv.getKey())) {
                    throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, f + " gives metadata '"
                            + kv.getKey() + "' another value than an earlier file of the same checkpoint: not imported");
                }
            }
            for (TensorInfo t : h.tensors()) {
                if (weightMap != null && !f.equals(unfound.remove(t.name()))) {
                    Path mapped = weightMap.get(t.name());
                    misplaced.add("'" + t.name() + "' in " + f.getFileName() + (mapped == null ? " (not listed)"
                            : " (listed in " + mapped.getFileName() + ")"));
                }
                state.add(Tensor.of(t.name(), t.dtype(), t.shape(), map(ch, h.dataStart() + t.begin(), t.byteSize())));
            }
        }
        if (!misplaced.isEmpty() || !unfound.isEmpty()) {
            List<String> problems = new ArrayList<>();
            if (!unfound.isEmpty()) {
                problems.add("its weight_map lists " + named(unfound.keySet().stream().map(n -> "'" + n + "'").toList())
                        + ", which no file holds");
            }
            if (!misplaced.isEmpty()) {
                problems.add("its files hold " + named(misplaced) + ", which it does not map there");
            }
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, index + " does not match its files: "
                    + String.join("; ", problems));
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

    /** The first few of {@code items} and how many more there are. */
    private static String named(List<String> items) {
        return String.join(", ", items.subList(0, Math.min(items.size(), NAMED)))
                + (items.size() > NAMED ? " and " + (items.size() - NAMED) + " more" : "");
    }

    /** Whether the import reads metadata {@code key}: a blob, the run or the step. */
    private static boolean used(String key) {
        return key.startsWith(SafetensorsExport.BLOB_PREFIX) || key.equals(SafetensorsExport.RUN_KEY)
                || key.equals(SafetensorsExport.STEP_KEY);
    }

    /**
     * The {@code __metadata__} of every file: for a key the import uses ({@code cairn.blob.*}, the run, the step) files
     * that disagree are refused; for another, the first file's value wins. Filled by {@link #read}.
     */
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
