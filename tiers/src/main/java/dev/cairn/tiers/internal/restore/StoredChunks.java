package dev.cairn.tiers.internal.restore;

import dev.cairn.CairnConfig;
import dev.cairn.ObjectStore;
import dev.cairn.UnusableObjectException;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.codec.XorDelta;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/**
 * Stored chunk objects as a store holds them ({@link StoredChunkHeader}): the one place that reads one (whole, or
 * just its header) and that rebuilds a chunk from its stored form, following a differential chunk's chain of bases
 * down to a whole chunk and applying the links back up, each checked by its content hash. Save (a previous version
 * to encode against), promotion (a chunk to copy or re-encode), restore and the command line's readers
 * ({@link ChunkReader}) all read through it.
 *
 * <p>One instance per thread: it reuses its buffers (from a {@link Scratch}) and its zstd contexts.
 */
public final class StoredChunks implements AutoCloseable {
    private final ChunkCodec codec;
    private final XorDelta delta;
    private final Scratch.Buffer stored;
    private final Scratch.Buffer link;
    private final ByteBuffer head = ByteBuffer.allocate(StoredChunkHeader.MAX_LENGTH);
    private final ContentHash.Hasher murmur = ContentHash.MURMUR3_128.hasher();
    private final ContentHash.Hasher xxh3 = ContentHash.XXH3_128.hasher();
    /** The last failure of a store's own read through this instance ({@link #failedToRead}); null when none. */
    private Throwable readFailure;

    /** Stored chunks read into buffers of {@code scratch}, which its owner closes after this. */
    public StoredChunks(Scratch scratch) {
        this.codec = new ChunkCodec(1, scratch);
        this.delta = new XorDelta(1, scratch);
        this.stored = scratch.buffer();
        this.link = scratch.buffer();
    }

    /**
     * Touches the buffers a whole (not differential) chunk of {@code rawLength} bytes is read and decoded through, so
     * that its first read takes no page faults ({@code Scratch.Buffer#prefault}).
     */
    public void prefault(int rawLength) {
        stored.prefault(ChunkCodec.maxStoredBytes(rawLength));
        codec.prefaultDecode(rawLength);
    }

    /**
     * Reads object {@code key} into {@code dst} from offset {@code dst.position()} on, until the position reaches
     * {@code stop} or the object ends; a read may fill {@code dst} past {@code stop} up to its limit. Returns
     * {@code dst} flipped. Fails with {@link NoSuchFileException} when the object is missing.
     */
    public static ByteBuffer read(ObjectStore store, String key, ByteBuffer dst, long stop) throws IOException {
        while (dst.position() < stop) {
            if (store.read(key, dst.position(), dst) <= 0) {
                break;
            }
        }
        return dst.flip();
    }

    /**
     * The header of stored chunk {@code hash} (its first {@link StoredChunkHeader#MAX_LENGTH} bytes, fewer when it is
     * shorter) in {@code head}, flipped; for {@link StoredChunkHeader#codecOf} and {@link StoredChunkHeader#baseOrNull}.
     */
    public static ByteBuffer readHeader(ObjectStore store, StoreLayout layout, String hash, ByteBuffer head) throws IOException {
        head.clear().limit(StoredChunkHeader.MAX_LENGTH);
        return read(store, layout.chunkKey(hash), head, StoredChunkHeader.MAX_LENGTH);
    }

    /**
     * The stored bytes of chunk {@code hash}, in a buffer of this instance valid until its next read of a stored chunk:
     * reading asks for up to {@code bound} bytes and stops once it has {@code stop} or the object ends.
     */
    public ByteBuffer readStored(ObjectStore store, StoreLayout layout, String hash, int bound, long stop) throws IOException {
        try {
            return read(store, layout.chunkKey(hash), stored.atLeast(bound).limit(bound), stop);
        } catch (IOException | RuntimeException e) {
            note(e);
            throw e;
        }
    }

    /**
     * Whether {@code failure} (or a cause of it) is a store's own read through this instance failing, other than for a
     * missing object (an S3 503 after the SDK's retries, a disk's EIO, a peer that did not answer), since
     * {@link #forgetReadFailure}: the store's trouble, which may pass when tried again, and says nothing of the stored
     * bytes. Anything else that fails a read of a chunk (a missing object or chain link, bytes that do not decode, a
     * content hash that does not match, a chain that loops) is about what the store holds.
     */
    public boolean failedToRead(Throwable failure) {
        for (Throwable t = failure; t != null && readFailure != null; t = t.getCause()) {
            if (t == readFailure) {
                return true;
            }
        }
        return false;
    }

    /** Forgets the last failed read ({@link #failedToRead}): a caller starting a read it classifies. */
    public void forgetReadFailure() {
        readFailure = null;
    }

    /**
     * Notes {@code e}, thrown by a store's read, unless it says what the store holds: the object missing, or unusable
     * ({@link UnusableObjectException}: bytes that do not match the store's record of them, which every attempt found,
     * or something the store never writes), which is damage, not the store's trouble.
     */
    private void note(Exception e) {
        if (saysNothingOfTheObject(e)) {
            readFailure = e;
        }
    }

    /**
     * Whether {@code e}, thrown by a store's read, is the store's trouble (an S3 503 after its retries, a disk's EIO),
     * which says nothing of what it holds, rather than the object missing or unusable
     * ({@link UnusableObjectException}), which is damage.
     */
    public static boolean saysNothingOfTheObject(Exception e) {
        return !(e instanceof NoSuchFileException) && !UnusableObjectException.in(e);
    }

    /**
     * Materializes chunk {@code hash} of {@code rawLength} bytes as {@code store} holds it (whole or as a chain) into
     * {@code dst[dstOff, dstOff+rawLength)}, checking every link by {@code contentHash}: walks the chain by the links'
     * headers down to a whole chunk, then decodes it and applies each link on the way up. {@code depth} links are above
     * this one (the chain bound counts them). Leaves what {@link #readStored} returned intact.
     */
    public void materialize(ObjectStore store, StoreLayout layout, String hash, ContentHash contentHash, int rawLength,
                            ByteBuffer dst, int dstOff, int depth) throws IOException {
        List<String> chain = new ArrayList<>();
        chain.add(hash);
        for (String base = baseInHeader(store, layout, hash); base != null; base = baseInHeader(store, layout, base)) {
            if (chain.contains(base) || depth + chain.size() >= CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY) {
                throw new IOException("chain of differential chunk " + hash + " loops or is longer than "
                        + CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY + " links");
            }
            chain.add(base);
        }
        for (int j = chain.size() - 1; j >= 0; j--) {
            String h = chain.get(j);
            ByteBuffer s = readLink(store, layout, h, rawLength);
            boolean differential = StoredChunkHeader.isDelta(s, 0, s.limit());
            if (differential != (j < chain.size() - 1)
                    || (differential && !StoredChunkHeader.baseOf(s, 0, s.limit()).equals(chain.get(j + 1)))) {
                throw new IOException("base chunk " + h + " changed while its chain was read");
            }
            if (differential) {
                delta.applyInto(s, 0, s.limit(), dst, dstOff, rawLength);
            } else {
                codec.decode(s, 0, s.limit(), dst, dstOff, rawLength);
            }
            checkHash(dst, dstOff, rawLength, h, contentHash, "base chunk " + h + " of a differential chain: ");
        }
    }

    /**
     * Decodes the stored chunk {@code src[at, at+len)} into {@code dst[dstOff, dstOff+rawLength)}: a whole one in
     * place, a differential one by materializing its base there from {@code store} and applying it. The caller checks
     * the result's hash.
     */
    public void decode(ObjectStore store, StoreLayout layout, ByteBuffer src, int at, int len, ContentHash contentHash,
                       ByteBuffer dst, int dstOff, int rawLength) throws IOException {
        if (StoredChunkHeader.isDelta(src, at, len)) {
            materialize(store, layout, StoredChunkHeader.baseOf(src, at, len), contentHash, rawLength, dst, dstOff, 1);
            delta.applyInto(src, at, len, dst, dstOff, rawLength);
        } else {
            codec.decode(src, at, len, dst, dstOff, rawLength);
        }
    }

    /** Fails unless {@code dst[off, off+len)} has the content hash {@code expected}; {@code what} starts the message. */
    public void checkHash(ByteBuffer dst, int off, int len, String expected, ContentHash contentHash, String what)
            throws IOException {
        ContentHash.Hasher hasher = contentHash == ContentHash.XXH3_128 ? xxh3 : murmur;
        if (!hasher.matches(dst, off, len, expected)) {
            throw new ContentMismatch(expected, what + "content hash (" + contentHash.tag() + ") is "
                    + hasher.hex(dst, off, len) + ", expected " + expected);
        }
    }

    /**
     * Decoded bytes whose content hash is not the one expected: the stored bytes are damaged (or are another
     * chunk's), unlike a read that failed, which is the store's trouble and may pass when tried again.
     * {@link #hash} names the stored chunk whose bytes these are: the chunk read, or the link of its differential chain
     * that failed (the links before it checked right).
     */
    public static final class ContentMismatch extends IOException {
        private static final long serialVersionUID = 1L;
        private final String hash;

        ContentMismatch(String hash, String message) {
            super(message);
            this.hash = hash;
        }

        /** The content hash the decoded bytes should have had: the key of the stored chunk that is damaged. */
        public String hash() {
            return hash;
        }
    }

    /** The base named by the stored chunk {@code hash}'s header, or null when it is stored whole. */
    private String baseInHeader(ObjectStore store, StoreLayout layout, String hash) throws IOException {
        ByteBuffer h;
        try {
            h = readHeader(store, layout, hash, head);
        } catch (NoSuchFileException e) {
            throw new IOException("base chunk " + hash + " of a differential chain is missing", e);
        } catch (IOException | RuntimeException e) {
            note(e);
            throw e;
        }
        return StoredChunkHeader.baseOrNull(h, 0, h.limit());
    }

    /** The whole stored object of a chain link, which no manifest row describes, in {@code link}. */
    private ByteBuffer readLink(ObjectStore store, StoreLayout layout, String hash, int rawLength) throws IOException {
        int bound = ChunkCodec.maxStoredBytes(rawLength);
        try {
            return read(store, layout.chunkKey(hash), link.atLeast(bound).limit(bound), bound);
        } catch (NoSuchFileException e) {
            throw new IOException("base chunk " + hash + " of a differential chain is missing", e);
        } catch (IOException | RuntimeException e) {
            note(e);
            throw e;
        }
    }

    @Override
    public void close() {
        codec.close();
        delta.close();
    }
}
