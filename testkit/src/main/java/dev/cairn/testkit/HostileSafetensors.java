package dev.cairn.testkit;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Hostile safetensors files (8-byte little-endian header length, JSON header, data): duplicate tensor names, integers
 * of 2^64 and above, header lengths that lie, truncation, names that climb out of their folder, control characters,
 * and a header of very many empty tensors. {@code cairn import} must refuse each with one clear line before it writes
 * anything, in memory bounded by what it keeps, not by what the header claims.
 */
public final class HostileSafetensors {
    private HostileSafetensors() {
    }

    /** One hostile file: a name for messages and its bytes. */
    public record Case(String name, byte[] bytes) {
        @Override
        public String toString() {
            return name;
        }
    }

    /** Every case, each a few hundred bytes. */
    public static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        String w = "\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]";
        out.add(new Case("duplicate-tensor-names", file("{\"w\":{" + w + "},\"w\":{" + w + "}}", 16)));
        out.add(new Case("shape-dimension-2^64-plus-4", file(
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551620,4],\"data_offsets\":[0,64]}}", 64)));
        out.add(new Case("data-offset-2^64", file(
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[18446744073709551616,18446744073709551632]}}", 16)));
        out.add(new Case("negative-data-offset", file(
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[-16,0]}}", 16)));
        out.add(new Case("offsets-past-the-data", file(
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[1000,1016]}}", 16)));
        out.add(new Case("overlapping-tensors", file("{\"a\":{" + w + "},\"b\":{" + w + "}}", 16)));
        out.add(new Case("name-with-dotdot", file("{\"../../escape\":{" + w + "}}", 16)));
        out.add(new Case("name-absolute", file("{\"/etc/passwd\":{" + w + "}}", 16)));
        out.add(new Case("name-with-control-chars", file("{\"w\\u001b]0;PWNED\\u0007\":{" + w + "}}", 16)));
        out.add(new Case("dtype-with-control-chars", file(
                "{\"w\":{\"dtype\":\"F32\\u001b[2J\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16)));
        out.add(new Case("header-not-json", file("{\"w\": [unclosed", 16)));
        out.add(new Case("header-length-beyond-the-file", withHeaderLength(file("{\"w\":{" + w + "}}", 16), 1L << 40)));
        out.add(new Case("header-length-2^64-minus-1", withHeaderLength(file("{\"w\":{" + w + "}}", 16), -1L)));
        out.add(new Case("header-length-zero", withHeaderLength(file("{\"w\":{" + w + "}}", 16), 0)));
        byte[] whole = file("{\"w\":{" + w + "}}", 16);
        out.add(new Case("truncated-in-the-data", java.util.Arrays.copyOf(whole, whole.length - 8)));
        out.add(new Case("truncated-in-the-header", java.util.Arrays.copyOf(whole, 20)));
        out.add(new Case("shorter-than-its-length-field", new byte[] {1, 2, 3}));
        out.add(new Case("metadata-not-strings", file("{\"__metadata__\":{\"cairn.step\":[1,2]},\"w\":{" + w + "}}", 16)));
        out.add(new Case("metadata-step-not-a-number", file(
                "{\"__metadata__\":{\"cairn.run\":\"r\",\"cairn.step\":\"abc\"},\"w\":{" + w + "}}", 16)));
        return out;
    }

    /**
     * A file whose header lists {@code tensors} tensors of shape [0] (no data at all): about 64 header bytes each. The
     * header of a million of them is 64 MB; what an import keeps per tensor is what bounds its memory.
     */
    public static byte[] manyEmptyTensors(int tensors) {
        StringBuilder b = new StringBuilder(tensors * 64 + 2).append('{');
        for (int i = 0; i < tensors; i++) {
            b.append(i == 0 ? "" : ",").append("\"t").append(i).append("\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
        }
        return file(b.append('}').toString(), 0);
    }

    /** A file of {@code header} (padded to 8 bytes as writers do) and {@code dataBytes} bytes of data. */
    public static byte[] file(String header, int dataBytes) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(json);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        for (int i = 0; i < dataBytes; i++) {
            b.put((byte) i);
        }
        return b.array();
    }

    private static byte[] withHeaderLength(byte[] file, long length) {
        byte[] copy = file.clone();
        ByteBuffer.wrap(copy).order(ByteOrder.LITTLE_ENDIAN).putLong(0, length);
        return copy;
    }
}
