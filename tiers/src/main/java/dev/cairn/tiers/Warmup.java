package dev.cairn.tiers;

import dev.cairn.DType;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.arrow.memory.RootAllocator;

/**
 * Start-up work taken off the first save and the first restore. A process that has just started (a replacement
 * for a lost rank) would otherwise pay, inside its first restore, for loading Arrow's IPC classes to read the
 * manifest, loading zstd's native library, and running the float-plane, zstd and hash kernels in the interpreter
 * until the JIT compiles them. The first checkpointer opened in a JVM starts one daemon thread that does all of it
 * on 1 MiB of synthetic floats (a manifest written and read back, chunks encoded, decoded and hashed), while the
 * caller goes on building its model or opening its stores. It writes nothing anywhere, and frees what it allocated
 * (from an allocator of its own) when it ends; a failure here is ignored (the real save or restore then meets the same cause and reports it).
 */
final class Warmup implements Runnable {
    private static final AtomicBoolean STARTED = new AtomicBoolean();
    /**
     * Rounds over the sample: enough for C2 to compile the float-plane and XXH3 loops before a replacement rank of
     * the sharded example has built its model (seen with -XX:+PrintCompilation).
     */
    private static final int ROUNDS = 24;
    private static final int SAMPLE_BYTES = 1 << 20;
    /**
     * Each round decodes and verifies the sample as pieces of this size, one call each (256 a round, 6,144 in all),
     * rather than as one 1 MiB call. Few long calls get the decode and hash loops compiled by C2 only for on-stack
     * replacement (OSR): the methods' own entries stay C1 code, the C2 compile of the entry is asked for only by a
     * later call (the restore's own, which then waits on it), and a C2 compile still queued when the warm-up stops
     * calling is dropped as stale (TieredCompileTaskTimeout). Both seen with -XX:+LogCompilation in a replacement's
     * first restore: XXH3's entry compiled by C2 inside it, FloatPlanes.join's OSR compile dropped as stale and its
     * 4 MiB chunks decoded by C1 code. Thousands of calls reach the invocation counts at which the tiered policy
     * compiles the entries themselves with C2, while the calls still come.
     */
    static final int PIECE_BYTES = 4 << 10;
    /** Lengths 0 to 300 are hashed (every length class of XXH3, below), each at offsets 0 to 7. */
    private static final int HASHED_LENGTHS = 301;
    private static final int HASH_OFFSETS = 8;

    Warmup() {
    }

    /** Starts the warm-up once per JVM. */
    static void startOnce() {
        if (STARTED.compareAndSet(false, true)) {
            Thread t = new Thread(new Warmup(), "cairn-warmup");
            t.setDaemon(true);
            t.setPriority(Thread.MIN_PRIORITY);
            t.start();
        }
    }

    /**
     * The hash over every length from 0 to 300 bytes (each of XXH3's length classes: 0-3, 4-8, 9-16, 17-128, 129-240,
     * longer) in a heap and a direct buffer. A class the JIT never saw run is compiled as a trap: without this, the
     * first real restore that verified an 8-byte blob (a step counter, an RNG state) threw the compiled hash away
     * and ran it interpreted until it was compiled again (seen in a replacement's first restore: a deoptimization
     * "unloaded" at the 4-8 byte branch, then 270 ms of C1 and C2 compiles on the restore's critical path).
     */
    private static void hashEveryLengthClass(ContentHash.Hasher hasher, ByteBuffer direct) {
        // Room for the largest length at the largest offset: a hash of a range past the end throws, and an exception
        // here ends the whole warm-up (run() ignores it), which WarmupTest would catch.
        byte[] heap = new byte[HASHED_LENGTHS + HASH_OFFSETS];
        new SplittableRandom(7).nextBytes(heap);
        ByteBuffer onHeap = ByteBuffer.wrap(heap);
        for (int round = 0; round < HASH_OFFSETS; round++) {
            for (int length = 0; length < HASHED_LENGTHS; length++) {
                hasher.hex(onHeap, round, length);
                hasher.hex(direct, round, length);
            }
        }
    }

    @Override
    public void run() {
        try {
            warm();
        } catch (java.io.IOException | RuntimeException | LinkageError | OutOfMemoryError e) {
            // see the class comment: nothing depends on the warm-up
        }
    }

    /** What a warm-up ran, for tests: the pieces it decoded and checked, and the codecs they were stored in. */
    record Coverage(int pieceDecodes, Set<Codec> pieceCodecs) {
    }

    /** The warm-up's work, throwing what {@link #run} ignores (tests call this to see that it runs to its end). */
    Coverage warm() throws java.io.IOException {
        try (RootAllocator allocator = new RootAllocator(32L << 20); Scratch scratch = new Scratch(allocator, "warmup");
             ChunkCodec codec = new ChunkCodec(1, scratch)) {
            ByteBuffer raw = scratch.buffer().atLeast(SAMPLE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            SplittableRandom random = new SplittableRandom(42);
            for (int i = 0; i < SAMPLE_BYTES; i += 4) {
                raw.putFloat(i, (float) (random.nextGaussian() * 0.02));
            }
            ByteBuffer stored = scratch.buffer().atLeast(ChunkCodec.maxEncodedBytes(SAMPLE_BYTES));
            ByteBuffer back = scratch.buffer().atLeast(SAMPLE_BYTES);
            ContentHash.Hasher hasher = ContentHash.CURRENT.hasher();
            hashEveryLengthClass(hasher, raw);
            String hash = hasher.hex(raw, 0, SAMPLE_BYTES);
            // The sample's pieces, each stored as a chunk of its own in the codec chosen for the whole sample (a piece
            // probed alone may choose another: byte planes, whose join is another method), one after the other in
            // piecesStored, with their hashes.
            ChunkCodec.Encoded encoded = new ChunkCodec.Encoded();
            Codec sampleCodec = codec.encodeChoosing(raw, 0, SAMPLE_BYTES, 4, stored, encoded).codec();
            int pieces = SAMPLE_BYTES / PIECE_BYTES;
            int pieceBound = ChunkCodec.maxEncodedBytes(PIECE_BYTES);
            ByteBuffer piecesStored = scratch.buffer().atLeast(pieces * pieceBound);
            int[] pieceAt = new int[pieces];
            int[] pieceLength = new int[pieces];
            String[] pieceHash = new String[pieces];
            Set<Codec> pieceCodecs = EnumSet.noneOf(Codec.class);
            for (int p = 0; p < pieces; p++) {
                int n = codec.encodeAs(sampleCodec, raw, p * PIECE_BYTES, PIECE_BYTES, stored);
                pieceAt[p] = p * pieceBound;
                pieceLength[p] = n;
                piecesStored.put(pieceAt[p], stored, 0, n);
                pieceHash[p] = hasher.hex(raw, p * PIECE_BYTES, PIECE_BYTES);
                pieceCodecs.add(StoredChunkHeader.codecOf(piecesStored, pieceAt[p], n));
            }
            int pieceDecodes = 0;
            for (int round = 0; round < ROUNDS; round++) {
                int n = codec.encodeChoosing(raw, 0, SAMPLE_BYTES, 4, stored, encoded).length();
                if (round == 0) {
                    codec.decode(stored, 0, n, back, 0, SAMPLE_BYTES);
                    if (!hasher.matches(back, 0, SAMPLE_BYTES, hash)) {
                        throw new IllegalStateException("warm-up: the decoded sample does not match its hash");
                    }
                }
                for (int p = 0; p < pieces; p++) {
                    // As a restore reads a chunk (StoredChunks): decode into the target, then check its hash there.
                    codec.decode(piecesStored, pieceAt[p], pieceLength[p], back, p * PIECE_BYTES, PIECE_BYTES);
                    if (!hasher.matches(back, p * PIECE_BYTES, PIECE_BYTES, pieceHash[p])) {
                        throw new IllegalStateException("warm-up: a decoded piece does not match its hash");
                    }
                    pieceDecodes++;
                }
            }
            ChunkRef chunk = new ChunkRef(0, SAMPLE_BYTES, hash, encoded.codec().manifestName(), encoded.length());
            Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "warmup", 1, 1, 0, Instant.now(), SAMPLE_BYTES,
                    List.of(new EntryRecord("w", true, DType.F32, new long[] {SAMPLE_BYTES / 4}, SAMPLE_BYTES, 0, List.of(chunk))));
            ManifestFormat.read(ByteBuffer.wrap(ManifestFormat.write(m, "manifest", allocator)), "warmup manifest", allocator);
            return new Coverage(pieceDecodes, pieceCodecs);
        }
    }
}
