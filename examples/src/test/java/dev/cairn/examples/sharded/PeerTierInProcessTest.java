package dev.cairn.examples.sharded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.flight.PeerMemoryStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Four ranks in one JVM, each with its own peer-memory store of one Flight group: saves commit and restore. */
class PeerTierInProcessTest {
    @Test
    void fourRanksSaveManyStepsThroughThePeerTier() throws Exception {
        int world = 4;
        List<InetSocketAddress> peers = RankProcess.freeLoopbackAddresses(world);
        List<PeerMemoryStore> stores = new ArrayList<>();
        List<Checkpointer> ranks = new ArrayList<>();
        List<ShardedModel> models = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                stores.add(PeerTier.open(r, peers, 1, 512L << 20));
            }
            for (int r = 0; r < world; r++) {
                ranks.add(peerOnly("inproc", r, world, stores.get(r)));
                models.add(new ShardedModel(r, world, 1));
            }
            for (long step = 1; step <= 8; step++) {
                System.out.println("step " + step + " committed in " + stepAndSave(step, models, ranks) + " ms");
            }
            ShardedModel fresh = new ShardedModel(2, world, 1);
            assertEquals(8, ranks.get(2).restore(RestoreRequest.latest().into(fresh.targets())).step());
            assertEquals(models.get(2).digests(), fresh.digests());
        } finally {
            for (Checkpointer c : ranks) {
                c.close();
            }
            for (PeerMemoryStore s : stores) {
                s.close();
            }
        }
    }

    /**
     * Ranks 1 and 2 die together. With one ring replica, rank 1's slices were only in rank 1's and rank 2's memory,
     * so its replacement reads them from disk, while the MANIFEST and the replicated tensor still come from the
     * surviving peers' memory: one restore, its chunks chosen tier by tier, equal to what rank 1 saved.
     */
    @Test
    void aRankWhoseReplicaDiedTooRestoresFromPeerMemoryAndDiskChunkByChunk(@TempDir Path dir) throws Exception {
        int world = 4;
        List<InetSocketAddress> peers = RankProcess.freeLoopbackAddresses(world);
        List<PeerMemoryStore> stores = new ArrayList<>();
        List<Checkpointer> ranks = new ArrayList<>();
        List<ShardedModel> models = new ArrayList<>();
        FileSystemObjectStore disk = new FileSystemObjectStore(dir);
        try {
            for (int r = 0; r < world; r++) {
                stores.add(PeerTier.open(r, peers, 1, 512L << 20));
            }
            for (int r = 0; r < world; r++) {
                ranks.add(open(r, world, stores.get(r), disk));
                models.add(new ShardedModel(r, world, 1));
            }
            for (long step = 1; step <= 2; step++) {
                stepAndSave(step, models, ranks); // committed in both tiers
            }
            for (PeerMemoryStore s : stores) {
                assertTrue(s.awaitReplication(Duration.ofSeconds(30)), "replicas sent before the loss");
            }
            for (int r = 1; r <= 2; r++) { // both gone, memory and all
                ranks.get(r).close();
                stores.get(r).close();
            }
            stores.set(1, PeerTier.open(1, peers, 1, 512L << 20));
            ShardedModel fresh = new ShardedModel(1, world, 1);
            try (Checkpointer replacement = open(1, world, stores.get(1), disk)) {
                RestoreResult r = replacement.restore(RestoreRequest.latest().into(fresh.targets()));
                assertEquals(2, r.step());
                assertEquals("peer", r.tier(), "the fastest tier holding the MANIFEST");
                assertTrue(r.bytesReadByTier().getOrDefault("peer", 0L) > 0, "replicated tensor from peers: " + r.bytesReadByTier());
                assertTrue(r.bytesReadByTier().getOrDefault("disk", 0L) > 0, "rank 1's own slices from disk: " + r.bytesReadByTier());
                fresh.restored(r.state());
            }
            assertEquals(models.get(1).digests(), fresh.digests());
        } finally { // ranks and peers first: the disk they write to closes after them
            for (int r = 0; r < ranks.size(); r++) {
                ranks.get(r).close();
            }
            for (PeerMemoryStore s : stores) {
                s.close();
            }
            disk.close();
        }
    }

    /**
     * Rank 0 is replaced while its replica target, peer 1, does not answer it for a moment (here: nothing listens at
     * the address the replacement has for it). Rank 0's MANIFESTs are in no other memory than peer 1's now, so the
     * peer tier cannot tell whether any step is committed: the restore must fail as a store that could not be asked
     * (STORAGE), never as "no checkpoint" (NOT_FOUND), on which a job starts from scratch and loses its run. Once
     * peer 1 answers, the same replacement restores the newest step.
     */
    @Test
    void aReplacementWhoseReplicaTargetDoesNotAnswerIsNotToldThereIsNoCheckpoint() throws Exception {
        int world = 2;
        List<InetSocketAddress> addresses = RankProcess.freeLoopbackAddresses(world + 1);
        List<InetSocketAddress> peers = addresses.subList(0, world);
        InetSocketAddress silent = addresses.get(world); // nothing listens there
        List<PeerMemoryStore> stores = new ArrayList<>();
        List<Checkpointer> ranks = new ArrayList<>();
        List<ShardedModel> models = new ArrayList<>();
        try {
            for (int r = 0; r < world; r++) {
                stores.add(PeerTier.open(r, peers, 1, 512L << 20));
            }
            for (int r = 0; r < world; r++) {
                ranks.add(peerOnly("replaced", r, world, stores.get(r)));
                models.add(new ShardedModel(r, world, 1));
            }
            for (long step = 1; step <= 2; step++) {
                stepAndSave(step, models, ranks);
            }
            for (PeerMemoryStore s : stores) {
                assertTrue(s.awaitReplication(Duration.ofSeconds(30)), "replicas sent before the loss");
            }
            ranks.get(0).close(); // rank 0 is lost, memory and all
            stores.get(0).close();
            stores.set(0, PeerTier.open(0, List.of(peers.get(0), silent), 1, 512L << 20));
            ShardedModel fresh = new ShardedModel(0, world, 1);
            try (Checkpointer replacement = peerOnly("replaced", 0, world, stores.get(0))) {
                ranks.set(0, replacement);
                CheckpointException unknown = assertThrows(CheckpointException.class,
                        () -> replacement.restore(RestoreRequest.latest().into(fresh.targets())));
                assertEquals(CheckpointException.Reason.STORAGE, unknown.reason(), unknown.toString());

                stores.get(0).connect(peers); // peer 1 answers again
                RestoreResult r = replacement.restore(RestoreRequest.latest().into(fresh.targets()));
                assertEquals(2, r.step());
                fresh.restored(r.state());
            }
            assertEquals(models.get(0).digests(), fresh.digests());
        } finally {
            for (Checkpointer c : ranks) {
                c.close();
            }
            for (PeerMemoryStore s : stores) {
                s.close();
            }
        }
    }

    /**
     * Every rank takes a training step and saves it; returns the milliseconds from the last save() call until every
     * rank's save is done (committed in every tier).
     */
    private static long stepAndSave(long step, List<ShardedModel> models, List<Checkpointer> ranks) throws Exception {
        List<CheckpointHandle> handles = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            models.get(r).step();
            handles.add(ranks.get(r).save(step, models.get(r).state()));
        }
        long t0 = System.nanoTime();
        for (CheckpointHandle h : handles) {
            h.done().get(60, TimeUnit.SECONDS);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }

    private static Checkpointer peerOnly(String run, int rank, int world, PeerMemoryStore peer) {
        return Checkpointer.open(CairnConfig.builder(run).rank(rank, world).encoderThreads(1)
                .stagingBytes(64L << 20).deadline(Duration.ofSeconds(20)).gcGrace(Duration.ofSeconds(60))
                .tier(TierConfig.of("peer", peer).keepLast(2)).build());
    }

    private static Checkpointer open(int rank, int world, PeerMemoryStore peer, FileSystemObjectStore disk) {
        return Checkpointer.open(CairnConfig.builder("mixed").rank(rank, world).encoderThreads(1)
                .stagingBytes(64L << 20).deadline(Duration.ofSeconds(20)).gcGrace(Duration.ofSeconds(60))
                .tier(TierConfig.of("peer", peer).keepLast(2))
                .tier(TierConfig.of("disk", disk).keepLast(2)).build());
    }
}
