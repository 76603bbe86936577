package dev.cairn.tiers;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The process {@link CrashTest} kills: saves step after step forever, continuing after the newest committed step
 * it finds on disk, and says on stdout where it is ({@code saving}, {@code captured}, {@code committed}, {@code gc}).
 */
public final class CrashChild {
    static final String RUN = "crash";
    static final int CHUNK = 64 << 10;

    private CrashChild() {
    }

    /** The state of {@code step}: one tensor never changes, one changes every step, one every third step. */
    static TrainingState state(long step) {
        return TrainingState.builder()
                .add(tensor("frozen", 4 << 20, 1))
                .add(tensor("weights", 3 << 20, 1000 + step))
                .add(tensor("moments", (1 << 20) + 12_345, 5000 + step / 3))
                .add(Blob.ofUtf8("loader", "{\"step\":" + step + "}"))
                .build();
    }

    private static Tensor tensor(String name, int bytes, long seed) {
        // A cheap mix of (seed, position), so that a step's state costs far less to make than to save.
        ByteBuffer b = ByteBuffer.allocateDirect(bytes);
        long i = 0;
        while (b.remaining() >= 8) {
            long x = (seed * 0x9E3779B97F4A7C15L) + (i++ * 0xBF58476D1CE4E5B9L);
            b.putLong(x ^ (x >>> 31));
        }
        while (b.hasRemaining()) {
            b.put((byte) (seed + i++));
        }
        return Tensor.of(name, DType.U8, new long[] {bytes}, b.flip());
    }

    static CairnConfig config(Path dir, FileSystemObjectStore disk, MemoryObjectStore memory) {
        CairnConfig.Builder b = CairnConfig.builder(RUN).chunkBytes(CHUNK).stagingBytes(16L << 20).encoderThreads(2)
                .gcGrace(Duration.ZERO).deadline(Duration.ofSeconds(30));
        if (memory != null) {
            b.tier(TierConfig.of("memory", memory).keepLast(1));
        }
        return b.tier(TierConfig.of("disk", disk).keepLast(2)).build();
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(config(dir, disk, memory))) {
            List<CheckpointInfo> existing = cp.list();
            long step = existing.isEmpty() ? 0 : existing.get(0).step();
            System.out.println("ready " + step);
            while (true) {
                step++;
                TrainingState state = state(step);
                System.out.println("saving " + step);
                CheckpointHandle h = cp.save(step, state);
                System.out.println("captured " + step);
                h.done().join();
                System.out.println("committed " + step);
                if (step % 2 == 0) {
                    cp.gc(false);
                    System.out.println("gc " + step);
                }
            }
        }
    }
}
