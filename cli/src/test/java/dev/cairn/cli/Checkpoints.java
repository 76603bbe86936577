package dev.cairn.cli;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Checkpoints written by the library itself, and their expected bytes, for the command tests. */
final class Checkpoints {
    static final int CHUNK = 4096;
    static final String RUN = "run-a";

    private Checkpoints() {
    }

    /** A state of three tensors and a blob; {@code version} changes only the first 4 KiB chunk of "layer0.weight". */
    static Map<String, byte[]> state(int version) {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("layer0.weight", random(64 * 64 * 4, 1));                 // F32 [64, 64]: 4 chunks
        s.get("layer0.weight")[7] = (byte) version;
        s.put("layer0.bias", random(100 * 2, 2));                       // BF16 [100]
        s.put("optimizer/step", random(3 * 5 * 8, 3));                  // I64 [3, 5]
        s.put("rng", ("rng-state-" + "x".repeat(50)).getBytes());       // blob
        return s;
    }

    static TrainingState toState(Map<String, byte[]> bytes) {
        return TrainingState.builder()
                .tensor("layer0.weight", DType.F32, new long[] {64, 64}, direct(bytes.get("layer0.weight")))
                .tensor("layer0.bias", DType.BF16, new long[] {100}, direct(bytes.get("layer0.bias")))
                .tensor("optimizer/step", DType.I64, new long[] {3, 5}, direct(bytes.get("optimizer/step")))
                .blob("rng", bytes.get("rng"))
                .build();
    }

    static CairnConfig config(String run, ObjectStore store) {
        return CairnConfig.builder(run)
                .tier(TierConfig.of("disk", store).keepLast(100))
                .chunkBytes(CHUNK)
                .encoderThreads(2)
                .stagingBytes(64L << 20)
                .build();
    }

    /** Saves each of {@code steps} (state version = step) and waits until committed. */
    static void save(ObjectStore store, String run, long... steps) {
        try (Checkpointer cp = Checkpointer.open(config(run, store))) {
            for (long step : steps) {
                cp.save(step, toState(state((int) step))).done().join();
            }
        }
    }

    /** Every entry of {@code step} restored by the library, as bytes. */
    static Map<String, byte[]> restore(ObjectStore store, String run, long step) {
        try (Checkpointer cp = Checkpointer.open(config(run, store))) {
            RestoreResult r = cp.restore(RestoreRequest.step(step));
            Map<String, byte[]> out = new LinkedHashMap<>();
            r.state().entries().forEach(e -> out.put(e.name(), bytes(e.buffers())));
            return out;
        }
    }

    static boolean sameBytes(Map<String, byte[]> a, Map<String, byte[]> b) {
        if (!a.keySet().equals(b.keySet())) {
            return false;
        }
        return a.keySet().stream().allMatch(k -> Arrays.equals(a.get(k), b.get(k)));
    }

    static byte[] bytes(List<ByteBuffer> buffers) {
        int n = buffers.stream().mapToInt(ByteBuffer::remaining).sum();
        ByteBuffer out = ByteBuffer.allocate(n);
        buffers.forEach(b -> out.put(b.duplicate()));
        return out.array();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static ByteBuffer direct(byte[] b) {
        return ByteBuffer.allocateDirect(b.length).order(ByteOrder.LITTLE_ENDIAN).put(b).flip();
    }
}
