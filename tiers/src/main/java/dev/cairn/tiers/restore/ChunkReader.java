package dev.cairn.tiers.restore;

import dev.cairn.ObjectStore;
import dev.cairn.tiers.codec.ChunkCodec;
import dev.cairn.tiers.codec.ChunkHash;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.List;

/**
 * Reads a stored chunk and proves it right: its stored form ({@link dev.cairn.tiers.codec.StoredChunkFormat})
 * decodes to the recorded raw length and the decoded bytes have the recorded content hash ({@link ChunkHash}). The
 * hash is the check; the stored form names its own codec and is decoded by it, and the codec and stored length
 * recorded in a manifest are only a description and where reading stops, since another tier (or an earlier save
 * of the same content) may hold the same content encoded differently. A codec this release does not know is
 * refused. One instance per thread: it reuses its direct buffers and zstd context.
 */
public final class ChunkReader implements AutoCloseable {
    private final ChunkCodec codec = new ChunkCodec(1);
    private ByteBuffer stored = ByteBuffer.allocateDirect(0);
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
            verify(readStored(store, layout, c), c);
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
        int bound = ChunkCodec.maxEncodedBytes(Math.toIntExact(c.rawLength()));
        ByteBuffer dst = stored(bound);
        long stop = trustLength ? Math.min(c.storedLength(), bound) : bound;
        while (dst.position() < stop) {
            if (store.read(key, dst.position(), dst) <= 0) {
                break;
            }
        }
        return dst.flip();
    }

    /** Decodes stored bytes of {@code c} and checks their hash; returns the raw bytes in a buffer of this reader. */
    public ByteBuffer verify(ByteBuffer storedBytes, ChunkRef c) throws IOException {
        int rawLength = Math.toIntExact(c.rawLength());
        ByteBuffer dst = raw(rawLength);
        decodeChecked(storedBytes, c, dst, 0);
        return dst.limit(rawLength);
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
            decodeChecked(storedBytes, c, target, (int) off);
            return n;
        }
        ByteBuffer plain = verify(storedBytes, c);
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

    private void decodeChecked(ByteBuffer storedBytes, ChunkRef c, ByteBuffer dst, int dstOffset) throws IOException {
        if (!ChunkCodec.isKnown(c.codec())) {
            throw new IOException("unknown codec '" + c.codec() + "'");
        }
        int rawLength = Math.toIntExact(c.rawLength());
        codec.decode(storedBytes, storedBytes.position(), storedBytes.remaining(), dst, dstOffset, rawLength);
        String actual = ChunkHash.hex(dst, dstOffset, rawLength);
        if (!actual.equals(c.hash())) {
            throw new IOException("content hash is " + actual + ", expected " + c.hash());
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
    }
}
