package dev.cairn.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A safetensors reader written from the format's specification alone, independent of the CLI's code: 8 bytes of
 * little-endian unsigned header length N, N bytes of JSON (tensor name to dtype, shape and data_offsets relative to
 * the byte after the header, plus an optional __metadata__ of strings), then the data.
 */
final class SafetensorsReader {
    private static final Map<String, Integer> WIDTH = Map.ofEntries(Map.entry("F64", 8), Map.entry("F32", 4),
            Map.entry("F16", 2), Map.entry("BF16", 2), Map.entry("F8_E4M3", 1), Map.entry("F8_E5M2", 1), Map.entry("I64", 8),
            Map.entry("I32", 4), Map.entry("I16", 2), Map.entry("I8", 1), Map.entry("U8", 1), Map.entry("BOOL", 1));

    record File(Map<String, byte[]> tensors, Map<String, String> metadata, JsonNode header) {
        String dtype(String name) {
            return header.get(name).get("dtype").asText();
        }

        String shape(String name) {
            return header.get(name).get("shape").toString();
        }
    }

    static File read(Path path) throws IOException {
        byte[] all = Files.readAllBytes(path);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (n <= 0 || 8 + n > all.length) {
            throw new IOException("bad header length " + n);
        }
        JsonNode header = new ObjectMapper().readTree(new String(all, 8, (int) n, StandardCharsets.UTF_8));
        int data = 8 + (int) n;
        Map<String, byte[]> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        // Tensors in data order, so that the map's order is the file's.
        var names = new java.util.ArrayList<String>();
        for (Iterator<String> it = header.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (name.equals("__metadata__")) {
                header.get(name).fields().forEachRemaining(e -> metadata.put(e.getKey(), e.getValue().asText()));
            } else {
                names.add(name);
            }
        }
        names.sort((a, b) -> Long.compare(header.get(a).get("data_offsets").get(0).asLong(),
                header.get(b).get("data_offsets").get(0).asLong()));
        long expectedBegin = 0;
        for (String name : names) {
            JsonNode t = header.get(name);
            long begin = t.get("data_offsets").get(0).asLong();
            long end = t.get("data_offsets").get(1).asLong();
            long elements = 1;
            for (JsonNode d : t.get("shape")) {
                elements *= d.asLong();
            }
            if (begin != expectedBegin || end - begin != elements * WIDTH.get(t.get("dtype").asText())) {
                throw new IOException("tensor " + name + " offsets [" + begin + ", " + end + "] are not contiguous or do not fit its shape");
            }
            tensors.put(name, Arrays.copyOfRange(all, data + (int) begin, data + (int) end));
            expectedBegin = end;
        }
        if (data + expectedBegin != all.length) {
            throw new IOException("data region is " + (all.length - data) + " bytes, tensors cover " + expectedBegin);
        }
        return new File(tensors, metadata, header);
    }
}
