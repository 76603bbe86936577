package dev.cairn.tiers.internal.manifest;

import dev.cairn.DType;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * Writes and reads back a manifest of {@code args[0]} rows (one tensor of that many 4 KiB chunks) and exits 0, for
 * {@link HostileManifestTest} to run in a JVM with a small heap.
 */
public final class BigManifestChild {
    private BigManifestChild() {
    }

    public static void main(String[] args) {
        int rows = Integer.parseInt(args[0]);
        int chunk = 4096;
        List<ChunkRef> chunks = new ArrayList<>(rows);
        for (int c = 0; c < rows; c++) {
            chunks.add(new ChunkRef((long) c * chunk, chunk, String.format("%032x", c), "zstd", 100));
        }
        EntryRecord big = new EntryRecord("big", true, DType.F32, new long[] {rows, chunk / 4}, (long) rows * chunk, 0, chunks);
        Manifest m = new Manifest(ManifestFormat.FORMAT_VERSION, "run", 1, 1, 0, Instant.EPOCH, chunk, List.of(big));
        chunks = null;
        big = null;
        try (BufferAllocator allocator = new RootAllocator()) {
            byte[] bytes = ManifestFormat.write(m, "manifest", allocator);
            m = null;
            Manifest read = ManifestFormat.read(ByteBuffer.wrap(bytes), "big manifest", allocator);
            if (read.chunkCount() != rows) {
                throw new IllegalStateException("read " + read.chunkCount() + " chunks of " + rows);
            }
            System.out.println("read " + rows + " rows from " + bytes.length + " bytes");
        }
    }
}
