package dev.cairn.tiers.restore;

import dev.cairn.CairnConfig;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.codec.ChunkCodec;
import dev.cairn.tiers.codec.ContentHash;
import dev.cairn.tiers.codec.XorDelta;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a stored chunk and proves it right: its stored form ({@link dev.cairn.tiers.codec.StoredChunkFormat})
 * decodes to the recorded raw length and the decoded bytes have the recorded content hash, by the hash of the manifest
 * the chunk is listed in ({@link ChunkRef#contentHash()}: MurmurHash3 for formats 1 and 2, XXH3-128 for 3). The
 * hash is the check; the stored form names its own codec and is decoded by it, and the codec and stored length
 * recorded in a manifest are only a description and where reading stops, since another tier (or an earlier save
 * of the same content) may hold the same content encoded differently. A codec this release does not know is
 * refused.
 *
 * <p>A differential chunk ({@link XorDelta}) names its base in its stored bytes; the reader follows the chain in the
 * same store to the nearest whole chunk, then applies the links back up, checking every link's content hash on the
 * way by the same hash as the chunk (a chain never mixes hashes: every link was written by one save's hash, so a
 * link keyed by another hash fails as wrong). A link missing or wrong fails the read with an {@link IOException},
 * which the restore answers like any bad chunk: with a whole copy from another tier, or CORRUPT. One instance per thread: it reuses its direct buffers and
 * zstd contexts.
 */
public final class ChunkReader implements AutoCloseable {
    private final ChunkCodec codec = new ChunkCodec(1);
    private final XorDelta delta = new XorDelta(1);
    private final ByteBuffer head = ByteBuffer.allocateDirect(XorDelta.HEADER_BYTES);
    private final ContentHash.Hasher murmur = ContentHash.MURMUR3_128.hasher();
    private final ContentHash.Hasher xxh3 = ContentHash.XXH3_128.hasher();
    private ByteBuffer stored = ByteBuffer.allocateDirect(0);
    private ByteBuffer link = ByteBuffer.allocateDirect(0);
    private ByteBuffer raw = ByteBuffer.allocateDirect(0);

    /** What a check of one chunk in one store found. */
    public enum Status { OK, MISSING, CORRUPT }

    /** The outcome of a check: {@code detail} says what is wrong (empty when OK). */
    public record Check(Status status, String detail) {
        static final Check OK = new Check(Status.OK, "");

        public boolean ok() {
            return status == Status.OK;
        }

        @Override
        public String toString() {
            return status == Status.OK ? "ok" : status == Status.MISSING ? "missing" : "corrupt (" + detail + ")";
        }
    }

    /** Checks chunk {@code c} in {@code store}; never throws for a bad chunk, only reports it. */
    public Check check(ObjectStore store, StoreLayout layout, ChunkRef c) {
        try {
            verify(store, layout, readStored(store, layout, c), c);
            return Check.OK;
        } catch (NoSuchFileException e) {
            return new Check(Status.MISSING, "");
        } catch (IOException | RuntimeException e) {
            return new Check(Status.CORRUPT, e.getMessage() == null ? e.toString() : e.getMessage());
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
        String key = layout.chunkKey(c.hash());
        int bound = ChunkCodec.maxEncodedBytes(Math.toIntExact(c.rawLength())) + XorDelta.HEADER_BYTES;
        ByteBuffer dst = stored(bound);
        long stop = trustLength ? Math.min(c.storedLength(), bound) : bound;
        while (dst.position() < stop) {
            if (store.read(key, dst.position(), dst) <= 0) {
                break;
            }
        }
        return dst.flip();
    }

    /**
     * Decodes stored bytes of {@code c} and checks their hash; returns the raw bytes in a buffer of this reader. A
     * differential chunk fails here: its bases must be read from its store, with the other {@code verify}.
     */
    public ByteBuffer verify(ByteBuffer storedBytes, ChunkRef c) throws IOException {
        return verify(null, null, storedBytes, c);
    }

    /** Decodes stored bytes of {@code c}, read from {@code store}, following its chain there if it is differential. */
    public ByteBuffer verify(ObjectStore store, StoreLayout layout, ByteBuffer storedBytes, ChunkRef c) throws IOException {
        int rawLength = Math.toIntExact(c.rawLength());
        ByteBuffer dst = raw(rawLength);
        decodeChecked(store, layout, storedBytes, c, dst, 0);
        return dst.limit(rawLength);
    }

    /**
     * Materializes chunk {@code hash} of {@code rawLength} bytes as {@code store} holds it (whole or as a chain) into
     * {@code dst[dstOff, dstOff+rawLength)}, checking every link by {@code contentHash}. For a save that needs a
     * previous version.
     */
    public void readWhole(ObjectStore store, StoreLayout layout, String hash, ContentHash contentHash, int rawLength,
                          ByteBuffer dst, int dstOff) throws IOException {
        materialize(store, layout, hash, contentHash, rawLength, dst, dstOff, 0);
    }

    /**
     * Reads chunk {@code c} from {@code store} into its place in {@code dst} (the entry's buffers, in order, the chunk
     * at {@code c.offset()}): decoded straight into place when one direct buffer holds it (then verified there),
     * else decoded and verified here first, then copied. Returns the stored bytes read.
     */
    public int readInto(ObjectStore store, StoreLayout layout, ChunkRef c, List<ByteBuffer> dst, boolean trustLength)
            throws IOException {
        ByteBuffer storedBytes = readStored(store, layout, c, trustLength);
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
        if (target.isDirect() && target.remaining() - off >= rawLength) {
            decodeChecked(store, layout, storedBytes, c, target, (int) off);
            return n;
        }
        ByteBuffer plain = verify(store, layout, storedBytes, c);
        int copied = 0;
        while (copied < rawLength) {
            ByteBuffer d = dst.get(b);
            int len = (int) Math.min(rawLength - copied, d.remaining() - off);
            d.put((int) off, plain, copied, len);
            copied += len;
            b++;
            off = 0;
        }
        return n;
    }

    private void decodeChecked(ObjectStore store, StoreLayout layout, ByteBuffer storedBytes, ChunkRef c, ByteBuffer dst,
                               int dstOffset) throws IOException {
        if (!ChunkCodec.isKnown(c.codec()) && !XorDelta.CODEC.equals(c.codec())) {
            throw new IOException("unknown codec '" + c.codec() + "'");
        }
        int rawLength = Math.toIntExact(c.rawLength());
        int at = storedBytes.position();
        int len = storedBytes.remaining();
        if (XorDelta.isDelta(storedBytes, at, len)) {
            if (store == null) {
                throw new IOException("differential chunk read without the store that holds its bases");
            }
            // The stored bytes of this chunk sit in `stored`; its chain is read through `link`, so they stay intact.
            materialize(store, layout, XorDelta.baseOf(storedBytes, at, len), c.contentHash(), rawLength, dst, dstOffset, 1);
            delta.applyInto(storedBytes, at, len, dst, dstOffset, rawLength);
        } else {
            codec.decode(storedBytes, at, len, dst, dstOffset, rawLength);
        }
        checkHash(dst, dstOffset, rawLength, c.hash(), c.contentHash(), "");
    }

    /**
     * Writes chunk {@code hash} into place: walks the chain by the links' headers down to a whole chunk, then decodes
     * it and applies each link on the way up, checking each link's hash. {@code depth} links are above this one.
     */
    private void materialize(ObjectStore store, StoreLayout layout, String hash, ContentHash contentHash, int rawLength,
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
            boolean differential = XorDelta.isDelta(s, 0, s.limit());
            if (differential != (j < chain.size() - 1) || (differential && !XorDelta.baseOf(s, 0, s.limit()).equals(chain.get(j + 1)))) {
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

    /** The base named by the stored chunk {@code hash}'s header, or null when it is stored whole. */
    private String baseInHeader(ObjectStore store, StoreLayout layout, String hash) throws IOException {
        head.clear();
        String key = layout.chunkKey(hash);
        try {
            while (head.hasRemaining()) {
                if (store.read(key, head.position(), head) <= 0) {
                    break;
                }
            }
        } catch (NoSuchFileException e) {
            throw new IOException("base chunk " + hash + " of a differential chain is missing", e);
        }
        int n = head.position();
        return XorDelta.isDelta(head, 0, n) ? XorDelta.baseOf(head, 0, n) : null;
    }

    /** The whole stored object of a chain link, which no manifest row describes, in {@code link}. */
    private ByteBuffer readLink(ObjectStore store, StoreLayout layout, String hash, int rawLength) throws IOException {
        int bound = ChunkCodec.maxEncodedBytes(rawLength) + XorDelta.HEADER_BYTES;
        if (link.capacity() < bound) {
            link = ByteBuffer.allocateDirect(bound);
        }
        ByteBuffer dst = link.clear().limit(bound);
        String key = layout.chunkKey(hash);
        try {
            while (dst.hasRemaining()) {
                if (store.read(key, dst.position(), dst) <= 0) {
                    break;
                }
            }
        } catch (NoSuchFileException e) {
            throw new IOException("base chunk " + hash + " of a differential chain is missing", e);
        }
        return dst.flip();
    }

    private void checkHash(ByteBuffer dst, int off, int len, String expected, ContentHash contentHash, String what)
            throws IOException {
        ContentHash.Hasher hasher = contentHash == ContentHash.XXH3_128 ? xxh3 : murmur;
        if (!hasher.matches(dst, off, len, expected)) {
            throw new IOException(what + "content hash (" + contentHash.tag() + ") is " + hasher.hex(dst, off, len)
                    + ", expected " + expected);
        }
    }

    private ByteBuffer stored(int capacity) {
        if (stored.capacity() < capacity) {
            stored = ByteBuffer.allocateDirect(capacity);
        }
        return stored.clear().limit(capacity);
    }

    private ByteBuffer raw(int capacity) {
        if (raw.capacity() < capacity) {
            raw = ByteBuffer.allocateDirect(capacity);
        }
        return raw.clear().limit(capacity);
    }

    @Override
    public void close() {
        codec.close();
        delta.close();
    }
}
