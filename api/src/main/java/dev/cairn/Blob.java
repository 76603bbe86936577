package dev.cairn;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Opaque named bytes: RNG state, a data-loader position, a JSON document. Copied when made. */
public final class Blob implements Entry {
    private final String name;
    private final ByteBuffer bytes;
    private final boolean perRank;

    private Blob(String name, ByteBuffer bytes) {
        this(name, bytes, false);
    }

    private Blob(String name, ByteBuffer bytes, boolean perRank) {
        this.name = EntryNames.check("blob name", name);
        this.bytes = bytes;
        this.perRank = perRank;
    }

    /**
     * A blob that belongs to one rank (its RNG state, its data-loader position): each rank's copy is kept, and a
     * restore on the same number of ranks gives each rank its own. On another number of ranks a
     * {@link RankBlobResolver} chooses; without one the restore fails rather than guess. Blobs made by
     * {@link #of} are global: every rank gets the copy of the lowest rank that saved it.
     */
    public static Blob perRank(String name, byte[] bytes) {
        return new Blob(name, ByteBuffer.wrap(bytes.clone()), true);
    }

    /** {@link #perRank(String, byte[])} of the remaining bytes of {@code bytes}, copied. */
    public static Blob perRank(String name, ByteBuffer bytes) {
        return new Blob(name, of(name, bytes).bytes, true);
    }

    /** Whether this blob is per rank rather than global. */
    public boolean isPerRank() {
        return perRank;
    }

    public static Blob of(String name, byte[] bytes) {
        return new Blob(name, ByteBuffer.wrap(bytes.clone()));
    }

    public static Blob of(String name, ByteBuffer bytes) {
        ByteBuffer copy = ByteBuffer.allocate(bytes.remaining());
        copy.put(bytes.duplicate()).flip();
        return new Blob(name, copy);
    }

    public static Blob ofUtf8(String name, String text) {
        return new Blob(name, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long byteSize() {
        return bytes.remaining();
    }

    @Override
    public List<ByteBuffer> buffers() {
        return List.of(bytes.asReadOnlyBuffer());
    }

    public byte[] toByteArray() {
        byte[] out = new byte[bytes.remaining()];
        bytes.duplicate().get(out);
        return out;
    }

    public String toUtf8() {
        return new String(toByteArray(), StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return "Blob[" + name + ", " + bytes.remaining() + " bytes" + (perRank ? ", per rank" : "") + "]";
    }
}
