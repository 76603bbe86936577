package dev.cairn.cli.safetensors;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cairn.CheckpointException;
import dev.cairn.DType;
import dev.cairn.Tensor;
import dev.cairn.cli.Json;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The safetensors file format (Hugging Face), which PyTorch, transformers and the {@code safetensors} libraries load:
 * <pre>
 * offset 0        8                 8 + N
 *        +--------+-----------------+--------------------------------------------------+
 *        | N: u64 | header: N bytes | data: every tensor's bytes, row-major, little-   |
 *        | little | of UTF-8 JSON,  | endian, back to back; a tensor's data_offsets    |
 *        | endian | space-padded    | [begin, end) count from the start of this region |
 *        +--------+-----------------+--------------------------------------------------+
 * header: {"__metadata__": {"key": "string value", ...},                    (optional, strings only)
 *          "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
 * </pre>
 * dtype names are those of {@link DType} (F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 U8 BOOL); the format's
 * others (U16, U32, U64, F8_E8M0, ...) have no Cairn type and are refused on import. Writers here pad the header
 * with spaces to a multiple of 8 bytes so that the data region is aligned, as the reference writer does.
 */
public final class SafetensorsFormat {
    /** The reference implementation refuses larger headers; so do we (a hostile length must not exhaust memory). */
    public static final long MAX_HEADER_BYTES = 100_000_000; // 10^8, not 100 MiB: the Rust crate's MAX_HEADER_SIZE
    public static final String METADATA = "__metadata__";
    static final int ALIGN = 8;

    private SafetensorsFormat() {
    }

    /** One tensor's header record: offsets relative to the data region. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public long byteSize() {
            return end - begin;
        }
    }

    /** A parsed header; {@code dataStart} is the file offset of the data region. */
    public record Header(Map<String, String> metadata, List<TensorInfo> tensors, long dataStart) {
    }

    /**
     * The first {@code 8 + N} bytes of a file holding {@code tensors} (offsets already assigned) and {@code metadata}.
     * Refuses (INVALID_INPUT) what would make a file no reader loads: a tensor named {@value #METADATA}, which would
     * take the metadata's place, and a header over {@link #MAX_HEADER_BYTES}.
     */
    public static ByteBuffer encodeHeader(List<TensorInfo> tensors, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(METADATA);
            metadata.forEach(meta::put);
        }
        for (TensorInfo t : tensors) {
            if (t.name().equals(METADATA)) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + METADATA
                        + "' cannot be written as safetensors: the format keeps that name for the file's metadata");
            }
            ObjectNode o = root.putObject(t.name());
            o.put("dtype", t.dtype().name());
            ArrayNode shape = o.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            o.putArray("data_offsets").add(t.begin()).add(t.end());
        }
        byte[] json;
        try {
            json = Json.MAPPER.writer().without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsBytes(root);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode a safetensors header", e);
        }
        int padded = (json.length + ALIGN - 1) / ALIGN * ALIGN;
        if (padded > MAX_HEADER_BYTES) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "a safetensors header of " + padded
                    + " bytes is over the " + MAX_HEADER_BYTES + " bytes that readers accept" + largestValue(metadata));
        }
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.flip();
    }

    /** What most likely made a header too large: a blob, base64-encoded into the metadata. */
    private static String largestValue(Map<String, String> metadata) {
        return metadata.entrySet().stream().max(Comparator.comparingInt(e -> e.getValue().length()))
                .map(e -> " (" + METADATA + " value '" + e.getKey() + "' alone is " + e.getValue().length()
                        + " characters)")
                .orElse("");
    }

    /** Assigns back-to-back offsets to tensors given as (name, dtype, shape), in order. */
    public static List<TensorInfo> layOut(List<TensorInfo> unplaced) {
        List<TensorInfo> out = new ArrayList<>();
        long at = 0;
        for (TensorInfo t : unplaced) {
            long size = Tensor.expectedBytes(t.name(), t.dtype(), t.shape());
            out.add(new TensorInfo(t.name(), t.dtype(), t.shape(), at, at + size));
            at += size;
        }
        return out;
    }

    /**
     * Reads and checks the header of a file: length within the file and the limit, a JSON object, known dtypes,
     * offsets that match each shape and lie inside the data region without overlapping. The JSON is read as a stream
     * of tokens, never as a tree: what is kept per tensor is its name, shape and offsets, so a header of a million
     * empty tensors costs about what those take, not a tree of nodes twenty times the header's size.
     */
    public static Header readHeader(FileChannel file, String name) throws IOException {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, len, 0, name);
        long n = len.flip().getLong();
        long size = file.size();
        if (Long.compareUnsigned(n, MAX_HEADER_BYTES) > 0) {
            throw bad(name, "header length " + Long.toUnsignedString(n) + " is over the " + MAX_HEADER_BYTES
                    + " bytes that safetensors readers accept");
        }
        if (n < 2 || 8 + n > size) {
            throw bad(name, "header length " + Long.toUnsignedString(n) + " is impossible for a file of " + size + " bytes");
        }
        ByteBuffer json = ByteBuffer.allocate((int) n);
        readFully(file, json, 8, name);
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        try (JsonParser p = Json.MAPPER.getFactory().createParser(json.array(), 0, (int) n)
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw bad(name, "header is not a JSON object");
            }
            for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
                String key = p.currentName();
                p.nextToken();
                if (key.equals(METADATA)) {
                    readMetadata(p, metadata, name);
                } else {
                    tensors.add(tensor(key, p, dataSize, name));
                }
            }
            if (p.nextToken() != null) {
                throw bad(name, "header has content after its JSON object");
            }
        } catch (JsonParseException e) {
            throw duplicateOrNotJson(e, name);
        } catch (JsonProcessingException e) {
            throw bad(name, "header is not JSON: " + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin));
        long covered = 0;
        for (TensorInfo t : byOffset) {
            if (t.begin() < covered) {
                throw bad(name, "tensor '" + t.name() + "' overlaps another tensor's bytes");
            }
            covered = Math.max(covered, t.end());
        }
        return new Header(metadata, tensors, dataStart);
    }

    /** {@code __metadata__}: an object of strings, the parser on its opening brace. */
    private static void readMetadata(JsonParser p, Map<String, String> metadata, String name) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw bad(name, METADATA + " is not an object");
        }
        for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
            String key = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw bad(name, METADATA + " value '" + key + "' is not a string");
            }
            metadata.put(key, p.getText());
        }
    }

    /** One tensor's record, the parser on its opening brace; other fields are skipped. */
    private static TensorInfo tensor(String tensor, JsonParser p, long dataSize, String name) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw bad(name, "tensor '" + tensor + "' needs dtype, shape and data_offsets [begin, end]");
        }
        String dtype = null;
        long[] dims = null;
        long[] offsets = null;
        for (JsonToken t = p.nextToken(); t != JsonToken.END_OBJECT; t = p.nextToken()) {
            String field = p.currentName();
            JsonToken value = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (value != JsonToken.VALUE_STRING) {
                        throw bad(name, "tensor '" + tensor + "' has a dtype that is not a string");
                    }
                    dtype = p.getText();
                }
                case "shape" -> dims = longs(p, "shape", tensor, name);
                case "data_offsets" -> offsets = longs(p, "data_offsets", tensor, name);
                default -> p.skipChildren();
            }
        }
        if (dtype == null || dims == null || offsets == null || offsets.length != 2) {
            throw bad(name, "tensor '" + tensor + "' needs dtype, shape and data_offsets [begin, end]");
        }
        DType type;
        try {
            type = DType.valueOf(dtype);
        } catch (IllegalArgumentException e) {
            throw bad(name, "tensor '" + tensor + "' has dtype " + dtype + ", which Cairn has no type for");
        }
        for (long d : dims) {
            if (d < 0) {
                throw bad(name, "tensor '" + tensor + "' has a bad shape " + Arrays.toString(dims));
            }
        }
        long begin = offsets[0];
        long end = offsets[1];
        long expected = Tensor.expectedBytes(tensor, type, dims);
        if (begin < 0 || end < begin || end > dataSize || end - begin != expected) {
            throw bad(name, "tensor '" + tensor + "' data_offsets [" + begin + ", " + end + "] do not fit its shape "
                    + Arrays.toString(dims) + " of " + type + " (" + expected + " bytes) inside " + dataSize + " bytes of data");
        }
        return new TensorInfo(tensor, type, dims, begin, end);
    }

    /** An array of integers that fit in 64 bits, the parser on its opening bracket. */
    private static long[] longs(JsonParser p, String field, String tensor, String name) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw bad(name, "tensor '" + tensor + "' has a " + field + " that is not an array");
        }
        long[] out = new long[4];
        int n = 0;
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            // Never a wrapped value: 18446744073709551620 must not read as 4. The reference reader takes u64 and
            // refuses what does not fit; nothing above a long fits a file anyway.
            if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() == JsonParser.NumberType.BIG_INTEGER || p.getLongValue() < 0) {
                throw bad(name, "tensor '" + tensor + "' has " + field + "[" + n + "] = " + p.getText()
                        + ", which is not an integer from 0 to " + Long.MAX_VALUE);
            }
            if (n == out.length) {
                out = Arrays.copyOf(out, n * 2);
            }
            out[n++] = p.getLongValue();
        }
        return Arrays.copyOf(out, n);
    }

    private static void readFully(FileChannel file, ByteBuffer dst, long at, String name) throws IOException {
        long pos = at;
        while (dst.hasRemaining()) {
            int n = file.read(dst, pos);
            if (n < 0) {
                throw new EOFException(name + ": ends inside the header");
            }
            pos += n;
        }
    }

    /** A key twice (the reference library refuses it; last-one-wins would drop a tensor silently), else bad JSON. */
    private static CheckpointException duplicateOrNotJson(JsonParseException e, String name) {
        String message = e.getOriginalMessage() == null ? "" : e.getOriginalMessage();
        if (!message.startsWith("Duplicate field")) {
            return bad(name, "header is not JSON: " + message.lines().findFirst().orElse(""));
        }
        int from = message.indexOf('\'');
        String key = from >= 0 && message.lastIndexOf('\'') > from ? message.substring(from + 1, message.lastIndexOf('\'')) : "?";
        JsonStreamContext where = e.getProcessor() == null ? null : e.getProcessor().getParsingContext();
        JsonStreamContext owner = where == null ? null : where.getParent();
        if (owner != null && owner.inRoot()) {
            return bad(name, "the header names tensor '" + key + "' twice");
        }
        String tensor = owner != null && owner.getCurrentName() != null ? owner.getCurrentName() : "?";
        return bad(name, "tensor '" + tensor + "' has '" + key + "' twice in the header");
    }

    private static CheckpointException bad(String file, String problem) {
        return new CheckpointException(CheckpointException.Reason.INVALID_INPUT, file + ": not a valid safetensors file: "
                + problem);
    }
}
