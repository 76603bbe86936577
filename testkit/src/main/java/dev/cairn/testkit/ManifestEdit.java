package dev.cairn.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import net.openhft.hashing.LongTupleHashFunction;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.SeekableReadChannel;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.ByteArrayReadableSeekableByteChannel;

/**
 * A Cairn manifest or rank index (formats 3 and 4: an Arrow IPC file with {@code cairn.*} schema metadata, one row per
 * chunk, or in a format-4 MANIFEST of several ranks one row per entry and one per rank index)
 * opened for editing and written back with a rows digest that matches the edit, so that a reader gets past the digest
 * to the value under test. Written from the format's description (the engine's {@code ManifestFormat} Javadoc), not
 * with the engine's code: a writer of hostile manifests must be able to say what the engine's writer never would.
 * Values are kept as the Arrow types hold them: {@code String}, {@code Long} (int64 columns), {@code Integer}
 * (int32) and {@code Double}.
 */
public final class ManifestEdit {
    static final String DIGEST = "cairn.rows_digest";
    private static final String[] META_ORDER = {"cairn.format_version", "cairn.kind", "cairn.run", "cairn.step",
        "cairn.world_size", "cairn.rank", "cairn.created_at", "cairn.chunk_bytes", "cairn.hash", "cairn.rows",
        "cairn.chunk_count", "cairn.stored_bytes"};
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final List<Field> fields;
    /** Schema metadata, editable; the digest is recomputed on {@link #encode()}. */
    public final Map<String, String> meta;
    /** Rows, each column name to value, editable. */
    public final List<Map<String, Object>> rows;

    private ManifestEdit(List<Field> fields, Map<String, String> meta, List<Map<String, Object>> rows) {
        this.fields = fields;
        this.meta = meta;
        this.rows = rows;
    }

    /** Opens the bytes of a manifest or index. */
    public static ManifestEdit parse(byte[] bytes) throws IOException {
        try (BufferAllocator allocator = new RootAllocator();
             ArrowFileReader reader = new ArrowFileReader(new SeekableReadChannel(new ByteArrayReadableSeekableByteChannel(bytes)),
                     allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            Schema schema = root.getSchema();
            List<Map<String, Object>> rows = new ArrayList<>();
            for (ArrowBlock block : reader.getRecordBlocks()) {
                reader.loadRecordBatch(block);
                for (int i = 0; i < root.getRowCount(); i++) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    for (FieldVector v : root.getFieldVectors()) {
                        Object value = v.getObject(i);
                        row.put(v.getName(), value == null ? null : value instanceof org.apache.arrow.vector.util.Text t
                                ? t.toString() : value);
                    }
                    rows.add(row);
                }
            }
            return new ManifestEdit(schema.getFields(), new LinkedHashMap<>(schema.getCustomMetadata()), rows);
        }
    }

    /** Applies {@code change} to every row of the first entry (its name and rank as the first row has them). */
    public ManifestEdit firstEntry(Consumer<Map<String, Object>> change) {
        Object entry = rows.get(0).get("entry");
        Object rank = rows.get(0).get("rank");
        for (Map<String, Object> r : rows) {
            if (r.get("entry").equals(entry) && r.get("rank").equals(rank)) {
                change.accept(r);
            }
        }
        return this;
    }

    /** The edited file, with a rows digest computed the way the format defines it. */
    public byte[] encode() throws IOException {
        Map<String, String> out = new LinkedHashMap<>(meta);
        out.put(DIGEST, digest());
        Schema schema = new Schema(fields, out);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (BufferAllocator allocator = new RootAllocator();
             VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
             ArrowFileWriter writer = new ArrowFileWriter(root, null, Channels.newChannel(bytes))) {
            root.allocateNew();
            for (int i = 0; i < rows.size(); i++) {
                for (FieldVector v : root.getFieldVectors()) {
                    Object value = rows.get(i).get(v.getName());
                    if (v instanceof VarCharVector s) {
                        s.setSafe(i, ((String) value).getBytes(StandardCharsets.UTF_8));
                    } else if (v instanceof BigIntVector l) {
                        l.setSafe(i, ((Number) value).longValue());
                    } else if (v instanceof IntVector n) {
                        n.setSafe(i, ((Number) value).intValue());
                    } else if (v instanceof Float8Vector d) {
                        d.setSafe(i, ((Number) value).doubleValue());
                    } else {
                        throw new IOException("column " + v.getName() + " of an unexpected type " + v.getClass().getSimpleName());
                    }
                }
            }
            root.setRowCount(rows.size());
            writer.start();
            writer.writeBatch();
            writer.end();
        }
        return bytes.toByteArray();
    }

    /** XXH3-128 of the metadata (in the writer's key order, then any other key) and each row in canonical form. */
    private String digest() {
        StringBuilder b = new StringBuilder();
        Map<String, String> ordered = new LinkedHashMap<>();
        for (String k : META_ORDER) {
            if (meta.containsKey(k)) {
                ordered.put(k, meta.get(k));
            }
        }
        new java.util.TreeMap<>(meta).forEach(ordered::putIfAbsent);
        ordered.forEach((k, v) -> {
            if (!DIGEST.equals(k)) {
                b.append(k).append('=').append(v).append('\n');
            }
        });
        boolean v2 = fields.stream().anyMatch(f -> f.getName().equals("global_shape"));
        for (Map<String, Object> r : rows) {
            b.append("Row[entry=").append(r.get("entry")).append(", kind=").append(r.get("kind"))
                    .append(", dtype=").append(r.get("dtype")).append(", shape=").append(r.get("shape"))
                    .append(", entryBytes=").append(r.get("entry_bytes")).append(", rank=").append(r.get("rank"))
                    .append(", chunk=").append(r.get("chunk")).append(", offset=").append(r.get("offset"))
                    .append(", rawLength=").append(r.get("raw_length")).append(", hash=").append(r.get("hash"))
                    .append(", codec=").append(r.get("codec")).append(", storedLength=").append(r.get("stored_length"))
                    .append(']');
            if (v2) {
                b.append('|').append(r.get("global_shape")).append('|').append(r.get("shard_offset")).append('|')
                        .append(r.get("bases")).append('|').append(Double.toString(((Number) r.get("error_bound")).doubleValue()));
            }
            b.append('\n');
        }
        long[] halves = LongTupleHashFunction.xx128().hashBytes(b.toString().getBytes(StandardCharsets.UTF_8));
        char[] hex = new char[32];
        for (int i = 0; i < 16; i++) {
            hex[15 - i] = HEX[(int) (halves[1] >>> (i * 4)) & 15];
            hex[31 - i] = HEX[(int) (halves[0] >>> (i * 4)) & 15];
        }
        return new String(hex);
    }
}
