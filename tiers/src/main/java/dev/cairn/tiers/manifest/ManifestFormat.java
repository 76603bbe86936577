package dev.cairn.tiers.manifest;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.DType;
import dev.cairn.Tensor;
import dev.cairn.tiers.codec.ChunkHash;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.SeekableReadChannel;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.ByteArrayReadableSeekableByteChannel;

/**
 * The manifest and index format: one Apache Arrow IPC file (readable by pyarrow, DuckDB, arrow-js).
 * <pre>
 * schema metadata (strings)                     one row per chunk of each entry
 * +------------------------------+              +-------+--------+-------+-------+-------------+------+
 * | cairn.format_version  "1"    |              | entry | kind   | dtype | shape | entry_bytes | rank |
 * | cairn.kind  manifest|index   |              +-------+--------+-------+-------+-------------+------+
 * | cairn.run, cairn.step        |              | chunk | offset | raw_length | hash | codec | stored_length |
 * | cairn.world_size, cairn.rank |              +-------+--------+------------+------+-------+---------------+
 * | cairn.created_at (ISO-8601)  |   kind: "tensor" | "blob"; dtype "" and shape "" for blobs;
 * | cairn.chunk_bytes            |   shape: "[d0,d1,...]" ("[]" for a scalar); chunk: 0.. in order,
 * | cairn.rows_digest (128 bit)  |   or -1 in the single row of an entry with no bytes.
 * +------------------------------+
 * </pre>
 * {@code rows_digest} is the content hash of the rows in a canonical text form, so a manifest whose values were
 * garbled, yet still parse as Arrow, is rejected. A reader refuses a {@code format_version} above
 * {@link #FORMAT_VERSION}.
 *
 * <p>Version rule: the version goes up when a reader of the previous version could misread a manifest of the new
 * one (a new column or metadata key that changes what a row means, or a changed meaning of an existing value), and
 * every release keeps reading all older versions. New values in the {@code codec} column ({@code raw},
 * {@code planes2+zstd}, {@code planes4+zstd}, {@code planes8+zstd}, see
 * {@link dev.cairn.tiers.codec.ChunkCodec}) did not bump it: the schema is unchanged, a version-1 reader refuses a
 * chunk whose codec it does not know with a clear "unknown codec" error rather than misreading it, and the stored
 * chunks stay standard zstd streams. Version 1 manifests (every codec {@code zstd}) are still what the codec
 * choice writes for chunks that plain zstd shrinks best, and are read as before.
 */
public final class ManifestFormat {
    public static final int FORMAT_VERSION = 1;
    /** Manifests above this size are refused before parsing: a hostile file must not exhaust memory. */
    public static final long MAX_BYTES = 256L << 20;
    static final String KEY_VERSION = "cairn.format_version";
    static final String KEY_KIND = "cairn.kind";
    static final String KEY_RUN = "cairn.run";
    static final String KEY_STEP = "cairn.step";
    static final String KEY_WORLD = "cairn.world_size";
    static final String KEY_RANK = "cairn.rank";
    static final String KEY_CREATED = "cairn.created_at";
    static final String KEY_CHUNK = "cairn.chunk_bytes";
    static final String KEY_DIGEST = "cairn.rows_digest";

    private static final String[] STRINGS = {"entry", "kind", "dtype", "shape", "hash", "codec"};
    private static final String[] LONGS = {"entry_bytes", "offset", "raw_length", "stored_length"};
    private static final String[] INTS = {"rank", "chunk"};

    private ManifestFormat() {
    }

    /** The bytes of {@code m} as an Arrow IPC file; {@code kind} is "manifest" or "index". */
    public static byte[] write(Manifest m, String kind, BufferAllocator allocator) {
        List<Row> rows = rowsOf(m);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(KEY_VERSION, Integer.toString(m.formatVersion()));
        meta.put(KEY_KIND, kind);
        meta.put(KEY_RUN, m.run());
        meta.put(KEY_STEP, Long.toString(m.step()));
        meta.put(KEY_WORLD, Integer.toString(m.worldSize()));
        meta.put(KEY_RANK, Integer.toString(m.rank()));
        meta.put(KEY_CREATED, m.createdAt().toString());
        meta.put(KEY_CHUNK, Integer.toString(m.chunkBytes()));
        meta.put(KEY_DIGEST, digest(meta, rows));
        Schema schema = new Schema(fields(), meta);
        ByteArrayOutputStream out = new ByteArrayOutputStream(256 + rows.size() * 128);
        try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator);
             ArrowFileWriter writer = new ArrowFileWriter(root, null, Channels.newChannel(out))) {
            root.allocateNew();
            for (int i = 0; i < rows.size(); i++) {
                Row r = rows.get(i);
                setString(root, "entry", i, r.entry);
                setString(root, "kind", i, r.kind);
                setString(root, "dtype", i, r.dtype);
                setString(root, "shape", i, r.shape);
                setString(root, "hash", i, r.hash);
                setString(root, "codec", i, r.codec);
                ((BigIntVector) root.getVector("entry_bytes")).setSafe(i, r.entryBytes);
                ((BigIntVector) root.getVector("offset")).setSafe(i, r.offset);
                ((BigIntVector) root.getVector("raw_length")).setSafe(i, r.rawLength);
                ((BigIntVector) root.getVector("stored_length")).setSafe(i, r.storedLength);
                ((IntVector) root.getVector("rank")).setSafe(i, r.rank);
                ((IntVector) root.getVector("chunk")).setSafe(i, r.chunk);
            }
            root.setRowCount(rows.size());
            writer.start();
            writer.writeBatch();
            writer.end();
        } catch (java.io.IOException e) {
            throw new CheckpointException(Reason.STORAGE, "cannot encode manifest of step " + m.step(), e);
        }
        return out.toByteArray();
    }

    /**
     * Parses and checks a manifest or index read from {@code key}. Anything malformed is CORRUPT naming the key;
     * a newer format is UNSUPPORTED_VERSION.
     */
    public static Manifest read(ByteBuffer bytes, String key, BufferAllocator allocator) {
        if (bytes.remaining() > MAX_BYTES) {
            throw corrupt(key, "is " + bytes.remaining() + " bytes, above the limit of " + MAX_BYTES);
        }
        byte[] array = new byte[bytes.remaining()];
        bytes.duplicate().get(array);
        Map<String, String> meta;
        List<Row> rows = new ArrayList<>();
        try (ArrowFileReader reader = new ArrowFileReader(new SeekableReadChannel(new ByteArrayReadableSeekableByteChannel(array)), allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            meta = root.getSchema().getCustomMetadata();
            checkVersion(meta, key);
            for (ArrowBlock block : reader.getRecordBlocks()) {
                if (!reader.loadRecordBatch(block)) {
                    break;
                }
                for (int i = 0; i < root.getRowCount(); i++) {
                    rows.add(new Row(str(root, "entry", i), str(root, "kind", i), str(root, "dtype", i), str(root, "shape", i),
                            lng(root, "entry_bytes", i), integer(root, "rank", i), integer(root, "chunk", i), lng(root, "offset", i),
                            lng(root, "raw_length", i), str(root, "hash", i), str(root, "codec", i), lng(root, "stored_length", i)));
                }
            }
        } catch (CheckpointException e) {
            throw e;
        } catch (Exception | OutOfMemoryError e) {
            throw corrupt(key, "is not a readable Arrow IPC file (" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
        }
        if (meta == null) {
            throw corrupt(key, "has no schema metadata");
        }
        String expected = digest(withoutDigest(meta), rows);
        if (!expected.equals(meta.get(KEY_DIGEST))) {
            throw corrupt(key, "fails its rows digest: contents were altered or garbled");
        }
        return toManifest(meta, rows, key);
    }

    private static void checkVersion(Map<String, String> meta, String key) {
        if (meta == null || meta.get(KEY_VERSION) == null) {
            throw corrupt(key, "has no " + KEY_VERSION);
        }
        int v;
        try {
            v = Integer.parseInt(meta.get(KEY_VERSION));
        } catch (NumberFormatException e) {
            throw corrupt(key, "has a malformed " + KEY_VERSION + " '" + meta.get(KEY_VERSION) + "'");
        }
        if (v > FORMAT_VERSION) {
            throw new CheckpointException(Reason.UNSUPPORTED_VERSION, key + " has format version " + v
                    + "; this Cairn reads up to version " + FORMAT_VERSION + ": upgrade Cairn to restore it");
        }
        if (v < 1) {
            throw corrupt(key, "has an invalid format version " + v);
        }
    }

    private static Manifest toManifest(Map<String, String> meta, List<Row> rows, String key) {
        String run = required(meta, KEY_RUN, key);
        long step = parseLong(meta, KEY_STEP, key);
        int world = (int) parseLong(meta, KEY_WORLD, key);
        int rank = (int) parseLong(meta, KEY_RANK, key);
        int chunkBytes = (int) parseLong(meta, KEY_CHUNK, key);
        Instant created;
        try {
            created = Instant.parse(required(meta, KEY_CREATED, key));
        } catch (java.time.format.DateTimeParseException e) {
            throw corrupt(key, "has a malformed " + KEY_CREATED);
        }
        if (world < 1 || rank < 0 || rank >= world || step < 0 || chunkBytes < 1) {
            throw corrupt(key, "has impossible header values: step " + step + ", world size " + world + ", rank " + rank
                    + ", chunk bytes " + chunkBytes);
        }
        List<EntryRecord> entries = new ArrayList<>();
        int i = 0;
        while (i < rows.size()) {
            Row first = rows.get(i);
            List<ChunkRef> chunks = new ArrayList<>();
            long covered = 0;
            int j = i;
            for (; j < rows.size() && rows.get(j).entry.equals(first.entry) && rows.get(j).rank == first.rank; j++) {
                Row r = rows.get(j);
                if (r.chunk == -1) {
                    if (j != i || first.entryBytes != 0) {
                        throw corrupt(key, "entry '" + first.entry + "' has a misplaced empty-entry row");
                    }
                    continue;
                }
                if (r.chunk != chunks.size() || r.offset != covered || r.rawLength <= 0 || r.storedLength <= 0
                        || !ChunkHash.isHex(r.hash) || r.entryBytes != first.entryBytes || !r.kind.equals(first.kind)) {
                    throw corrupt(key, "entry '" + first.entry + "' chunk row " + r.chunk + " is inconsistent");
                }
                chunks.add(new ChunkRef(r.offset, r.rawLength, r.hash, r.codec, r.storedLength));
                covered += r.rawLength;
            }
            if (covered != first.entryBytes) {
                throw corrupt(key, "entry '" + first.entry + "' chunks cover " + covered + " of " + first.entryBytes + " bytes");
            }
            entries.add(toEntry(first, chunks, key));
            i = j;
        }
        return new Manifest(Integer.parseInt(meta.get(KEY_VERSION)), run, step, world, rank, created, chunkBytes, entries);
    }

    private static EntryRecord toEntry(Row first, List<ChunkRef> chunks, String key) {
        try {
            dev.cairn.Blob.of(first.entry, new byte[0]); // applies the entry-name rules
        } catch (CheckpointException e) {
            throw corrupt(key, "holds an invalid entry name: " + e.getMessage());
        }
        if ("tensor".equals(first.kind)) {
            DType dtype;
            long[] shape;
            try {
                dtype = DType.fromTag(first.dtype);
                shape = parseShape(first.shape);
            } catch (RuntimeException e) {
                throw corrupt(key, "entry '" + first.entry + "' has a bad dtype or shape: " + first.dtype + " " + first.shape);
            }
            long expected;
            try {
                expected = Tensor.expectedBytes(first.entry, dtype, shape);
            } catch (CheckpointException e) {
                throw corrupt(key, e.getMessage());
            }
            if (expected != first.entryBytes) {
                throw corrupt(key, "tensor '" + first.entry + "' shape " + first.shape + " of " + first.dtype
                        + " needs " + expected + " bytes but records " + first.entryBytes);
            }
            return new EntryRecord(first.entry, true, dtype, shape, first.entryBytes, first.rank, chunks);
        }
        if ("blob".equals(first.kind)) {
            return new EntryRecord(first.entry, false, null, null, first.entryBytes, first.rank, chunks);
        }
        throw corrupt(key, "entry '" + first.entry + "' has unknown kind '" + first.kind + "'");
    }

    static long[] parseShape(String s) {
        if (!s.startsWith("[") || !s.endsWith("]")) {
            throw new IllegalArgumentException(s);
        }
        String body = s.substring(1, s.length() - 1).trim();
        if (body.isEmpty()) {
            return new long[0];
        }
        String[] parts = body.split(",");
        long[] out = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            out[i] = Long.parseLong(parts[i].trim());
        }
        return out;
    }

    static String formatShape(long[] shape) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            b.append(i == 0 ? "" : ",").append(shape[i]);
        }
        return b.append(']').toString();
    }

    private static List<Row> rowsOf(Manifest m) {
        List<Row> rows = new ArrayList<>();
        for (EntryRecord e : m.entries()) {
            String kind = e.tensor() ? "tensor" : "blob";
            String dtype = e.tensor() ? e.dtype().tag() : "";
            String shape = e.tensor() ? formatShape(e.shape()) : "";
            if (e.chunks().isEmpty()) {
                rows.add(new Row(e.name(), kind, dtype, shape, e.byteSize(), e.rank(), -1, 0, 0, "", "", 0));
            }
            for (int c = 0; c < e.chunks().size(); c++) {
                ChunkRef r = e.chunks().get(c);
                rows.add(new Row(e.name(), kind, dtype, shape, e.byteSize(), e.rank(), c, r.offset(), r.rawLength(), r.hash(),
                        r.codec(), r.storedLength()));
            }
        }
        return rows;
    }

    private static String digest(Map<String, String> meta, List<Row> rows) {
        StringBuilder b = new StringBuilder();
        meta.forEach((k, v) -> {
            if (!KEY_DIGEST.equals(k)) {
                b.append(k).append('=').append(v).append('\n');
            }
        });
        for (Row r : rows) {
            b.append(r).append('\n');
        }
        return ChunkHash.hex(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static Map<String, String> withoutDigest(Map<String, String> meta) {
        Map<String, String> m = new java.util.TreeMap<>(meta);
        m.remove(KEY_DIGEST);
        return sortedLikeWrite(m);
    }

    /** The digest covers metadata in the order write() puts it; a reader may see another order. */
    private static Map<String, String> sortedLikeWrite(Map<String, String> m) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : new String[] {KEY_VERSION, KEY_KIND, KEY_RUN, KEY_STEP, KEY_WORLD, KEY_RANK, KEY_CREATED, KEY_CHUNK}) {
            if (m.containsKey(k)) {
                out.put(k, m.get(k));
            }
        }
        m.forEach(out::putIfAbsent);
        return out;
    }

    private static List<Field> fields() {
        List<Field> f = new ArrayList<>();
        for (String s : new String[] {"entry", "kind", "dtype", "shape"}) {
            f.add(new Field(s, FieldType.notNullable(ArrowType.Utf8.INSTANCE), null));
        }
        f.add(new Field("entry_bytes", FieldType.notNullable(new ArrowType.Int(64, true)), null));
        f.add(new Field("rank", FieldType.notNullable(new ArrowType.Int(32, true)), null));
        f.add(new Field("chunk", FieldType.notNullable(new ArrowType.Int(32, true)), null));
        f.add(new Field("offset", FieldType.notNullable(new ArrowType.Int(64, true)), null));
        f.add(new Field("raw_length", FieldType.notNullable(new ArrowType.Int(64, true)), null));
        f.add(new Field("hash", FieldType.notNullable(ArrowType.Utf8.INSTANCE), null));
        f.add(new Field("codec", FieldType.notNullable(ArrowType.Utf8.INSTANCE), null));
        f.add(new Field("stored_length", FieldType.notNullable(new ArrowType.Int(64, true)), null));
        return f;
    }

    private static void setString(VectorSchemaRoot root, String name, int i, String value) {
        ((VarCharVector) root.getVector(name)).setSafe(i, value.getBytes(StandardCharsets.UTF_8));
    }

    private static String str(VectorSchemaRoot root, String name, int i) {
        VarCharVector v = (VarCharVector) vector(root, name, VarCharVector.class);
        if (v.isNull(i)) {
            throw new IllegalStateException("null in column " + name);
        }
        return new String(v.get(i), StandardCharsets.UTF_8);
    }

    private static long lng(VectorSchemaRoot root, String name, int i) {
        BigIntVector v = (BigIntVector) vector(root, name, BigIntVector.class);
        if (v.isNull(i)) {
            throw new IllegalStateException("null in column " + name);
        }
        return v.get(i);
    }

    private static int integer(VectorSchemaRoot root, String name, int i) {
        IntVector v = (IntVector) vector(root, name, IntVector.class);
        if (v.isNull(i)) {
            throw new IllegalStateException("null in column " + name);
        }
        return v.get(i);
    }

    private static Object vector(VectorSchemaRoot root, String name, Class<?> type) {
        Object v = root.getVector(name);
        if (!type.isInstance(v)) {
            throw new IllegalStateException("column " + name + " is missing or of the wrong type");
        }
        return v;
    }

    private static String required(Map<String, String> meta, String k, String key) {
        String v = meta.get(k);
        if (v == null) {
            throw corrupt(key, "has no " + k);
        }
        return v;
    }

    private static long parseLong(Map<String, String> meta, String k, String key) {
        try {
            return Long.parseLong(required(meta, k, key));
        } catch (NumberFormatException e) {
            throw corrupt(key, "has a malformed " + k + " '" + meta.get(k) + "'");
        }
    }

    private static CheckpointException corrupt(String key, String problem) {
        return new CheckpointException(Reason.CORRUPT, "manifest " + key + " " + problem);
    }

    private record Row(String entry, String kind, String dtype, String shape, long entryBytes, int rank, int chunk, long offset,
                       long rawLength, String hash, String codec, long storedLength) {
    }
}
