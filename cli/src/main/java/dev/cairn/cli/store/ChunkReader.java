package dev.cairn.cli.store;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.codec.ChunkCodec;
import dev.cairn.tiers.codec.ChunkHash;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.ChunkRef;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads chunks as the engine stores them and checks them as the engine's restore does: the stored length the
 * manifest records, a zstd frame ({@link ChunkCodec}) that decodes to the raw length, and the content hash
 * ({@link ChunkHash}) of the decoded bytes. One instance per thread: it reuses its direct buffers.
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
     * The stored bytes of {@code c} in {@code store}, in a buffer of this reader valid until its next call.
     * Fails when the object is missing ({@link NoSuchFileException}) or is not the recorded stored length.
     */
    public ByteBuffer readStored(ObjectStore store, StoreLayout layout, ChunkRef c) throws IOException {
        String key = layout.chunkKey(c.hash());
        long expected = c.storedLength();
        if (expected > Integer.MAX_VALUE - 9) {
            throw new IOException("stored length " + expected + " in the manifest is impossible");
        }
        // One byte more than expected, so that a longer object shows up as a mismatch.
        ByteBuffer dst = stored((int) expected + 1);
        while (dst.hasRemaining()) {
            if (store.read(key, dst.position(), dst) <= 0) {
                break;
            }
        }
        if (dst.position() != expected) {
            throw new IOException("object is " + (dst.hasRemaining() ? dst.position() + " bytes" : "longer")
                    + ", the manifest records " + expected);
        }
        return dst.flip();
    }

    /**
     * Decodes stored bytes of {@code c} and checks their hash; returns the raw bytes in a buffer of this reader,
     * valid until its next call.
     */
    public ByteBuffer verify(ByteBuffer storedBytes, ChunkRef c) throws IOException {
        if (!ChunkCodec.ZSTD.equals(c.codec())) {
            throw new IOException("unknown codec '" + c.codec() + "'");
        }
        int rawLength = Math.toIntExact(c.rawLength());
        ByteBuffer dst = raw(rawLength);
        codec.decode(storedBytes, storedBytes.position(), storedBytes.remaining(), dst, 0, rawLength);
        String actual = ChunkHash.hex(dst, 0, rawLength);
        if (!actual.equals(c.hash())) {
            throw new IOException("content hash is " + actual);
        }
        return dst.limit(rawLength);
    }

    /**
     * The verified raw bytes of {@code c} from the first of {@code sources} that holds a good copy; CORRUPT naming
     * what each source had when none does.
     */
    public ByteBuffer fetch(List<Source> sources, StoreLayout layout, ChunkRef c, String entry) {
        List<String> tried = new ArrayList<>();
        for (Source s : sources) {
            try {
                return verify(readStored(s.store(), layout, c), c);
            } catch (NoSuchFileException e) {
                tried.add(s.uri() + ": missing");
            } catch (IOException | RuntimeException e) {
                tried.add(s.uri() + ": " + e.getMessage());
            }
        }
        throw new CheckpointException(CheckpointException.Reason.CORRUPT, "chunk " + c.hash() + " of '" + entry
                + "' at offset " + c.offset() + " has no good copy (" + String.join("; ", tried) + ")");
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
