/**
 * JMH microbenchmarks of the engine's per-chunk kernels: the 128-bit content hashes (XXH3-128 and the
 * format-2 MurmurHash3) and zstd on a 4 MiB fp32 chunk, through the engine's public {@code dev.cairn.tiers.Kernels}
 * (the engine's own codec and hash classes behind a small door, so the figures are the engine's).
 * Not run in CI. Run them from the packaged CLI's class path, for example
 * {@code java --add-opens=java.base/java.nio=ALL-UNNAMED -cp cli/target/cairn.jar org.openjdk.jmh.Main -f 1 -wi 3 -i 5 ChunkHash}.
 */
package dev.cairn.bench.jmh;
