package dev.cairn.bench;

import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

/**
 * What both benchmarks start from: the machine they run on and its load, the synthetic fp32 state, and a target of
 * the same shape (already written once, so that its pages are touched).
 */
record PreparedState(MachineInfo machine, double loadBefore, SyntheticState state, List<ByteBuffer> target) {
    /** The seed of every benchmark's state, so that runs compare on the same bytes. */
    static final long SEED = 20240611L;

    /**
     * Fails before anything is allocated when this JVM lacks the direct memory for a {@code stateBytes} state and
     * its copy target.
     */
    static void requireDirectMemory(long stateBytes) {
        long need = EndToEndBenchmark.directBytesNeeded(stateBytes);
        long have = MachineInfo.directMemoryLimit();
        if (need > have) {
            throw new IllegalStateException("a " + ByteSize.format(stateBytes) + " state needs "
                    + ByteSize.format(need) + " of direct memory but this JVM allows " + ByteSize.format(have)
                    + ": run java with -XX:MaxDirectMemorySize=" + ((need >> 30) + 1) + "g, or choose a smaller --size");
        }
    }

    /** Describes the machine (with {@code work}'s file system) to {@code log}, then generates the state. */
    static PreparedState prepare(long stateBytes, int chunkBytes, Path work, PrintStream log) {
        MachineInfo machine = MachineInfo.probe(work);
        double loadBefore = MachineInfo.loadAverage();
        log.println("machine: " + machine.describe());
        log.printf("generating %s of fp32 state ~ N(0, 0.02) in direct buffers...%n", ByteSize.format(stateBytes));
        SyntheticState state = SyntheticState.generate(stateBytes, chunkBytes, SEED);
        List<ByteBuffer> target = SyntheticState.allocateLike(state.tensorSizes());
        Baselines.copy(state.buffers(), target);
        return new PreparedState(machine, loadBefore, state, target);
    }
}
