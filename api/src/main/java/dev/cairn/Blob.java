package dev.cairn;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Opaque named bytes: RNG state, a data-loader position, a JSON document. Copied when made. */
public final class Blob implements Entry {
    private final String name;
    private final ByteBuffer bytes;

    private Blob(String name, ByteBuffer bytes) {
        this.name = EntryNames.check("blob name", name);
        this.bytes = bytes;
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
        return "Blob[" + name + ", " + bytes.remaining() + " bytes]";
    }
}
