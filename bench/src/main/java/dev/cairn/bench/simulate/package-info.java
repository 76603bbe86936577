/**
 * The scale simulation ({@code cairn bench --simulate}): thousands of ranks run the engine's own metadata path (index
 * writes, the multi-rank commit, retention and garbage collection, restore planning) against one
 * {@link dev.cairn.testkit.SimulatedObjectStore} with S3's request rates and latencies, in one process on simulated
 * time. {@link dev.cairn.bench.simulate.ScaleSimulation} drives it; {@code dev.cairn.bench.ScaleReport} prints it.
 */
package dev.cairn.bench.simulate;
