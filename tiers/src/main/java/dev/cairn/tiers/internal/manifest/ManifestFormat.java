package dev.cairn.tiers.internal.manifest;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.Tensor;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
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
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.ArrowFileReader;
import org.apache.arrow.vector.ipc.ArrowFileWriter;
import org.apache.arrow.vector.ipc.SeekableReadChannel;
import org.apache.arrow.vector.ipc.message.ArrowBlock;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;
import org.apache.arrow.vector.util.ByteArrayReadableSeekableByteChannel;

/**
 * The manifest and index format: one Apache Arrow IPC file (readable by pyarrow, DuckDB, arrow-js).
 * <pre>
 * schema metadata (strings)                     one row per chunk of each entry of each rank
 * +------------------------------+              +-------+--------+-------+-------+-------------+------+
 * | cairn.format_version  "3"    |              | entry | kind   | dtype | shape | entry_bytes | rank |
 * | cairn.kind  manifest|index   |              +-------+--------+-------+-------+-------------+------+
 * | cairn.run, cairn.step        |              | chunk | offset | raw_length | hash | codec | stored_length |
 * | cairn.world_size, cairn.rank |              +-------+--------+------------+------+-------+---------------+
 * | cairn.created_at (ISO-8601)  |   version 2: | global_shape | shard_offset | bases | error_bound (f64) |
 * | cairn.chunk_bytes            |              +--------------+--------------+-------+-------------------+
 * | cairn.hash  (version 3)      |
 * | cairn.rows  (version 4)      |   version 4, a MANIFEST with cairn.rows "indexes": per entry and rank one row
 * | cairn.chunk_count, (when     |   with chunk -1 and no chunk values (its rows are in that rank's index), then
 * | cairn.stored_bytes  indexes) |   one row per rank of kind "index": entry "rank-<r>.index", rank r,
 * | cairn.rows_digest (128 bit)  |   entry_bytes its length, hash its SHA-256 (hex), codec "sha-256"
 * +------------------------------+
 * version 5, a MANIFEST of several ranks (cairn.rows "pages", also cairn.entry_count, cairn.raw_bytes, cairn.pages_id
 * and cairn.pages: pages per level, level 1 first) and each page of its directory (cairn.kind "page", cairn.page its
 * name "MANIFEST.<id>.<level>.<k>"): directory rows only ({@link PageRow}), one per child and entry name:
 *   entry, kind, dtype, global_shape   the entry's
 *   shard_offset, shape                low corner and lengths of the box of its slices under the child ("" for blobs)
 *   entry_bytes                        bytes of its slices under the child
 *   rank, chunk                        lowest and highest rank under the child holding it
 *   offset, raw_length                 the child: 0 and r for rank r's index, l and k for page k of level l
 *   stored_length, hash, codec         the child's length, SHA-256 (hex) and "sha-256"
 * A row naming an index is exactly that rank's entry; the MANIFEST's rows are of the level its cairn.pages counts.
 * </pre>
 * kind: "tensor" | "blob" (global) | "rank-blob" (per rank, version 2); dtype "" and the shapes "" for blobs;
 * shape: the shape of the bytes this rank holds, "[d0,d1,...]" ("[]" for a scalar); global_shape and shard_offset
 * place that slice in the global tensor; chunk: 0.. in order, or -1 in the single row of an entry with no bytes;
 * bases: content hashes a differential chunk depends on, nearest first, comma-separated ("" when stored whole);
 * error_bound: 0 for lossless chunks, else the largest relative error the lossy codec allowed;
 * hash: the content hash of every chunk hash, base and the rows digest: "xxh3-128" ({@link ContentHash}); a manifest of
 * version 1 or 2 has no such key and is MurmurHash3 x64 128 throughout.
 * A rank's index holds its own rows. A MANIFEST of one rank, and every MANIFEST up to version 3, holds the rows of
 * every rank inline (its {@code rank} column says whose); from version 4 a MANIFEST of several ranks holds instead one
 * row per entry and rank and a reference to each rank's index ({@code cairn.rows} "indexes", {@link IndexedRows}),
 * which binds the exact bytes of that index: a rank restoring reads the MANIFEST and only the indexes whose slices it
 * needs ({@link CommittedManifest}), so what it reads grows with its own slices, not with the world.
 * {@code rows_digest} is the content hash of the rows in a canonical text form, so a manifest whose values were
 * garbled, yet still parse as Arrow, is rejected. A reader refuses a {@code format_version} above
 * {@link #FORMAT_VERSION}.
 *
 * From version 5 a MANIFEST of several ranks holds not even a row per entry and rank, which every restoring rank
 * would read (tensors x ranks rows): those rows, each with its index's reference, go into pages of a directory
 * ({@link PageTree}), and a rank reads the MANIFEST and, level by level, only the pages whose rows may hold its slices.
 *
 * <p>Version rule: the version goes up when a reader of the previous version could misread a manifest of the new
 * one (a new column or metadata key that changes what a row means, or a changed meaning of an existing value), and
 * every release keeps reading all older versions. Version 5 moved a multi-rank MANIFEST's entry rows into the pages of
 * its directory and gave the columns of its rows new meanings ({@code cairn.rows} "pages"). Version 4 moved a multi-rank MANIFEST's chunk rows into the rank
 * indexes it references and names where the rows are in {@code cairn.rows}: a version-3 reader would find no chunk
 * for any entry. Version 3 changed the content hash from MurmurHash3 to XXH3-128
 * and names it in {@code cairn.hash}: a version-2 reader would check every chunk with the wrong hash and call the
 * whole checkpoint corrupt. Version 2 added sharding (a version-1 reader would take a slice
 * for the whole tensor), differential chunks (it would not keep their bases) and lossy chunks. Version-1 manifests
 * have none of the four columns and read as unsharded, whole, lossless chunks; their digest is computed over the
 * version-1 columns only. New values in the {@code codec} column did not bump the version: a reader refuses a chunk
 * whose codec it does not know with a clear "unknown codec" error rather than misreading it. Likewise a later hash in
 * {@code cairn.hash} of version 3 need not bump the version: a reader refuses a hash it does not know as
 * UNSUPPORTED_VERSION before it reads a row.
 */
public final class ManifestFormat {
    public static final int FORMAT_VERSION = 5;
    /** The first version that names its content hash ({@code cairn.hash}); older ones are MurmurHash3. */
    public static final int FIRST_WITH_HASH_NAMED = 3;
    /** The first version whose MANIFEST of several ranks keeps its chunk rows in the rank indexes ({@link IndexedRows}). */
    public static final int FIRST_WITH_INDEXED_ROWS = 4;
    /** The first version whose MANIFEST of several ranks keeps its entries under pages ({@link Pages}). */
    public static final int FIRST_WITH_PAGES = 5;
    /**
     * Manifests and indexes above this size are refused before they are read ({@link #load}: the store's stated size
     * is checked first): a hostile file must not exhaust memory, nor cost a download of gigabytes.
     */
    public static final long MAX_BYTES = 256L << 20;
    static final String KEY_VERSION = "cairn.format_version";
    static final String KEY_KIND = "cairn.kind";
    static final String KEY_RUN = "cairn.run";
    static final String KEY_STEP = "cairn.step";
    static final String KEY_WORLD = "cairn.world_size";
    static final String KEY_RANK = "cairn.rank";
    static final String KEY_CREATED = "cairn.created_at";
    static final String KEY_CHUNK = "cairn.chunk_bytes";
    static final String KEY_HASH = "cairn.hash";
    static final String KEY_DIGEST = "cairn.rows_digest";
    static final String KEY_ROWS = "cairn.rows";
    static final String KEY_CHUNK_COUNT = "cairn.chunk_count";
    static final String KEY_STORED = "cairn.stored_bytes";
    static final String KEY_ENTRY_COUNT = "cairn.entry_count";
    static final String KEY_RAW = "cairn.raw_bytes";
    static final String KEY_PAGES = "cairn.pages";
    static final String KEY_PAGES_ID = "cairn.pages_id";
    static final String KEY_PAGE = "cairn.page";
    /** {@code cairn.rows}: the entries and index references are in pages under this MANIFEST (format 5). */
    static final String ROWS_IN_PAGES = "pages";
    /** {@code cairn.kind} of a page of a MANIFEST's directory. */
    static final String KIND_PAGE = "page";
    /** {@code cairn.rows}: the chunk rows are in this file. */
    static final String ROWS_INLINE = "inline";
    /** {@code cairn.rows}: the chunk rows are in the rank indexes this MANIFEST references. */
    static final String ROWS_IN_INDEXES = "indexes";
    /** The kind of a row that references a rank index. */
    static final String KIND_INDEX = "index";

    private static final String[] STRINGS = {"entry", "kind", "dtype", "shape", "hash", "codec"};
    private static final String[] LONGS = {"entry_bytes", "offset", "raw_length", "stored_length"};
    private static final String[] INTS = {"rank", "chunk"};

    private ManifestFormat() {
    }

    /** The content hash a save in format {@code version} keys its chunks by. */
    public static ContentHash hashOfNewSaves(int version) {
        return version < FIRST_WITH_HASH_NAMED ? ContentHash.MURMUR3_128 : ContentHash.XXH3_128;
    }

    /**
     * The bytes of {@code m} as an Arrow IPC file; {@code kind} is "manifest" or "index". A MANIFEST whose rows are in
     * the rank indexes ({@link Manifest#rowsInIndexes}) is written as such: an entry row per entry and the references;
     * as an index, its rows are written inline (which needs them all: {@link Manifest#complete}).
     */
    public static byte[] write(Manifest m, String kind, BufferAllocator allocator) {
        if (m.paged() && "manifest".equals(kind)) {
            throw new IllegalArgumentException("step " + m.step() + " keeps its directory in pages: PageTree writes it");
        }
        boolean referencing = m.rowsInIndexes() && "manifest".equals(kind);
        if (!referencing && !m.complete()) {
            throw new IllegalArgumentException("step " + m.step() + " cannot be written with its rows inline: its rank"
                    + " indexes were not read");
        }
        List<Row> rows = referencing ? referenceRowsOf(m) : rowsOf(m);
        return encode(List.of(metaOf(m, kind, referencing)), rows, m.formatVersion(), m.contentHash(), m.step(),
                allocator)[0];
    }

    /**
     * The rank index and the MANIFEST of a step one rank saved, {@code {index, manifest}}, each byte for byte what
     * {@link #write} gives for its kind: both hold the same rows inline and differ only in {@code cairn.kind}, so
     * the rows are filled into Arrow vectors once and written twice, and their canonical text made once for both
     * digests (a save into memory every step commits both every step). A manifest of several ranks is written as
     * {@link #write} does, twice.
     */
    public static byte[][] writeIndexAndManifest(Manifest m, BufferAllocator allocator) {
        if (m.rowsInIndexes() || m.paged() || !m.complete()) {
            return new byte[][] {write(m, "index", allocator), write(m, "manifest", allocator)};
        }
        return encode(List.of(metaOf(m, "index", false), metaOf(m, "manifest", false)), rowsOf(m), m.formatVersion(),
                m.contentHash(), m.step(), allocator);
    }

    /** The schema metadata {@link #write} gives a file of {@code kind}, without its rows digest. */
    private static Map<String, String> metaOf(Manifest m, String kind, boolean referencing) {
        int version = m.formatVersion();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(KEY_VERSION, Integer.toString(m.formatVersion()));
        meta.put(KEY_KIND, kind);
        meta.put(KEY_RUN, m.run());
        meta.put(KEY_STEP, Long.toString(m.step()));
        meta.put(KEY_WORLD, Integer.toString(m.worldSize()));
        meta.put(KEY_RANK, Integer.toString(m.rank()));
        meta.put(KEY_CREATED, m.createdAt().toString());
        meta.put(KEY_CHUNK, Integer.toString(m.chunkBytes()));
        if (version >= FIRST_WITH_HASH_NAMED) {
            meta.put(KEY_HASH, m.contentHash().tag());
        }
        if (version >= FIRST_WITH_INDEXED_ROWS) {
            meta.put(KEY_ROWS, referencing ? ROWS_IN_INDEXES : ROWS_INLINE);
            if (referencing) {
                meta.put(KEY_CHUNK_COUNT, Long.toString(m.chunkCount()));
                meta.put(KEY_STORED, Long.toString(m.storedBytes()));
            }
        }
        return meta;
    }

    /**
     * The bytes of a file of a format-5 directory ({@link Pages}): the MANIFEST of {@code m}'s step holding
     * {@code rows} when {@code page} is null (then {@code pages} is the whole directory), else that page of it,
     * {@code "<level>.<number>"}.
     */
    static byte[] writeDirectory(Manifest m, List<PageRow> rows, Pages pages, String page, BufferAllocator allocator) {
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(KEY_VERSION, Integer.toString(m.formatVersion()));
        meta.put(KEY_KIND, page == null ? "manifest" : KIND_PAGE);
        meta.put(KEY_RUN, m.run());
        meta.put(KEY_STEP, Long.toString(m.step()));
        meta.put(KEY_WORLD, Integer.toString(m.worldSize()));
        meta.put(KEY_RANK, Integer.toString(m.rank()));
        meta.put(KEY_CREATED, m.createdAt().toString());
        meta.put(KEY_CHUNK, Integer.toString(m.chunkBytes()));
        meta.put(KEY_HASH, m.contentHash().tag());
        meta.put(KEY_ROWS, ROWS_IN_PAGES);
        if (page == null) {
            meta.put(KEY_CHUNK_COUNT, Long.toString(m.chunkCount()));
            meta.put(KEY_STORED, Long.toString(m.storedBytes()));
            meta.put(KEY_ENTRY_COUNT, Long.toString(pages.entryCount()));
            meta.put(KEY_RAW, Long.toString(pages.rawBytes()));
            meta.put(KEY_PAGES_ID, pages.id());
            meta.put(KEY_PAGES, String.join(",", pages.pagesPerLevel().stream().map(String::valueOf).toList()));
        } else {
            meta.put(KEY_PAGE, page);
        }
        List<Row> out = new ArrayList<>(rows.size());
        for (PageRow r : rows) {
            out.add(rowOf(r));
        }
        return encode(List.of(meta), out, m.formatVersion(), m.contentHash(), m.step(), allocator)[0];
    }

    private static Row rowOf(PageRow r) {
        boolean t = r.tensor();
        return new Row(r.name(), r.kind(), t ? r.dtype().tag() : "", t ? formatShape(r.extent()) : "", r.bytes(), r.firstRank(),
                r.lastRank(), r.level(), r.number(), r.digest(), IndexRef.DIGEST, r.length(), t ? formatShape(r.globalShape()) : "",
                t ? formatShape(r.low()) : "", "", 0);
    }

    /**
     * Rows of a file up to which their canonical text is made once and kept for its digests (a few hundred bytes a
     * row); above it, each digest makes it again as it streams ({@link RowsDigest}), never holding it whole.
     */
    static final int CANONICAL_ROWS_KEPT = 4096;
    /** Bytes a string value of a row is assumed to take when the vectors are sized (a hash is 32). */
    private static final double STRING_DENSITY = 32;

    /**
     * {@code rows} as one Arrow IPC file per entry of {@code metas} (to each of which its rows digest is added): the
     * vectors are filled once, sized for the rows (Arrow's default would allocate and zero room for about 4,000 rows
     * in each of the sixteen columns), and written under each metadata in turn.
     */
    private static byte[][] encode(List<Map<String, String>> metas, List<Row> rows, int version, ContentHash hash, long step,
                                   BufferAllocator allocator) {
        String[] canonical = null;
        if (rows.size() <= CANONICAL_ROWS_KEPT) {
            canonical = new String[rows.size()];
            for (int i = 0; i < canonical.length; i++) {
                canonical[i] = rows.get(i).canonical(version);
            }
        }
        List<Field> fields = fields(version);
        byte[][] files = new byte[metas.size()][];
        try (VectorSchemaRoot root = VectorSchemaRoot.create(new Schema(fields), allocator)) {
            int capacity = Math.max(1, rows.size());
            for (org.apache.arrow.vector.FieldVector v : root.getFieldVectors()) {
                if (v instanceof org.apache.arrow.vector.BaseVariableWidthVector w) {
                    w.setInitialCapacity(capacity, STRING_DENSITY);
                } else {
                    v.setInitialCapacity(capacity);
                }
            }
            root.allocateNew();
            fill(root, rows, version);
            root.setRowCount(rows.size());
            for (int k = 0; k < metas.size(); k++) {
                Map<String, String> meta = metas.get(k);
                meta.put(KEY_DIGEST, digest(meta, rows, version, hash, canonical));
                // The same vectors under this file's schema; closed with root, not here.
                VectorSchemaRoot file = new VectorSchemaRoot(new Schema(fields, meta), root.getFieldVectors(), rows.size());
                ByteArrayOutputStream out = new ByteArrayOutputStream(256 + rows.size() * 128);
                try (ArrowFileWriter writer = new ArrowFileWriter(file, null, Channels.newChannel(out))) {
                    writer.start();
                    writer.writeBatch();
                    writer.end();
                }
                files[k] = out.toByteArray();
            }
        } catch (java.io.IOException e) {
            throw new CheckpointException(Reason.STORAGE, "cannot encode manifest of step " + step, e);
        }
        return files;
    }

    /** Fills the vectors of {@code root} (columns of format {@code version}) with {@code rows}. */
    private static void fill(VectorSchemaRoot root, List<Row> rows, int version) {
        VarCharVector entry = varChar(root, "entry");
        VarCharVector kind = varChar(root, "kind");
        VarCharVector dtype = varChar(root, "dtype");
        VarCharVector shape = varChar(root, "shape");
        VarCharVector hash = varChar(root, "hash");
        VarCharVector codec = varChar(root, "codec");
        BigIntVector entryBytes = (BigIntVector) root.getVector("entry_bytes");
        BigIntVector offset = (BigIntVector) root.getVector("offset");
        BigIntVector rawLength = (BigIntVector) root.getVector("raw_length");
        BigIntVector storedLength = (BigIntVector) root.getVector("stored_length");
        IntVector rank = (IntVector) root.getVector("rank");
        IntVector chunk = (IntVector) root.getVector("chunk");
        VarCharVector globalShape = version >= 2 ? varChar(root, "global_shape") : null;
        VarCharVector shardOffset = version >= 2 ? varChar(root, "shard_offset") : null;
        VarCharVector bases = version >= 2 ? varChar(root, "bases") : null;
        Float8Vector errorBound = version >= 2 ? (Float8Vector) root.getVector("error_bound") : null;
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            setString(entry, i, r.entry);
            setString(kind, i, r.kind);
            setString(dtype, i, r.dtype);
            setString(shape, i, r.shape);
            setString(hash, i, r.hash);
            setString(codec, i, r.codec);
            entryBytes.setSafe(i, r.entryBytes);
            offset.setSafe(i, r.offset);
            rawLength.setSafe(i, r.rawLength);
            storedLength.setSafe(i, r.storedLength);
            rank.setSafe(i, r.rank);
            chunk.setSafe(i, r.chunk);
            if (version >= 2) {
                setString(globalShape, i, r.globalShape);
                setString(shardOffset, i, r.shardOffset);
                setString(bases, i, r.bases);
                errorBound.setSafe(i, r.errorBound);
            }
        }
    }

    /**
     * Reads the manifest or index at {@code key} of {@code store} and parses it ({@link #read}); {@code label} names it
     * in errors. Its size is asked first and one above {@link #MAX_BYTES} is refused before a byte of it is read.
     */
    public static Manifest load(ObjectStore store, String key, String label, BufferAllocator allocator) throws IOException {
        return read(readBytes(store, key, label), label, allocator);
    }

    /**
     * The bytes of the manifest or index at {@code key}, in a heap buffer, without parsing them: CORRUPT, before
     * anything is read, when the store says the object is larger than {@link #MAX_BYTES}; a read never goes past
     * the size the store stated, whatever the object holds by then.
     */
    public static ByteBuffer readBytes(ObjectStore store, String key, String label) throws IOException {
        try {
            return store.readAll(key, MAX_BYTES); // a stat and reads, or one call where the store answers it so (peers)
        } catch (dev.cairn.ObjectTooLargeException e) {
            String size = e.atLeast() > MAX_BYTES + 1 ? e.atLeast() + " bytes" : "more than " + MAX_BYTES + " bytes";
            throw corrupt(label, "is " + size + ", above the limit of " + MAX_BYTES + " for a manifest or index:"
                    + " refused without reading it");
        }
    }

    /**
     * Parses and checks a manifest or index read from {@code key}. Anything malformed is CORRUPT naming the key and,
     * for a value out of range, the field; a newer format, or a content hash this release does not know, is
     * UNSUPPORTED_VERSION.
     */
    public static Manifest read(ByteBuffer bytes, String key, BufferAllocator allocator) {
        Parsed p = parse(bytes, key, allocator);
        if (KIND_PAGE.equals(p.meta.get(KEY_KIND))) {
            throw corrupt(key, "is a page of a MANIFEST's directory, not a manifest or index");
        }
        return toManifest(p.meta, p.rows, key, p.hash);
    }

    /** A file's metadata and rows, its digest checked. */
    private record Parsed(Map<String, String> meta, List<Row> rows, int version, ContentHash hash) {
    }

    private static Parsed parse(ByteBuffer bytes, String key, BufferAllocator allocator) {
        if (bytes.remaining() > MAX_BYTES) {
            throw corrupt(key, "is " + bytes.remaining() + " bytes, above the limit of " + MAX_BYTES);
        }
        byte[] array;
        if (bytes.hasArray() && bytes.arrayOffset() == 0 && bytes.position() == 0 && bytes.limit() == bytes.array().length) {
            array = bytes.array(); // read-only use: the Arrow reader only reads it
        } else {
            array = new byte[bytes.remaining()];
            bytes.duplicate().get(array);
        }
        Map<String, String> meta;
        List<Row> rows = new ArrayList<>();
        int version;
        ContentHash hash;
        try (ArrowFileReader reader = new ArrowFileReader(new SeekableReadChannel(new ByteArrayReadableSeekableByteChannel(array)), allocator)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            meta = root.getSchema().getCustomMetadata();
            version = checkVersion(meta, key);
            hash = contentHashOf(meta, version, key);
            Row previous = null;
            for (ArrowBlock block : reader.getRecordBlocks()) {
                if (!reader.loadRecordBatch(block)) {
                    break;
                }
                for (int i = 0; i < root.getRowCount(); i++) {
                    String shape = str(root, "shape", i);
                    boolean v2 = version >= 2;
                    String kind = str(root, "kind", i);
                    Row r = new Row(str(root, "entry", i), kind, str(root, "dtype", i), shape,
                            lng(root, "entry_bytes", i), integer(root, "rank", i), integer(root, "chunk", i), lng(root, "offset", i),
                            lng(root, "raw_length", i), str(root, "hash", i), str(root, "codec", i), lng(root, "stored_length", i),
                            v2 ? str(root, "global_shape", i) : shape, v2 ? str(root, "shard_offset", i) : zeros(kind, shape),
                            v2 ? str(root, "bases", i) : "", v2 ? dbl(root, "error_bound", i) : 0);
                    previous = previous == null ? r : r.sharing(previous);
                    rows.add(previous);
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
        String expected = digest(withoutDigest(meta), rows, version, hash);
        if (!expected.equals(meta.get(KEY_DIGEST))) {
            throw corrupt(key, "fails its rows digest: contents were altered or garbled");
        }
        return new Parsed(meta, rows, version, hash);
    }

    /**
     * Parses and checks page {@code level}.{@code number} of {@code global}'s directory, read from {@code key}: it must
     * be that page of that run, step, world and content hash, and hold rows of the level below its own. CORRUPT
     * otherwise, naming {@code key}.
     */
    public static List<PageRow> readPage(ByteBuffer bytes, String key, Manifest global, int level, int number,
                                         BufferAllocator allocator) {
        Parsed p = parse(bytes, key, allocator);
        Map<String, String> meta = p.meta;
        String page = dev.cairn.tiers.internal.layout.StoreLayout.pageName(global.indexed().pages().id(), level, number);
        if (!KIND_PAGE.equals(meta.get(KEY_KIND)) || !page.equals(meta.get(KEY_PAGE)) || p.version != global.formatVersion()
                || !global.run().equals(meta.get(KEY_RUN)) || !Long.toString(global.step()).equals(meta.get(KEY_STEP))
                || !Integer.toString(global.worldSize()).equals(meta.get(KEY_WORLD)) || p.hash != global.contentHash()
                || !ROWS_IN_PAGES.equals(meta.get(KEY_ROWS))) {
            throw corrupt(key, "is not page " + page + " of the MANIFEST of run " + global.run() + " step " + global.step()
                    + " of " + global.worldSize() + " ranks (it says " + meta.get(KEY_KIND) + " " + meta.get(KEY_PAGE) + " of run "
                    + meta.get(KEY_RUN) + " step " + meta.get(KEY_STEP) + " of " + meta.get(KEY_WORLD) + ")");
        }
        List<PageRow> rows = pageRows(p.rows, key, global.worldSize(), global.chunkBytes());
        for (PageRow r : rows) {
            if (r.level() != level - 1) {
                throw corrupt(key, "row of '" + r.name() + "' names level " + r.level() + " in a page of level " + level);
            }
        }
        if (rows.isEmpty()) {
            throw corrupt(key, "holds no row");
        }
        return rows;
    }

    /** The rows of a directory file, each checked on its own. */
    private static List<PageRow> pageRows(List<Row> rows, String key, int world, int chunkBytes) {
        List<PageRow> out = new ArrayList<>(rows.size());
        for (Row r : rows) {
            if (!IndexRef.DIGEST.equals(r.codec) || !r.bases.isEmpty() || r.errorBound != 0 || r.rank < 0 || r.chunk < r.rank
                    || r.chunk >= world || r.offset < 0 || r.offset > 64 || r.rawLength < 0 || r.rawLength > Integer.MAX_VALUE
                    || (r.offset == 0 && (r.rank != r.chunk || r.rawLength != r.rank))) {
                throw corrupt(key, "directory row of '" + r.entry + "' is malformed (ranks " + r.rank + ".." + r.chunk
                        + ", child " + r.offset + "." + r.rawLength + ")");
            }
            EntryRecord e;
            if (PageRow.TENSOR.equals(r.kind) && r.offset > 0) {
                // A summary: its box need not be a slice's, nor its bytes those of one; checked as a slice of its size.
                e = toEntry(new Row(r.entry, r.kind, r.dtype, r.shape, r.entryBytes, r.rank, -1, 0, 0, "", "", 0, r.globalShape,
                        r.shardOffset, "", 0), List.of(), key, false);
            } else {
                e = toEntry(r, List.of(), key, true);
            }
            try {
                out.add(new PageRow(r.entry, r.kind, e.dtype(), e.globalShape(), e.tensor() ? e.shardOffsets() : null,
                        e.tensor() ? e.shape() : null, r.entryBytes, r.rank, r.chunk, (int) r.offset, (int) r.rawLength,
                        r.storedLength, r.hash));
            } catch (IllegalArgumentException bad) {
                throw corrupt(key, "directory row of '" + r.entry + "' is malformed: " + bad.getMessage());
            }
        }
        return out;
    }

    /** The content hash of a manifest of {@code version}: named from version 3, MurmurHash3 before. */
    private static ContentHash contentHashOf(Map<String, String> meta, int version, String key) {
        String tag = meta.get(KEY_HASH);
        if (version < FIRST_WITH_HASH_NAMED) {
            if (tag != null && !ContentHash.MURMUR3_128.tag().equals(tag)) {
                throw corrupt(key, "of format version " + version + " names content hash '" + tag + "', which that format never used");
            }
            return ContentHash.MURMUR3_128;
        }
        if (tag == null) {
            throw corrupt(key, "has no " + KEY_HASH);
        }
        return ContentHash.fromTag(tag).orElseThrow(() -> new CheckpointException(Reason.UNSUPPORTED_VERSION, key
                + " keys its chunks by content hash '" + tag + "', which this Cairn does not know: upgrade Cairn to restore it"));
    }

    private static int checkVersion(Map<String, String> meta, String key) {
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
        return v;
    }

    private static Manifest toManifest(Map<String, String> meta, List<Row> rows, String key, ContentHash hash) {
        String run = required(meta, KEY_RUN, key);
        long step = inRange(meta, KEY_STEP, 0, Long.MAX_VALUE, key);
        int world = (int) inRange(meta, KEY_WORLD, 1, Integer.MAX_VALUE, key);
        int rank = (int) inRange(meta, KEY_RANK, 0, world - 1L, key);
        int chunkBytes = (int) inRange(meta, KEY_CHUNK, 1, CairnConfig.MAX_CHUNK_BYTES, key);
        Instant created;
        try {
            created = Instant.parse(required(meta, KEY_CREATED, key));
        } catch (java.time.format.DateTimeParseException e) {
            throw corrupt(key, "has a malformed " + KEY_CREATED);
        }
        int version = Integer.parseInt(meta.get(KEY_VERSION));
        if (version >= FIRST_WITH_INDEXED_ROWS) {
            String where = required(meta, KEY_ROWS, key);
            if (ROWS_IN_PAGES.equals(where) && version >= FIRST_WITH_PAGES) {
                if (!"manifest".equals(meta.get(KEY_KIND)) || world < 2) {
                    throw corrupt(key, "keeps its entries in pages, which only a MANIFEST of several ranks does");
                }
                return toPagedManifest(meta, rows, key, hash, run, step, world, rank, created, chunkBytes);
            }
            if (ROWS_IN_INDEXES.equals(where) && version < FIRST_WITH_PAGES) {
                if (!"manifest".equals(meta.get(KEY_KIND)) || world < 2) {
                    throw corrupt(key, "keeps its rows in rank indexes, which only a MANIFEST of several ranks does");
                }
                return toManifestOfIndexedRows(meta, rows, key, hash, run, step, world, rank, created, chunkBytes);
            }
            if (!ROWS_INLINE.equals(where)) {
                throw corrupt(key, "has an unknown " + KEY_ROWS + " '" + where + "'");
            }
        }
        // What one chunk may hold, raw and stored: a reader sizes its buffers by these, so a store cannot make it
        // reserve more than the configured chunk size allows.
        long maxStored = maxStoredBytes(chunkBytes);
        List<EntryRecord> entries = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        int i = 0;
        while (i < rows.size()) {
            Row first = rows.get(i);
            // A rank's entry is one run of rows: the same name again (rows elsewhere) would be read as the first.
            if (!seen.add(first.rank + "/" + first.entry)) {
                throw corrupt(key, "holds entry '" + first.entry + "' of rank " + first.rank + " twice");
            }
            List<ChunkRef> chunks = new ArrayList<>();
            long covered = 0;
            int j = i;
            checkRange(key, first, first, "entry_bytes", first.entryBytes, 0, Long.MAX_VALUE);
            for (; j < rows.size() && rows.get(j).entry.equals(first.entry) && rows.get(j).rank == first.rank; j++) {
                Row r = rows.get(j);
                if (r.chunk == -1) {
                    if (j != i || first.entryBytes != 0) {
                        throw corrupt(key, "entry '" + first.entry + "' has a misplaced empty-entry row");
                    }
                    continue;
                }
                checkRange(key, first, r, "rank", r.rank, 0, world - 1L);
                checkRange(key, first, r, "raw_length", r.rawLength, 1, chunkBytes);
                checkRange(key, first, r, "stored_length", r.storedLength, 1, maxStored);
                checkRange(key, first, r, "offset", r.offset, 0, Long.MAX_VALUE - chunkBytes);
                List<String> bases = r.bases.isEmpty() ? List.of() : List.of(r.bases.split(","));
                if (r.chunk != chunks.size() || r.offset != covered || r.rawLength <= 0 || r.storedLength <= 0
                        || !ContentHash.isHex(r.hash) || r.entryBytes != first.entryBytes || !r.kind.equals(first.kind)
                        || !r.shape.equals(first.shape) || !r.globalShape.equals(first.globalShape)
                        || !r.shardOffset.equals(first.shardOffset) || bases.stream().anyMatch(b -> !ContentHash.isHex(b))
                        || !(r.errorBound >= 0 && r.errorBound < 1)) {
                    throw corrupt(key, "entry '" + first.entry + "' chunk row " + r.chunk + " is inconsistent");
                }
                chunks.add(new ChunkRef(r.offset, r.rawLength, r.hash, r.codec, r.storedLength, bases, r.errorBound, hash));
                covered += r.rawLength; // cannot wrap: each is at most chunkBytes and starts where the last ended
            }
            if (covered != first.entryBytes) {
                throw corrupt(key, "entry '" + first.entry + "' chunks cover " + covered + " of " + first.entryBytes + " bytes");
            }
            entries.add(toEntry(first, chunks, key));
            i = j;
        }
        return new Manifest(version, hash, run, step, world, rank, created, chunkBytes, entries);
    }

    /**
     * A MANIFEST whose chunk rows are in the rank indexes: an entry row per entry and rank naming no chunk, then one
     * reference per rank, in rank order. Its entries come back without chunks ({@link IndexedRows#resolved} false).
     */
    private static Manifest toManifestOfIndexedRows(Map<String, String> meta, List<Row> rows, String key, ContentHash hash,
                                                    String run, long step, int world, int rank, Instant created,
                                                    int chunkBytes) {
        long chunkCount = inRange(meta, KEY_CHUNK_COUNT, 0, Long.MAX_VALUE, key);
        long stored = inRange(meta, KEY_STORED, 0, Long.MAX_VALUE, key);
        List<EntryRecord> entries = new ArrayList<>();
        List<IndexRef> indexes = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Row r : rows) {
            if (KIND_INDEX.equals(r.kind)) {
                if (r.rank != indexes.size() || r.rank >= world || !r.entry.equals(dev.cairn.tiers.internal.layout.StoreLayout.indexName(r.rank))
                        || !IndexRef.DIGEST.equals(r.codec) || !IndexRef.isDigest(r.hash) || r.entryBytes < 1
                        || r.entryBytes > MAX_BYTES || r.chunk != -1) {
                    throw corrupt(key, "index reference row '" + r.entry + "' of rank " + r.rank + " is malformed or out of"
                            + " rank order");
                }
                indexes.add(new IndexRef(r.rank, r.entryBytes, r.hash));
                continue;
            }
            if (!indexes.isEmpty()) {
                throw corrupt(key, "entry '" + r.entry + "' follows the index references");
            }
            if (r.chunk != -1 || r.offset != 0 || r.rawLength != 0 || !r.hash.isEmpty() || !r.codec.isEmpty()
                    || r.storedLength != 0 || !r.bases.isEmpty() || r.errorBound != 0) {
                throw corrupt(key, "entry '" + r.entry + "' names a chunk, but this MANIFEST keeps its chunk rows in the"
                        + " rank indexes");
            }
            checkRange(key, r, r, "entry_bytes", r.entryBytes, 0, Long.MAX_VALUE);
            checkRange(key, r, r, "rank", r.rank, 0, world - 1L);
            if (!seen.add(r.rank + "/" + r.entry)) {
                throw corrupt(key, "holds entry '" + r.entry + "' of rank " + r.rank + " twice");
            }
            entries.add(toEntry(r, List.of(), key));
        }
        if (indexes.size() != world) {
            throw corrupt(key, "references " + indexes.size() + " rank indexes for a world of " + world + " ranks");
        }
        return new Manifest(Integer.parseInt(meta.get(KEY_VERSION)), hash, run, step, world, rank, created, chunkBytes, entries,
                new IndexedRows(indexes, chunkCount, stored, false));
    }

    /**
     * A MANIFEST whose directory is in pages: its own rows, of the level its {@code cairn.pages} says, and its totals.
     * Its entries are empty and no index reference is known until pages are read ({@link CommittedManifest#select}).
     */
    private static Manifest toPagedManifest(Map<String, String> meta, List<Row> rows, String key, ContentHash hash, String run,
                                            long step, int world, int rank, Instant created, int chunkBytes) {
        long chunkCount = inRange(meta, KEY_CHUNK_COUNT, 0, Long.MAX_VALUE, key);
        long stored = inRange(meta, KEY_STORED, 0, Long.MAX_VALUE, key);
        long entries = inRange(meta, KEY_ENTRY_COUNT, 0, Long.MAX_VALUE, key);
        long raw = inRange(meta, KEY_RAW, 0, Long.MAX_VALUE, key);
        String counts = required(meta, KEY_PAGES, key);
        List<Integer> perLevel = new ArrayList<>();
        if (!counts.isEmpty()) {
            for (String c : counts.split(",", -1)) {
                try {
                    perLevel.add(Integer.parseInt(c));
                } catch (NumberFormatException e) {
                    throw corrupt(key, "has a malformed " + KEY_PAGES + " '" + counts + "'");
                }
            }
        }
        if (perLevel.size() > 64 || perLevel.stream().anyMatch(n -> n < 1)) {
            throw corrupt(key, "has a malformed " + KEY_PAGES + " '" + counts + "'");
        }
        List<PageRow> top = pageRows(rows, key, world, chunkBytes);
        if (top.isEmpty()) {
            throw corrupt(key, "holds no directory row");
        }
        Pages pages;
        try {
            pages = new Pages(required(meta, KEY_PAGES_ID, key), top, perLevel, entries, raw);
        } catch (IllegalArgumentException e) {
            throw corrupt(key, e.getMessage());
        }
        List<IndexRef> unknown = new ArrayList<>(java.util.Collections.nCopies(world, (IndexRef) null));
        return new Manifest(Integer.parseInt(meta.get(KEY_VERSION)), hash, run, step, world, rank, created, chunkBytes, List.of(),
                new IndexedRows(unknown, chunkCount, stored, false, pages));
    }

    private static EntryRecord toEntry(Row first, List<ChunkRef> chunks, String key) {
        return toEntry(first, chunks, key, true);
    }

    /** The entry of {@code first}; {@code exactBytes}: a tensor's bytes must be those of its shape. */
    private static EntryRecord toEntry(Row first, List<ChunkRef> chunks, String key, boolean exactBytes) {
        try { // the entry-name rules, worded for what the row is ("tensor name" or "blob name")
            if ("tensor".equals(first.kind)) {
                dev.cairn.Tensor.of(first.entry, DType.U8, new long[] {0}, java.nio.ByteBuffer.allocate(0));
            } else {
                dev.cairn.Blob.of(first.entry, new byte[0]);
            }
        } catch (CheckpointException e) {
            throw corrupt(key, "holds an invalid entry name: " + e.getMessage());
        }
        if ("tensor".equals(first.kind)) {
            DType dtype;
            long[] shape;
            long[] global;
            long[] offsets;
            try {
                dtype = DType.fromTag(first.dtype);
                shape = parseShape(first.shape);
                global = parseShape(first.globalShape);
                offsets = parseShape(first.shardOffset);
                dev.cairn.ShardSpec.of(global, offsets, shape); // checks the slice lies within the global shape
            } catch (RuntimeException e) {
                throw corrupt(key, "entry '" + first.entry + "' has a bad dtype, shape or shard: " + first.dtype + " "
                        + first.shape + " of " + first.globalShape + " at " + first.shardOffset);
            }
            long expected;
            try {
                expected = Tensor.expectedBytes(first.entry, dtype, shape);
            } catch (CheckpointException e) {
                throw corrupt(key, e.getMessage());
            }
            if (exactBytes && expected != first.entryBytes) {
                throw corrupt(key, "tensor '" + first.entry + "' shape " + first.shape + " of " + first.dtype
                        + " needs " + expected + " bytes but records " + first.entryBytes);
            }
            return new EntryRecord(first.entry, true, dtype, shape, global, offsets, false, first.entryBytes, first.rank, chunks);
        }
        if ("blob".equals(first.kind) || "rank-blob".equals(first.kind)) {
            return new EntryRecord(first.entry, false, null, null, null, null, "rank-blob".equals(first.kind), first.entryBytes,
                    first.rank, chunks);
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

    private static String zeros(String kind, String shape) {
        return "tensor".equals(kind) ? formatShape(new long[parseShape(shape).length]) : "";
    }

    /** The rows of a MANIFEST whose chunk rows are in the rank indexes: one per entry, then one per index. */
    private static List<Row> referenceRowsOf(Manifest m) {
        List<Row> rows = new ArrayList<>();
        for (EntryRecord e : m.entries()) {
            rows.add(entryRow(e));
        }
        for (IndexRef i : m.indexed().indexes()) {
            rows.add(new Row(i.name(), KIND_INDEX, "", "", i.length(), i.rank(), -1, 0, 0, i.digest(), IndexRef.DIGEST, 0, "", "",
                    "", 0));
        }
        return rows;
    }

    /** The row of entry {@code e} that names no chunk: a reference row, or the one row of an entry without chunks. */
    private static Row entryRow(EntryRecord e) {
        String kind = e.tensor() ? "tensor" : e.perRank() ? "rank-blob" : "blob";
        String dtype = e.tensor() ? e.dtype().tag() : "";
        String shape = e.tensor() ? formatShape(e.shape()) : "";
        String global = e.tensor() ? formatShape(e.globalShape()) : "";
        String offsets = e.tensor() ? formatShape(e.shardOffsets()) : "";
        return new Row(e.name(), kind, dtype, shape, e.byteSize(), e.rank(), -1, 0, 0, "", "", 0, global, offsets, "", 0);
    }

    private static List<Row> rowsOf(Manifest m) {
        List<Row> rows = new ArrayList<>();
        for (EntryRecord e : m.entries()) {
            String kind = e.tensor() ? "tensor" : e.perRank() ? "rank-blob" : "blob";
            String dtype = e.tensor() ? e.dtype().tag() : "";
            String shape = e.tensor() ? formatShape(e.shape()) : "";
            String global = e.tensor() ? formatShape(e.globalShape()) : "";
            String offsets = e.tensor() ? formatShape(e.shardOffsets()) : "";
            if (e.chunks().isEmpty()) {
                rows.add(entryRow(e));
            }
            for (int c = 0; c < e.chunks().size(); c++) {
                ChunkRef r = e.chunks().get(c);
                rows.add(new Row(e.name(), kind, dtype, shape, e.byteSize(), e.rank(), c, r.offset(), r.rawLength(), r.hash(),
                        r.codec(), r.storedLength(), global, offsets, String.join(",", r.bases()), r.errorBound()));
            }
        }
        return rows;
    }

    /**
     * The rows digest, by the manifest's own content hash (MurmurHash3 in versions 1 and 2), streamed: the canonical
     * text is never held whole ({@link RowsDigest}).
     */
    private static String digest(Map<String, String> meta, List<Row> rows, int version, ContentHash hash) {
        return digest(meta, rows, version, hash, null);
    }

    /** As {@link #digest(Map, List, int, ContentHash)}, with the rows' canonical lines made already, or null. */
    private static String digest(Map<String, String> meta, List<Row> rows, int version, ContentHash hash, String[] canonical) {
        List<String> metaLines = new ArrayList<>();
        meta.forEach((k, v) -> {
            if (!KEY_DIGEST.equals(k)) {
                metaLines.add(k + "=" + v);
            }
        });
        int m = metaLines.size();
        return RowsDigest.of(hash, m + rows.size(), i -> i < m ? metaLines.get(i)
                : canonical != null ? canonical[i - m] : rows.get(i - m).canonical(version));
    }

    private static Map<String, String> withoutDigest(Map<String, String> meta) {
        Map<String, String> m = new java.util.TreeMap<>(meta);
        m.remove(KEY_DIGEST);
        return sortedLikeWrite(m);
    }

    /** The digest covers metadata in the order write() puts it; a reader may see another order. */
    private static Map<String, String> sortedLikeWrite(Map<String, String> m) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : new String[] {KEY_VERSION, KEY_KIND, KEY_RUN, KEY_STEP, KEY_WORLD, KEY_RANK, KEY_CREATED, KEY_CHUNK, KEY_HASH,
                KEY_ROWS, KEY_CHUNK_COUNT, KEY_STORED, KEY_ENTRY_COUNT, KEY_RAW, KEY_PAGES_ID, KEY_PAGES, KEY_PAGE}) {
            if (m.containsKey(k)) {
                out.put(k, m.get(k));
            }
        }
        m.forEach(out::putIfAbsent);
        return out;
    }

    private static List<Field> fields(int version) {
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
        if (version >= 2) {
            for (String s : new String[] {"global_shape", "shard_offset", "bases"}) {
                f.add(new Field(s, FieldType.notNullable(ArrowType.Utf8.INSTANCE), null));
            }
            f.add(new Field("error_bound", FieldType.notNullable(new ArrowType.FloatingPoint(FloatingPointPrecision.DOUBLE)), null));
        }
        return f;
    }

    private static void setString(VarCharVector v, int i, String value) {
        v.setSafe(i, value.getBytes(StandardCharsets.UTF_8));
    }

    private static VarCharVector varChar(VectorSchemaRoot root, String name) {
        return (VarCharVector) root.getVector(name);
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

    private static double dbl(VectorSchemaRoot root, String name, int i) {
        Float8Vector v = (Float8Vector) vector(root, name, Float8Vector.class);
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

    /** The integer metadata value {@code k}, refused by name when malformed or outside {@code [min, max]}. */
    private static long inRange(Map<String, String> meta, String k, long min, long max, String key) {
        String text = required(meta, k, key);
        long v;
        try {
            v = Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw corrupt(key, "has a malformed " + k + " '" + text + "'" + (text.matches("-?[0-9]+") ? ", out of range ["
                    + min + ", " + max + "]" : ""));
        }
        if (v < min || v > max) {
            throw corrupt(key, "has " + k + " " + v + ", out of range [" + min + ", " + max + "]");
        }
        return v;
    }

    private static void checkRange(String key, Row first, Row r, String column, long v, long min, long max) {
        if (v < min || v > max) {
            throw corrupt(key, "entry '" + first.entry + "' chunk row " + r.chunk + " has " + column + " " + v
                    + ", out of range [" + min + ", " + max + "]" + ("raw_length".equals(column)
                    ? " (cairn.chunk_bytes)" : "stored_length".equals(column) ? " (the largest stored form of a chunk of"
                    + " cairn.chunk_bytes)" : ""));
        }
    }

    /** The largest stored form of a chunk of at most {@code chunkBytes} raw bytes, whole or differential. */
    public static long maxStoredBytes(int chunkBytes) {
        return ChunkCodec.maxStoredBytes(chunkBytes);
    }

    /** Named for what it is: the same format holds a MANIFEST and a rank index ({@code rank-<r>.index}). */
    private static CheckpointException corrupt(String key, String problem) {
        return new CheckpointException(Reason.CORRUPT, (StoreLayout.rankOfIndexName(key).isPresent() ? "rank index " : "manifest ") + key + " "
                + problem);
    }

    private record Row(String entry, String kind, String dtype, String shape, long entryBytes, int rank, int chunk, long offset,
                       long rawLength, String hash, String codec, long storedLength, String globalShape, String shardOffset,
                       String bases, double errorBound) {
        /**
         * This row with the strings equal to those of {@code previous} replaced by its instances: the rows of one entry
         * repeat its name, kind, dtype and shapes, and a manifest of a million rows must not hold a million copies.
         */
        Row sharing(Row previous) {
            return new Row(same(entry, previous.entry), same(kind, previous.kind), same(dtype, previous.dtype),
                    same(shape, previous.shape), entryBytes, rank, chunk, offset, rawLength, hash, same(codec, previous.codec),
                    storedLength, same(globalShape, previous.globalShape), same(shardOffset, previous.shardOffset),
                    same(bases, previous.bases), errorBound);
        }

        private static String same(String mine, String theirs) {
            return mine.equals(theirs) ? theirs : mine;
        }

        /** The row as the digest of format {@code version} covers it; version 1 covers its own twelve columns only. */
        String canonical(int version) {
            String v1 = "Row[entry=" + entry + ", kind=" + kind + ", dtype=" + dtype + ", shape=" + shape + ", entryBytes="
                    + entryBytes + ", rank=" + rank + ", chunk=" + chunk + ", offset=" + offset + ", rawLength=" + rawLength
                    + ", hash=" + hash + ", codec=" + codec + ", storedLength=" + storedLength + "]";
            return version < 2 ? v1 : v1 + "|" + globalShape + "|" + shardOffset + "|" + bases + "|" + Double.toString(errorBound);
        }
    }
}
