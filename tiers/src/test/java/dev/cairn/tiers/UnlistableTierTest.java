package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * A tier whose listings fail is not an empty tier: at 10,000 ranks restoring at once, S3 answered the ranks' listings
 * of the steps prefix with SlowDown, and 4,738 of 5,000 simulated ranks were told NOT_FOUND "no committed checkpoint",
 * on which a job starts from scratch and loses its run. The restore now fails with STORAGE (retryable) instead, and
 * still falls back to a tier that can be listed.
 */
class UnlistableTierTest {
    private static TrainingState state() {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 50_000, 3)).build();
    }

    /** {@code store} whose listings fail while {@code refusing} is set, as S3's SlowDown answers do. */
    private static ForwardingObjectStore refusingListings(MemoryObjectStore store, AtomicBoolean refusing) {
        return new ForwardingObjectStore(store) {
            @Override
            public List<ObjectInfo> list(String prefix) throws IOException {
                if (refusing.get()) {
                    throw new IOException("503 SlowDown: reduce your request rate (listing " + prefix + ")");
                }
                return super.list(prefix);
            }

            @Override
            public List<String> listFolders(String prefix) throws IOException {
                if (refusing.get()) {
                    throw new IOException("503 SlowDown: reduce your request rate (listing the folders of " + prefix + ")");
                }
                return super.listFolders(prefix);
            }
        };
    }

    @Test
    void aRestoreFromTiersThatCannotBeListedFailsWithStorageNotNotFound() throws Exception {
        AtomicBoolean refusing = new AtomicBoolean();
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            ForwardingObjectStore s3Like = refusingListings(mem, refusing);
            try (Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("s3", s3Like)).build())) {
                cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
            }
            refusing.set(true);
            try (Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("s3", s3Like)).build())) {
                CheckpointException e = assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest()));
                assertEquals(CheckpointException.Reason.STORAGE, e.reason(), e.getMessage());
                assertTrue(e.getMessage().contains("could not list") && e.getMessage().contains("s3")
                        && e.getMessage().contains("SlowDown"), e.getMessage());
            }
            refusing.set(false);
            try (Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("s3", s3Like)).build())) {
                assertEquals(1, cp.restore(RestoreRequest.latest()).step(), "the checkpoint was there all along");
            }
        }
        try (MemoryObjectStore empty = new MemoryObjectStore(1 << 20);
             Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("mem", empty)).build())) {
            assertEquals(CheckpointException.Reason.NOT_FOUND,
                    assertThrows(CheckpointException.class, () -> cp.restore(RestoreRequest.latest())).reason(),
                    "a tier that answers with nothing is still NOT_FOUND");
        }
    }

    @Test
    void aTierThatCannotBeListedBesideOneThatCanIsSkipped() throws Exception {
        AtomicBoolean refusing = new AtomicBoolean();
        try (MemoryObjectStore peer = new MemoryObjectStore(64L << 20); MemoryObjectStore disk = new MemoryObjectStore(64L << 20)) {
            ForwardingObjectStore lostPeer = refusingListings(peer, refusing);
            try (Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("peer", lostPeer))
                    .tier(TierConfig.of("disk", disk)).build())) {
                cp.save(1, state()).done().get(30, TimeUnit.SECONDS);
            }
            refusing.set(true); // the node holding peer memory is gone: restore from the next tier
            try (Checkpointer cp = Checkpointer.open(smallConfig("r").tier(TierConfig.of("peer", lostPeer))
                    .tier(TierConfig.of("disk", disk)).build())) {
                var r = cp.restore(RestoreRequest.latest());
                assertEquals(1, r.step());
                assertEquals("disk", r.tier());
            }
        }
    }
}
