package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.DType;
import dev.cairn.GcReport;
import dev.cairn.RestoreRequest;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.Scratch;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.TierCommitter;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.promote.Promoter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Predicate;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * A promotion that finds a chunk held in the target as a differential chain may count on that chain only once it has
 * pinned it: a sweep of the target can take a base that no pin holds yet. Before, the promoter checked the chain
 * (every link present and young) and pinned it after, ignoring what the pin said; a sweep in between left the step
 * naming a chain with a link gone, which the commit's confirmation then failed with STORAGE (a step not persisted
 * for no reason). Now the chain is pinned first and judged under the pins; one that lost a link is let go and the
 * chunk copied whole from the source, over the broken chain.
 *
 * <p>The window is the promoter's own, between two calls of the catalog with no store call between them, so no
 * fixture can stop the promoter inside it; the test makes it likely instead, and repeats. The target holds every
 * chunk of the step as a chain of 63 links (the longest there is, which widens the window). A sweeper thread, as the
 * target's collector would, deletes the nearest base of every other chunk as soon as the promotion has pinned the
 * chain of the chunk before it, so that the deletion falls around the promoter's look at that chunk. Before the fix
 * 6 to 17 of the 100 trials failed in each of six runs (on 2 busy cores); with it every trial commits, whenever the
 * base goes. A machine too busy to run the sweeper in time lets the old code pass, never the new one fail. First, a
 * base swept before the promotion starts shows the path the race leads to now: the chunk is copied whole.
 */
class PromotionBesideASweepTest {
    private static final String RUN = "chainpin";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);
    private static final int FLOATS = 1024;
    /** Tensors, a chunk each; the sweeper goes for every other one. */
    private static final int CHUNKS = 16;
    /** Versions of each chunk saved into the slower tier: a whole one and 63 differential links on it. */
    private static final int VERSIONS = CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY;
    private static final int TRIALS = 100;

    @Test
    void aBaseSweptBeforeThePromotionPinsTheChainMakesItCopyTheChunkInsteadOfFailingTheStep() throws Exception {
        List<ByteBuffer> tensors = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(5);
        for (int t = 0; t < CHUNKS; t++) {
            ByteBuffer w = ByteBuffer.allocateDirect(FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < FLOATS; i++) {
                w.putFloat(i * 4, (float) random.nextGaussian());
            }
            tensors.add(w);
        }
        try (MemoryObjectStore fast = new MemoryObjectStore(256L << 20);
             MemoryObjectStore slow = new MemoryObjectStore(256L << 20);
             RootAllocator alloc = new RootAllocator()) {
            // The slower tier was the first tier of an earlier run of this configuration: each version of a chunk
            // was stored there as the difference against the one before.
            try (Checkpointer cp = Checkpointer.open(config().differential(VERSIONS)
                    .tier(TierConfig.of("slow", slow).compressionLevel(1).keepLast(1)).build())) {
                for (int v = 1; v <= VERSIONS; v++) {
                    for (ByteBuffer w : tensors) {
                        w.putFloat(v * 4, v);
                    }
                    cp.save(v, state(tensors), SaveMode.COPY).done().get(30, TimeUnit.SECONDS);
                }
            }
            // The faster tier holds the same content whole: the step to promote.
            try (Checkpointer cp = Checkpointer.open(config().tier(TierConfig.of("fast", fast)).build())) {
                cp.save(1, state(tensors), SaveMode.COPY).done().get(30, TimeUnit.SECONDS);
            }
            Manifest step = read(fast, 1, alloc);
            Map<String, ChunkRef> heldByHash = new HashMap<>();
            for (EntryRecord e : read(slow, VERSIONS, alloc).entries()) {
                ChunkRef c = e.chunks().get(0);
                assertEquals(VERSIONS - 1, c.bases().size(), "a chain of " + (VERSIONS - 1) + " links: " + c.bases());
                heldByHash.put(c.hash(), c);
            }
            // In the order the promoter looks at them: the step's.
            List<List<String>> chains = new ArrayList<>();
            for (EntryRecord e : step.entries()) {
                ChunkRef held = heldByHash.get(e.chunks().get(0).hash());
                List<String> chain = new ArrayList<>();
                chain.add(held.hash());
                chain.addAll(held.bases());
                chains.add(chain);
            }
            assertEquals(CHUNKS, chains.size(), "the slower tier holds the step's content");
            Map<String, ByteBuffer> stored = new HashMap<>();
            for (List<String> chain : chains) {
                for (String h : chain) {
                    stored.put(h, slow.readAll(LAYOUT.chunkKey(h)));
                }
            }

            try (BufferAllocator scratch = Scratch.newRoot();
                 Tier source = new Tier(TierConfig.of("fast", fast), 0, LAYOUT, 1);
                 Tier target = new Tier(TierConfig.of("slow", slow).compressionLevel(1), 1, LAYOUT, 2);
                 Promoter promoter = new Promoter(Runnable::run, scratch, Duration.ofMinutes(10))) {
                TierCommitter committer = new TierCommitter(target, new CommitProtocol(alloc), RUN, noRetention(), null);
                ChunkCatalog to = target.catalog();
                // A chain that lost a link before the promotion looks at it is let go: that chunk is copied whole.
                holdChains(to, slow, chains, stored, 998);
                sweepNow(to, slow, chains.get(0).get(1));
                CompletableFuture<CommitReport> first = new CompletableFuture<>();
                promoter.promote(withStep(step, 999), source, committer, first, () -> true);
                assertEquals(1, first.get(30, TimeUnit.SECONDS).chunksWritten(), "the chunk whose base is gone");

                List<String> failed = new ArrayList<>();
                for (int t = 0; t < TRIALS; t++) {
                    long promoted = 1000 + 2L * t;
                    holdChains(to, slow, chains, stored, promoted - 1);
                    AtomicBoolean stop = new AtomicBoolean();
                    CountDownLatch sweeping = new CountDownLatch(1);
                    Thread sweeper = new Thread(() -> sweep(to, slow, chains, stop, sweeping), "sweeper");
                    sweeper.start();
                    sweeping.await();
                    CompletableFuture<CommitReport> done = new CompletableFuture<>();
                    try {
                        promoter.promote(withStep(step, promoted), source, committer, done, () -> true);
                        done.get(30, TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        failed.add("trial " + t + ": " + e.getCause().getMessage());
                    } finally {
                        stop.set(true);
                        sweeper.join();
                    }
                }
                assertTrue(failed.isEmpty(), () -> failed.size() + " of " + TRIALS + " promotions failed: " + failed.get(0));
            }
            // What the last trial committed restores, through whatever form the target holds each chunk in.
            try (Checkpointer cp = Checkpointer.open(config().tier(TierConfig.of("slow", slow)).build())) {
                assertSameState(state(tensors), cp.restore(RestoreRequest.latest()).state());
            }
        }
    }

    /**
     * Puts every chain back as the target held it at first, written just now, with a newest step ({@code newest}, the
     * step before the one a trial promotes) that names none of it: a sweep may take any link no one has pinned.
     */
    private static void holdChains(ChunkCatalog to, MemoryObjectStore slow, List<List<String>> chains,
                                   Map<String, ByteBuffer> stored, long newest) throws IOException {
        to.committed(newest, java.util.Set.of());
        for (List<String> chain : chains) {
            for (int i = 0; i < chain.size(); i++) {
                ByteBuffer b = stored.get(chain.get(i));
                slow.put(LAYOUT.chunkKey(chain.get(i)), b.duplicate());
                to.markPresent(chain.get(i), b.remaining(), StoredChunkHeader.codecNameOf(b, 0, b.limit()),
                        chain.subList(i + 1, chain.size()));
            }
        }
    }

    /** A sweep of {@code hash}, as the target's collector runs one; true when it was deleted. */
    private static boolean sweepNow(ChunkCatalog to, MemoryObjectStore slow, String hash, Predicate<String> spare)
            throws IOException {
        long now = System.currentTimeMillis();
        return !to.deleteUnlessPinned(List.of(hash), spare, batch -> {
            for (String h : batch) {
                slow.delete(LAYOUT.chunkKey(h));
            }
        }, now, now).isEmpty();
    }

    private static void sweepNow(ChunkCatalog to, MemoryObjectStore slow, String hash) throws IOException {
        assertTrue(sweepNow(to, slow, hash, h -> false), "deleted");
    }

    /**
     * Sweeps of one base at a time, as the target's collector runs them ({@link ChunkCatalog#deleteUnlessPinned}),
     * over and over until stopped: for every other chunk, its nearest base, spared until the promotion has pinned the
     * chain of the chunk before it (so that the promotion is at this chunk or about to be), and given up once the
     * promotion has pinned it.
     */
    private static void sweep(ChunkCatalog to, MemoryObjectStore slow, List<List<String>> chains, AtomicBoolean stop,
                              CountDownLatch sweeping) {
        sweeping.countDown();
        try {
            for (int c = 1; c < chains.size() && !stop.get(); c += 2) {
                String before = chains.get(c - 1).get(1);
                String base = chains.get(c).get(1);
                while (!stop.get() && !to.isPinned(base)) {
                    if (sweepNow(to, slow, base, h -> !to.isPinned(before))) {
                        break;
                    }
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static CairnConfig.Builder config() {
        return CairnConfig.builder(RUN).chunkBytes(FLOATS * 4).encoderThreads(1).gcGrace(Duration.ZERO)
                .deadline(Duration.ofSeconds(30));
    }

    private static TrainingState state(List<ByteBuffer> tensors) {
        TrainingState.Builder b = TrainingState.builder();
        for (int t = 0; t < tensors.size(); t++) {
            b.tensor(String.format("w%02d", t), DType.F32, new long[] {FLOATS}, tensors.get(t).duplicate().clear());
        }
        return b.build();
    }

    private static Manifest read(MemoryObjectStore store, long step, BufferAllocator alloc) throws IOException {
        return ManifestFormat.read(store.readAll(LAYOUT.manifestKey(step)), "m", alloc);
    }

    private static Manifest withStep(Manifest m, long step) {
        return new Manifest(m.formatVersion(), m.contentHash(), m.run(), step, m.worldSize(), m.rank(), m.createdAt(),
                m.chunkBytes(), m.entries());
    }

    private static TierCommitter.Retention noRetention() {
        return new TierCommitter.Retention() {
            @Override
            public void afterCommit(Tier tier, long step) {
            }

            @Override
            public void commitFailed(Tier tier, long step) {
            }

            @Override
            public GcReport collect(Tier tier, boolean dryRun) {
                throw new UnsupportedOperationException("no collection asked for here");
            }
        };
    }
}
