/**
 * The peer-memory tier: each training process keeps its checkpoint objects in off-heap memory, serves them to the
 * other processes over Arrow Flight (the bytes of reads over a plain TCP lane beside it, {@code BulkServer}, where it
 * can be reached), and replicates what it writes to k peers in the background, so that a lost node's checkpoint is
 * still in RAM elsewhere. Every peer sees the union of the reachable peers' objects. Entry
 * points: {@link dev.cairn.backend.flight.PeerMemoryConfig} and {@link dev.cairn.backend.flight.PeerMemoryStore}.
 * Depends on the API, the memory tier and Arrow Flight (gRPC on the same Netty as the AWS SDK).
 */
package dev.cairn.backend.flight;
