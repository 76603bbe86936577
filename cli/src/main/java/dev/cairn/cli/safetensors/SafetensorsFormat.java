package dev.cairn.cli.safetensors;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.Comparator;
import java.util.Iterator;
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
    public static final long MAX_HEADER_BYTES = 100L << 20;
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

    /** The first {@code 8 + N} bytes of a file holding {@code tensors} (offsets already assigned) and {@code metadata}. */
    public static ByteBuffer encodeHeader(List<TensorInfo> tensors, Map<String, String> metadata) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject(METADATA);
            metadata.forEach(meta::put);
        }
        for (TensorInfo t : tensors) {
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
        ByteBuffer out = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(json);
        while (out.hasRemaining()) {
            out.put((byte) ' ');
        }
        return out.flip();
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
     * offsets that match each shape and lie inside the data region without overlapping.
     */
    public static Header readHeader(FileChannel file, String name) throws IOException {
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, len, 0, name);
        long n = len.flip().getLong();
        long size = file.size();
        if (n < 2 || n > MAX_HEADER_BYTES || 8 + n > size) {
            throw bad(name, "header length " + Long.toUnsignedString(n) + " is impossible for a file of " + size + " bytes");
        }
        ByteBuffer json = ByteBuffer.allocate((int) n);
        readFully(file, json, 8, name);
        JsonNode root;
        try {
            root = Json.MAPPER.reader().with(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .readTree(new String(json.array(), StandardCharsets.UTF_8));
        } catch (JsonParseException e) {
            throw duplicateOrNotJson(e, name);
        } catch (IOException e) {
            throw bad(name, "header is not JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            throw bad(name, "header is not a JSON object");
        }
        long dataStart = 8 + n;
        long dataSize = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals(METADATA)) {
                if (!e.getValue().isObject()) {
                    throw bad(name, METADATA + " is not an object");
                }
                e.getValue().fields().forEachRemaining(m -> {
                    if (!m.getValue().isTextual()) {
                        throw bad(name, METADATA + " value '" + m.getKey() + "' is not a string");
                    }
                    metadata.put(m.getKey(), m.getValue().asText());
                });
                continue;
            }
            tensors.add(tensor(e.getKey(), e.getValue(), dataSize, name));
        }
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin));
        long covered = 0;
        for (TensorInfo t : byOffset) {
            if (t.begin() < covered) {
                throw bad(name, "tensor '" + t.name() + "' overlaps another tensor's bytes");
            }
            covered = t.end();
        }
        return new Header(metadata, tensors, dataStart);
    }

    private static TensorInfo tensor(String tensor, JsonNode node, long dataSize, String name) throws IOException {
        JsonNode dtype = node.get("dtype");
        JsonNode shape = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtype == null || !dtype.isTextual() || shape == null || !shape.isArray() || offsets == null || !offsets.isArray()
                || offsets.size() != 2) {
            throw bad(name, "tensor '" + tensor + "' needs dtype, shape and data_offsets [begin, end]");
        }
        DType type;
        try {
            type = DType.valueOf(dtype.asText());
        } catch (IllegalArgumentException e) {
            throw bad(name, "tensor '" + tensor + "' has dtype " + dtype.asText() + ", which Cairn has no type for");
        }
        long[] dims = new long[shape.size()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = integer(shape.get(i), "shape[" + i + "]", tensor, name);
        }
        long begin = integer(offsets.get(0), "data_offsets[0]", tensor, name);
        long end = integer(offsets.get(1), "data_offsets[1]", tensor, name);
        long expected = Tensor.expectedBytes(tensor, type, dims);
        if (begin < 0 || end < begin || end > dataSize || end - begin != expected) {
            throw bad(name, "tensor '" + tensor + "' data_offsets [" + begin + ", " + end + "] do not fit its shape "
                    + shape + " of " + type + " (" + expected + " bytes) inside " + dataSize + " bytes of data");
        }
        return new TensorInfo(tensor, type, dims, begin, end);
    }

    /**
     * A shape dimension or offset: a JSON integer from 0 to {@link Long#MAX_VALUE}. Never {@code asLong()} of
     * anything larger, which wraps ({@code 18446744073709551620} would read as 4); the reference reader takes u64 and
     * refuses what does not fit, and nothing above a long fits a file anyway.
     */
    private static long integer(JsonNode n, String field, String tensor, String name) {
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0) {
            throw bad(name, "tensor '" + tensor + "' has " + field + " = " + n
                    + ", which is not an integer from 0 to " + Long.MAX_VALUE);
        }
        return n.asLong();
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

    private static CheckpointException bad(String file, String problem) {
        return new CheckpointException(CheckpointException.Reason.INVALID_INPUT, file + ": not a valid safetensors file: "
                + problem);
    }
}
