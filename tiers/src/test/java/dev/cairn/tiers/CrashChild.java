package dev.cairn.tiers;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
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
 * The process {@link CrashTest} kills. It resumes from the newest committed step it finds (a restore, checked
 * byte for byte against {@link #state}), then saves step after step forever: every step into an in-memory tier,
 * every {@value #DISK_EVERY}-th also promoted to disk, with differential chunks (XOR against the previous version)
 * in the memory tier and contents that recur (dedup). It says on stdout where it is, one line per phase, flushed
 * before the phase starts:
 * <pre>
 * ready | restoring S | resumed S ok | resumed S WRONG entry
 * saving S | captured S | committed S chunks=C written=W bytes=B raw=R (memory) | promoting S | durable S (disk)
 * gc-start S | gc S
 * checking S | checked S ok tier=T | checked S WRONG entry tier=T   (a restore of the newest step, from memory)
 * </pre>
 * The memory tier dies with this process; the restores it prints are what checks it. After a kill only the disk
 * tier is left, and the test checks that.
 */
public final class CrashChild {
    static final String RUN = "crash";
    static final int CHUNK = 64 << 10;
    /** Disk takes every third step: the others live in memory only and die with the process. */
    static final int DISK_EVERY = 3;
    /** Committed steps the disk keeps; retention removes older ones, which the test must tell from a loss. */
    static final int DISK_KEEP = 3;
    static final int MEMORY_KEEP = 3;
    /** A whole chunk every 4 versions: chains of up to 3 differences in memory. */
    static final int FULL_EVERY = 4;

    private CrashChild() {
    }

    /**
     * The state of {@code step}. "frozen" never changes (each save finds it stored); "weights" changes in two small
     * spots per chunk each step (stored as a difference to the previous step in memory); "cycle" comes back every 5
     * steps (found stored, or stored again if GC took it); "moments" changes every third step; a blob names the step.
     */
    static TrainingState state(long step) {
        return TrainingState.builder()
                .add(tensor("frozen", 512 << 10, 1))
                .add(weights(step))
                .add(tensor("cycle", (256 << 10) + 7, 3000 + step % 5))
                .add(tensor("moments", (256 << 10) + 12_345, 5000 + step / 3))
                .add(Blob.ofUtf8("loader", "{\"step\":" + step + "}"))
                .build();
    }

    /** 1 MiB and a bit: a fixed base with, in every chunk, 512 bytes at a place that moves with the step set from it. */
    private static Tensor weights(long step) {
        int bytes = (1 << 20) + 4321;
        ByteBuffer b = fill(ByteBuffer.allocateDirect(bytes), 2);
        int spot = (int) ((step * 4099) % (CHUNK - 512));
        for (int chunk = 0; chunk < bytes; chunk += CHUNK) {
            for (int i = 0; i < 512 && chunk + spot + i < bytes; i++) {
                b.put(chunk + spot + i, (byte) (step * 31 + i));
            }
        }
        return Tensor.of("weights", DType.U8, new long[] {bytes}, b);
    }

    private static Tensor tensor(String name, int bytes, long seed) {
        return Tensor.of(name, DType.U8, new long[] {bytes}, fill(ByteBuffer.allocateDirect(bytes), seed));
    }

    private static ByteBuffer fill(ByteBuffer b, long seed) {
        // A cheap mix of (seed, position), so that a step's state costs far less to make than to save.
        long i = 0;
        while (b.remaining() >= 8) {
            long x = (seed * 0x9E3779B97F4A7C15L) + (i++ * 0xBF58476D1CE4E5B9L);
            b.putLong(x ^ (x >>> 31));
        }
        while (b.hasRemaining()) {
            b.put((byte) (seed + i++));
        }
        return b.flip();
    }

    /** The config of the child (with its memory tier) or of the test's check (disk only, {@code memory} null). */
    static CairnConfig config(FileSystemObjectStore disk, MemoryObjectStore memory) {
        CairnConfig.Builder b = CairnConfig.builder(RUN).chunkBytes(CHUNK).stagingBytes(16L << 20).encoderThreads(2)
                .differential(FULL_EVERY).gcGrace(Duration.ZERO)
                // A bound on a hang, never reached in a healthy run: generous for a 2-core machine loaded by other builds.
                .deadline(Duration.ofSeconds(120));
        if (memory != null) {
            b.tier(TierConfig.of("memory", memory).compressionLevel(1).keepLast(MEMORY_KEEP));
        }
        return b.tier(TierConfig.of("disk", disk).everySteps(memory == null ? 1 : DISK_EVERY).keepLast(DISK_KEEP)).build();
    }

    /** The name of the first entry of {@code actual} whose bytes (or kind or size) differ from {@code expected}'s, or null. */
    static String firstDifference(TrainingState expected, TrainingState actual) {
        List<Entry> a = expected.entries();
        List<Entry> b = actual.entries();
        if (a.size() != b.size()) {
            return "entry count " + b.size() + " instead of " + a.size();
        }
        for (int i = 0; i < a.size(); i++) {
            Entry x = a.get(i);
            Entry y = b.get(i);
            if (!x.name().equals(y.name()) || x.getClass() != y.getClass() || x.byteSize() != y.byteSize()
                    || Fixtures.concat(x).compareTo(Fixtures.concat(y)) != 0) {
                return x.name();
            }
        }
        return null;
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             Checkpointer cp = Checkpointer.open(config(disk, memory))) {
            say("ready");
            List<CheckpointInfo> existing = cp.list();
            long step = 0;
            if (!existing.isEmpty()) {
                say("restoring " + existing.get(0).step());
                RestoreResult r = cp.restore(RestoreRequest.latest());
                String wrong = firstDifference(state(r.step()), r.state());
                say("resumed " + r.step() + (wrong == null ? " ok" : " WRONG " + wrong));
                step = r.step();
            }
            while (true) {
                step++;
                TrainingState state = state(step);
                say("saving " + step);
                CheckpointHandle h = cp.save(step, state);
                say("captured " + step);
                dev.cairn.CommitReport m = h.committed("memory").join();
                say("committed " + step + " chunks=" + m.chunks() + " written=" + m.chunksWritten() + " bytes=" + m.bytesWritten()
                        + " raw=" + m.rawBytes());
                if (h.tiers().contains("disk")) {
                    say("promoting " + step);
                    h.committed("disk").join();
                    say("durable " + step);
                }
                h.done().join();
                if (step % 4 == 0) {
                    say("gc-start " + step);
                    cp.gc(false);
                    say("gc " + step);
                }
                if (step % 5 == 0) {
                    // The memory tier's newest step, read back through its chains of differences.
                    say("checking " + step);
                    RestoreResult r = cp.restore(RestoreRequest.step(step));
                    String wrong = firstDifference(state, r.state());
                    say("checked " + step + (wrong == null ? " ok" : " WRONG " + wrong) + " tier=" + r.tier());
                }
            }
        }
    }
}
