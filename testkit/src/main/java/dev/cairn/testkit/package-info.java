/**
 * Shared tests for Cairn's plug-in points and the tools they need. Each SPI has one contract suite here and every
 * implementation's test extends it, so a new backend proves itself against the same rules the engine relies on.
 * {@code FaultyObjectStore} wraps any store with seeded faults; {@code FaultyTcpProxy} sits on loopback in front of
 * any TCP server and breaks its connections by a seeded schedule (resets, stalls, half-open connections, slow links,
 * truncated and bit-flipped answers, lost answers), and {@code FaultyHttpProxy} answers chosen HTTP requests with S3
 * errors; {@code EmbeddedS3} runs an S3-compatible server in-process for tests and the demo.
 * {@code SimulatedObjectStore} stands in for S3 at scale: it counts requests by kind, prefix and key, refuses what
 * exceeds S3's per-prefix rates with SlowDown, and charges latency on a {@code SimulatedClock} instead of sleeping,
 * optionally keeping only the size and hash of large objects. {@code HostileStores} and {@code HostileSafetensors}
 * are a corpus of hostile inputs (manifests edited by {@code ManifestEdit} with a matching digest, chunks replaced by
 * directories, FIFOs and links, lying safetensors headers) that every CLI command is run against. Main-scope code
 * depending on JUnit, used by other modules at test scope.
 */
package dev.cairn.testkit;
