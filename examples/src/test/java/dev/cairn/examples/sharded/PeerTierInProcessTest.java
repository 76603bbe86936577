package dev.cairn.examples.sharded;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.backend.flight.PeerMemoryStore;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

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
                ranks.add(Checkpointer.open(CairnConfig.builder("inproc").rank(r, world).encoderThreads(1)
                        .stagingBytes(64L << 20).deadline(Duration.ofSeconds(20)).gcGrace(Duration.ofSeconds(60))
                        .tier(TierConfig.of("peer", stores.get(r)).keepLast(2)).build()));
                models.add(new ShardedModel(r, world, 1));
            }
            for (long step = 1; step <= 8; step++) {
                List<CheckpointHandle> handles = new ArrayList<>();
                for (int r = 0; r < world; r++) {
                    models.get(r).step();
                    handles.add(ranks.get(r).save(step, models.get(r).state()));
                }
                long t0 = System.nanoTime();
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
                System.out.println("step " + step + " committed in " + (System.nanoTime() - t0) / 1_000_000 + " ms");
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
}
