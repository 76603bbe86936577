package dev.cairn.backend.fs;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The child JVM of the crash test: puts large objects in a loop, printing each key once its put returned, until
 * it is killed. Every object's bytes follow from its key and a generation written in its first 8 bytes, so the
 * parent can check any object it finds without knowing how far the child got.
 */
public final class CrashingWriter {
    private CrashingWriter() {
    }

    public static void main(String[] args) throws Exception {
        FileSystemObjectStore store = new FileSystemObjectStore(Path.of(args[0]));
        ByteBuffer buffer = ByteBuffer.allocateDirect(maxSize());
        for (long generation = 1; ; generation++) {
            String fresh = "fresh/" + (generation % 4) + "/" + generation;
            store.put(fresh, fill(buffer, fresh, generation));
            System.out.println(fresh);
            String hot = "hot/" + (generation % 3); // replaced again and again: a kill must leave old or new
            store.put(hot, fill(buffer, hot, generation));
            System.out.println(hot);
            System.out.flush();
        }
    }

    /** Size of the object {@code key} has in {@code generation}: 1 to 5 MiB, not a round number. */
    static int sizeOf(String key, long generation) {
        return (1 << 20) + new SplittableRandom(seed(key, generation)).nextInt(4 << 20);
    }

    static int maxSize() {
        return 5 << 20;
    }

    /** Writes the object {@code key} has in {@code generation} into {@code buffer}, ready to read. */
    static ByteBuffer fill(ByteBuffer buffer, String key, long generation) {
        int size = sizeOf(key, generation);
        buffer.clear();
        buffer.putLong(generation);
        SplittableRandom random = new SplittableRandom(~seed(key, generation));
        while (buffer.position() + 8 <= size) {
            buffer.putLong(random.nextLong());
        }
        while (buffer.position() < size) {
            buffer.put((byte) random.nextInt());
        }
        return buffer.flip();
    }

    private static long seed(String key, long generation) {
        return key.hashCode() * 0x9E3779B97F4A7C15L + generation;
    }
}
