package dev.cairn.tiers.internal.restore;

import dev.cairn.MappedFaults;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Reads a stored chunk and proves it right: its stored form ({@link dev.cairn.tiers.internal.codec.StoredChunkHeader})
 * decodes to the recorded raw length and the decoded bytes have the recorded content hash, by the hash of the manifest
 * the chunk is listed in ({@link ChunkRef#contentHash()}: MurmurHash3 for formats 1 and 2, XXH3-128 for 3). The
 * hash is the check; the stored form names its own codec and is decoded by it, and the codec and stored length
 * recorded in a manifest are only a description and where reading stops, since another tier (or an earlier save
 * of the same content) may hold the same content encoded differently. A codec this release does not know is
 * refused.
 *
 * <p>A differential chunk ({@link dev.cairn.tiers.internal.codec.XorDelta}) names its base in its stored bytes; the reader
 * follows the chain in the same store to the nearest whole chunk, then applies the links back up, checking every link's
 * content hash on the way by the same hash as the chunk (a chain never mixes hashes: every link was written by one save's hash, so a
 * link keyed by another hash fails as wrong). A link missing or wrong fails the read with an {@link IOException},
 * which the restore answers like any bad chunk: with a whole copy from another tier, or CORRUPT. The reading and the
 * chain are {@link StoredChunks}'; this class adds what a manifest row promises. One instance per thread: it reuses its
 * buffers and zstd contexts.
 */
public final class ChunkReader implements AutoCloseable {
    /** The scratch this reader made for itself, closed with it; null when its owner's scratch holds its buffers. */
    private final Scratch ownScratch;
    private final StoredChunks chunks;
    private final Scratch.Buffer raw;

    /** A reader with scratch of its own, freed by {@link #close}: for tools that read a few stores. */
    public ChunkReader() {
        this(Scratch.standalone("chunk-reader"), true);
    }

    /** A reader whose buffers belong to {@code scratch}, which its owner closes after this reader. */
    public ChunkReader(Scratch scratch) {
        this(scratch, false);
    }

    /** A reader with scratch of its own under {@code parent}, named {@code name}, freed by {@link #close}. */
    public static ChunkReader under(BufferAllocator parent, String name) {
        Scratch scratch = new Scratch(parent, name);
        try {
            return new ChunkReader(scratch, true);
        } catch (RuntimeException e) {
            scratch.close();
            throw e;
        }
    }

    private ChunkReader(Scratch scratch, boolean owned) {
        this.ownScratch = owned ? scratch : null;
        this.chunks = new StoredChunks(scratch);
        this.raw = scratch.buffer();
    }

    /**
     * What a check of one chunk in one store found. UNREADABLE is the store failing to read it (or a link of its
     * chain) for another reason than its absence: an S3 503 after the SDK's retries, a disk's EIO, a peer that did not
     * answer. That says nothing of what the store holds, unlike MISSING and CORRUPT (a missing link, bytes that do not
     * decode, a content hash that does not match), so a caller that writes over a chunk it finds damaged must not do
     * so over one it could not read: the object may be intact, in a form that committed steps record.
     */
    public enum Status { OK, MISSING, CORRUPT, UNREADABLE }

    /** The outcome of a check: {@code detail} says what is wrong (empty when OK). */
    public record Check(Status status, String detail) {
        static final Check OK = new Check(Status.OK, "");

        public boolean ok() {
            return status == Status.OK;
        }

        @Override
        public String toString() {
            return switch (status) {
                case OK -> "ok";
                case MISSING -> "missing";
                case CORRUPT -> "corrupt (" + detail + ")";
                case UNREADABLE -> "unreadable (" + detail + ")";
            };
        }
    }

    /**
     * Checks chunk {@code c} in {@code store}; never throws for a bad chunk, only reports it: UNREADABLE where the
     * store's own read of it or of a link of its chain failed ({@link StoredChunks#failedToRead}).
     */
    public Check check(ObjectStore store, StoreLayout layout, ChunkRef c) {
        chunks.forgetReadFailure();
        try {
            verify(store, layout, readStored(store, layout, c), c);
            return Check.OK;
        } catch (NoSuchFileException e) {
            return new Check(Status.MISSING, "");
        } catch (IOException | RuntimeException e) {
            return new Check(chunks.failedToRead(e) ? Status.UNREADABLE : Status.CORRUPT,
                    e.getMessage() == null ? e.toString() : e.getMessage());
        }
    }

    /**
     * The stored bytes of {@code c} in {@code store}, in a buffer of this reader valid until its next call. Reading
     * stops at the recorded stored length (asking again only to see the end would cost a second open per chunk on
     * disk), or earlier at the end of the object. Fails with {@link NoSuchFileException} when the object is missing.
     */
    public ByteBuffer readStored(ObjectStore store, StoreLayout layout, ChunkRef c) throws IOException {
        return readStored(store, layout, c, true);
    }

    /**
     * {@link #readStored(ObjectStore, StoreLayout, ChunkRef)}, or with {@code trustLength} false the whole object up
     * to the largest size the chunk can have: for a tier whose manifest did not record this copy (a repair source
     * may hold the same content encoded differently).
     */
    public ByteBuffer readStored(ObjectStore store, StoreLayout layout, ChunkRef c, boolean trustLength) throws IOException {
        chunks.forgetReadFailure(); // a read of a chunk begins: what failed before is not this read's ({@link #damaged})
        int bound = ChunkCodec.maxStoredBytes(Math.toIntExact(c.rawLength()));
        return chunks.readStored(store, layout, c.hash(), bound, trustLength ? Math.min(c.storedLength(), bound) : bound);
    }

    /** Touches this reader's buffers for chunks of {@code rawLength} bytes (see {@link StoredChunks#prefault}). */
    public void prefault(int rawLength) {
        raw.prefault(rawLength);
        chunks.prefault(rawLength);
    }

    /**
     * Decodes stored bytes of {@code c}, read from {@code store}, following its chain there if it is differential, and
     * checks their hash; returns the raw bytes in a buffer of this reader valid until its next call.
     */
    public ByteBuffer verify(ObjectStore store, StoreLayout layout, ByteBuffer storedBytes, ChunkRef c) throws IOException {
        // A chain's reads begin here: for a caller that read the stored bytes itself (a promotion), what failed before
        // is not this check's ({@link #failedToRead}).
        chunks.forgetReadFailure();
        int rawLength = Math.toIntExact(c.rawLength());
        ByteBuffer dst = raw.atLeast(rawLength).limit(rawLength);
        decodeChecked(store, layout, storedBytes, c, dst, 0);
        return dst;
    }

    /**
     * Reads chunk {@code c} from {@code store} into its place in {@code dst} (the entry's buffers, in order, the chunk
     * at {@code c.offset()}): decoded straight into place when one direct buffer holds it (then verified there),
     * else decoded and verified here first, then copied ({@link Placement#put}), as into a memory map of a file. Returns the stored bytes read.
     */
    public int readInto(ObjectStore store, StoreLayout layout, ChunkRef c, List<ByteBuffer> dst, boolean trustLength)
            throws IOException {
        return readInto(store, layout, c, dst, trustLength, () -> false);
    }

    /**
     * As {@link #readInto(ObjectStore, StoreLayout, ChunkRef, List, boolean)}, writing nothing into {@code dst} once
     * {@code abandoned} says so after the read (an {@link AbandonedRead}): a restore that gave up at its deadline
     * while this read was still waiting on the store has handed the buffers back to its caller.
     */
    public int readInto(ObjectStore store, StoreLayout layout, ChunkRef c, List<ByteBuffer> dst, boolean trustLength,
                        java.util.function.BooleanSupplier abandoned) throws IOException {
        ByteBuffer storedBytes = readStored(store, layout, c, trustLength);
        if (abandoned.getAsBoolean()) {
            throw new AbandonedRead();
        }
        int n = storedBytes.remaining();
        int rawLength = Math.toIntExact(c.rawLength());
        long off = c.offset();
        int b = 0;
        while (b < dst.size() && off >= dst.get(b).remaining()) {
            off -= dst.get(b).remaining();
            b++;
        }
        if (b == dst.size()) {
            throw new IOException("chunk at offset " + c.offset() + " lies outside its entry");
        }
        ByteBuffer target = dst.get(b);
        // Not into a map of a file: were the file truncated, the decoder's native write would end the process.
        if (target.isDirect() && target.remaining() - off >= rawLength && !MappedFaults.isFileMap(target)) {
            decodeChecked(store, layout, storedBytes, c, target, (int) off);
            return n;
        }
        Placement.put(dst, c.offset(), verify(store, layout, storedBytes, c), 0, rawLength);
        return n;
    }

    private void decodeChecked(ObjectStore store, StoreLayout layout, ByteBuffer storedBytes, ChunkRef c, ByteBuffer dst,
                               int dstOffset) throws IOException {
        if (Codec.byName(c.codec()) == null) {
            throw new IOException("unknown codec '" + c.codec() + "'");
        }
        int rawLength = Math.toIntExact(c.rawLength());
        // The stored bytes of this chunk may sit in the stored chunks' own buffer; a chain is read through another.
        chunks.decode(store, layout, storedBytes, storedBytes.position(), storedBytes.remaining(), c.contentHash(), dst,
                dstOffset, rawLength);
        chunks.checkHash(dst, dstOffset, rawLength, c.hash(), c.contentHash(), "");
    }

    /**
     * The hash of the stored chunk that {@code failure}, thrown by this reader's last read of chunk {@code c}, shows to
     * be damaged in that store: it, or the link of its chain whose hash failed, does not decode to its hash; its bytes
     * do not decode, or a link is missing; the store found it unusable ({@link dev.cairn.UnusableObjectException}).
     * Null where the failure says nothing of what the store holds: the chunk missing, the store failing to read it
     * ({@link StoredChunks#failedToRead}), the read abandoned, the target faulting, this reader's own failure (a
     * RuntimeException: a buffer it could not get), or a codec this release does not know (named by the row, or by
     * the stored header where {@code c} records the header's codec: another release's object). Promotions and
     * restores mark such a chunk ({@code ChunkCatalog.markDamaged}), and a writer reads it whole again before it puts
     * over it, so a false verdict costs a read, never an intact object.
     */
    public String damaged(ChunkRef c, Throwable failure) {
        if (failure instanceof StoredChunks.ContentMismatch m) {
            return m.hash() != null ? m.hash() : c.hash();
        }
        if (!(failure instanceof IOException) || failure instanceof NoSuchFileException || failure instanceof AbandonedRead
                || chunks.failedToRead(failure) || Codec.byName(c.codec()) == null) {
            return null;
        }
        return c.hash();
    }

    /**
     * Whether {@code failure}, thrown by this reader's last read or check of a chunk, is the store's own read of it or
     * of a link of its chain failing ({@link StoredChunks#failedToRead}: an S3 503 after the SDK's retries, a disk's
     * EIO), which says nothing of what the store holds, unlike a chunk that {@link #damaged} names.
     */
    public boolean failedToRead(Throwable failure) {
        return chunks.failedToRead(failure);
    }

    /** The restore this read was for gave up before the read ended: nothing was written into its buffers. */
    public static final class AbandonedRead extends IOException {
        private static final long serialVersionUID = 1L;

        AbandonedRead() {
            super("the restore gave up before this read ended", null);
        }
    }

    @Override
    public void close() {
        chunks.close();
        if (ownScratch != null) {
            ownScratch.close();
        }
    }
}
