package dev.cairn.backend.flight;

/**
 * Counters of one {@link PeerMemoryStore} since it started, as of one moment.
 *
 * @param bytesReplicated   bytes of replicas this peer sent and its targets accepted
 * @param replicasSent      replicas this peer sent and its targets accepted, at their first try or a later one
 * @param replicasDropped   replicas not sent at their first try: queue full past the put's deadline, target down or
 *                          failing; those whose target did not answer or whose queue was full are tried again later
 * @param replicasRefused   replicas this peer's targets refused at their first try because they were over their
 *                          memory limit; tried again later, with a growing pause, until taken or deleted here
 * @param replicationLagBytes bytes queued for replication or being sent now
 * @param replicasReceived  replicas other peers sent to this one and it holds
 * @param replicasRejected  replicas other peers sent to this one that it refused for its memory limit
 * @param readsLocal        reads served from this peer's own memory
 * @param readsFromPeers    reads served by another peer
 * @param bytesReadFromPeers bytes of the reads served by another peer
 * @param peerCallFailures  reads, stats, lists, deletes and create checks that failed at another peer (down,
 *                          unreachable, past the deadline, or answering with an error); replicas count as dropped
 * @param replicasKept      create-only replicas (chunks) other peers sent to this one while it held an object under
 *                          the key already (its own, perhaps in another stored form, or another peer's replica): it
 *                          kept that object, did not take the replica, and answered as if it had
 */
public record PeerMemoryMetrics(long bytesReplicated, long replicasSent, long replicasDropped, long replicasRefused,
                                long replicationLagBytes, long replicasReceived, long replicasRejected, long readsLocal,
                                long readsFromPeers, long bytesReadFromPeers, long peerCallFailures, long replicasKept) {
}
