/**
 * The end-to-end benchmark of Cairn: {@link dev.cairn.bench.EndToEndBenchmark} measures the save stall, persist
 * throughput and restore throughput of the real engine on real backends, and in the same run, on the same bytes,
 * the machine's own limits for each (a plain off-heap copy, a sequential write with fsync, a sequential read plus
 * zstd decode). Every figure is reported beside its limit. {@link dev.cairn.bench.S3Benchmark} ({@code cairn bench
 * --s3}) sets the engine on the S3 backend beside the AWS SDK's S3 TransferManager moving the same bytes through an
 * embedded S3Proxy. {@link dev.cairn.bench.ScaleReport} prints the scale simulation of {@code dev.cairn.bench.simulate}
 * ({@code cairn bench --simulate --ranks N}: thousands of ranks on the engine's metadata path against a simulated
 * S3, on simulated time). JMH microbenchmarks of the kernels live in {@code dev.cairn.bench.jmh}. The bench reaches
 * the engine only through public API: {@code dev.cairn} (the checkpointer and {@code CheckpointAdmin}) and
 * {@code dev.cairn.tiers.Kernels} for the codec and hash kernels, except {@code dev.cairn.bench.simulate}, which drives
 * the engine's internal multi-rank commit, GC and restore-plan classes directly: it runs the metadata path of thousands
 * of ranks in one JVM on simulated time, which no public API offers.
 */
package dev.cairn.bench;
