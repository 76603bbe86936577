package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Assertions;

/**
 * Garbage collection driven by manifest differences (the collection after each commit retires steps and deletes what
 * only their manifests named, without listing) beside everything else that collects: the writer's own sweeps (after
 * its first commit, then every {@code gcSweepEvery} commits, and {@code gc()}), and another process's collector (the command line's) running at
 * the same time, with a long grace beside saves in flight, or with none once no save is in flight. Saves share chunks
 * (dedup, differential chains in the memory tier) and run waited for or in flight.
 *
 * <p>After every action, while collectors may still be running: every chunk that a MANIFEST still in the store names
 * is there (a chunk found missing counts only if its MANIFEST is still there after: a retirement deletes the MANIFEST
 * first). At the end every committed step restores exactly. A save may fail only with STORAGE, and only after a
 * collector with no grace ran: its catalog then counted on chunks that collector took, which its commit found missing.
 */
class GcByManifestDifferenceProperties {
    private static final String RUN = "prop";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    enum Kind {
        /** Save the next step and wait for it to commit in every tier. */
        SAVE_AND_WAIT,
        /** Save the next step and go on while it is persisted. */
        SAVE,
        /** The writer's {@code gc()}: a sweep of every tier. */
        WRITER_GC,
        /** Another process's collector on the disk tier, grace of an hour, started beside whatever runs. */
        OUTSIDER,
        /** Once no save is in flight: another process's collector with no grace, beside the writer's {@code gc()}. */
        OUTSIDER_NO_GRACE
    }

    record Op(Kind kind, int variant, int outsiderKeep) {
    }

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Kind> kind = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.just(Kind.SAVE_AND_WAIT)),
                net.jqwik.api.Tuple.of(4, Arbitraries.just(Kind.SAVE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.WRITER_GC)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.OUTSIDER)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.OUTSIDER_NO_GRACE)));
        return net.jqwik.api.Combinators.combine(kind, Arbitraries.integers().between(0, 3),
                Arbitraries.integers().between(1, 3)).as(Op::new).list().ofMinSize(1).ofMaxSize(16);
    }

    @Provide
    Arbitrary<Integer> sweepEvery() {
        return Arbitraries.of(0, 1, 3);
    }

    @Property(tries = 30)
    void collectionByManifestDifferencesNeverDeletesAChunkACommittedStepNames(
            @ForAll("ops") List<Op> ops, @ForAll @IntRange(min = 1, max = 3) int keepLast,
            @ForAll @IntRange(min = 1, max = 2) int diskEvery, @ForAll("sweepEvery") int sweepEvery,
            @ForAll @IntRange(min = 1, max = 4) int fullEvery) throws Exception {
        Path dir = Files.createTempDirectory("cairn-gcdiff");
        Map<Long, TrainingState> saved = new HashMap<>();
        ExecutorService outsiders = Executors.newCachedThreadPool();
        List<CompletableFuture<GcReport>> running = new ArrayList<>();
        boolean ungraced = false;
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             RootAllocator alloc = new RootAllocator();
             Checkpointer cp = Checkpointer.open(RoundTripProperties.config(2).differential(fullEvery).gcSweepEvery(sweepEvery)
                     .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keepLast))
                     .tier(TierConfig.of("disk", disk).everySteps(diskEvery).keepLast(keepLast)).build())) {
            List<CheckpointHandle> pending = new ArrayList<>();
            long step = 0;
            for (Op op : ops) {
                switch (op.kind()) {
                    case SAVE, SAVE_AND_WAIT -> {
                        step++;
                        saved.put(step, GcSafetyProperties.variant(op.variant(), step));
                        CheckpointHandle h = cp.save(step, GcSafetyProperties.variant(op.variant(), step));
                        pending.add(h);
                        if (op.kind() == Kind.SAVE_AND_WAIT) {
                            await(h, ungraced);
                        }
                    }
                    case WRITER_GC -> cp.gc(false);
                    case OUTSIDER -> running.add(outside(disk, op.outsiderKeep(), Duration.ofHours(1), alloc, outsiders));
                    case OUTSIDER_NO_GRACE -> {
                        for (CheckpointHandle h : pending) {
                            await(h, ungraced);
                        }
                        pending.clear();
                        ungraced = true;
                        CompletableFuture<GcReport> outsider = outside(disk, op.outsiderKeep(), Duration.ZERO, alloc, outsiders);
                        cp.gc(false);
                        outsider.get(60, TimeUnit.SECONDS);
                    }
                }
                for (ObjectStore store : List.of(mem, disk)) {
                    assertCommittedStepsComplete(store, alloc, "after " + op);
                }
            }
            for (CheckpointHandle h : pending) {
                await(h, ungraced);
            }
            for (CompletableFuture<GcReport> r : running) {
                r.get(60, TimeUnit.SECONDS);
            }
            cp.gc(false);
            for (ObjectStore store : List.of(mem, disk)) {
                assertCommittedStepsComplete(store, alloc, "at the end");
            }
            for (var info : cp.list()) {
                assertSameState(saved.get(info.step()), cp.restore(RestoreRequest.step(info.step())).state());
            }
        } finally {
            outsiders.shutdownNow();
            RoundTripProperties.deleteTree(dir);
        }
    }

    enum RankKind {
        /** Both ranks save the next step and wait for it. */
        SAVE_AND_WAIT,
        /** Both ranks save the next step and go on while it is persisted. */
        SAVE,
        /** Rank 0's collector clock jumps past the grace: what retired steps alone named falls due, saves in flight. */
        GRACE_PASSES,
        /** Another process's collector, grace of an hour, started beside whatever runs. */
        OUTSIDER,
        /** Once no save is in flight: rank 0's {@code gc()}, a sweep on its jumped clock. */
        RANK_ZERO_GC
    }

    record RankOp(RankKind kind, int variant, int outsiderKeep) {
    }

    @Provide
    Arbitrary<List<RankOp>> rankOps() {
        Arbitrary<RankKind> kind = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.just(RankKind.SAVE_AND_WAIT)),
                net.jqwik.api.Tuple.of(4, Arbitraries.just(RankKind.SAVE)),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(RankKind.GRACE_PASSES)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(RankKind.OUTSIDER)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(RankKind.RANK_ZERO_GC)));
        return net.jqwik.api.Combinators.combine(kind, Arbitraries.integers().between(0, 3),
                Arbitraries.integers().between(1, 3)).as(RankOp::new).list().ofMinSize(1).ofMaxSize(14);
    }

    /**
     * The same invariant in a multi-rank run, two ranks in this JVM over one memory store, whose rank 0 collects as an
     * outsider and retires without asking any chunk's age: what only retired steps named is deleted once the grace has
     * passed since their retirement (its collector's clock jumps past the grace at GRACE_PASSES, with saves in flight
     * that may rely on a chunk falling due, contents recurring over steps), unless a step committed meanwhile names it;
     * each rank confirms only the chunks it did not put. After every action every chunk that a MANIFEST still in the
     * store names is there. A save may fail only after the grace passed: with STORAGE on rank 0 (its commit found that
     * its own collection deleted a chunk a rank relies on, ChunkCatalog#pinNamed) and then with TIMEOUT on rank 1
     * (which waited for that step). At the end every committed step restores exactly on both ranks.
     */
    @Property(tries = 12)
    void multiRankRetirementNeverDeletesAChunkACommittedOrCommittingStepNames(
            @ForAll("rankOps") List<RankOp> ops, @ForAll @IntRange(min = 1, max = 3) int keepLast) throws Exception {
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong(System.currentTimeMillis());
        Duration grace = Duration.ofHours(1);
        Map<Long, TrainingState> saved = new HashMap<>();
        ExecutorService outsiders = Executors.newCachedThreadPool();
        List<CompletableFuture<GcReport>> running = new ArrayList<>();
        boolean graced = false;
        boolean lost = false;
        List<Checkpointer> ranks = new ArrayList<>();
        try (MemoryObjectStore mem = new MemoryObjectStore(256L << 20);
             RootAllocator alloc = new RootAllocator()) {
            for (int r = 0; r < 2; r++) {
                // Several ranks need a grace of at least the deadline; the deadline bounds rank 1's wait for a step
                // rank 0 failed.
                ranks.add(new dev.cairn.tiers.CairnCheckpointer(RoundTripProperties.config(1).gcGrace(grace)
                        .deadline(Duration.ofSeconds(20)).gcSweepEvery(0).rank(r, 2)
                        .tier(TierConfig.of("memory", mem).compressionLevel(1).keepLast(keepLast)).build(), clock::get));
            }
            List<List<CheckpointHandle>> pending = new ArrayList<>();
            long step = 0;
            for (RankOp op : ops) {
                switch (op.kind()) {
                    case SAVE, SAVE_AND_WAIT -> {
                        step++;
                        saved.put(step, GcSafetyProperties.variant(op.variant(), step));
                        List<CheckpointHandle> both = new ArrayList<>();
                        for (Checkpointer cp : ranks) {
                            both.add(cp.save(step, GcSafetyProperties.variant(op.variant(), step)));
                        }
                        pending.add(both);
                        if (op.kind() == RankKind.SAVE_AND_WAIT) {
                            lost |= awaitRanks(both, graced);
                        }
                    }
                    case GRACE_PASSES -> {
                        clock.addAndGet(grace.toMillis() + 1);
                        graced = true;
                    }
                    case OUTSIDER -> running.add(outside(mem, op.outsiderKeep(), Duration.ofHours(1), alloc, outsiders));
                    case RANK_ZERO_GC -> {
                        for (List<CheckpointHandle> both : pending) {
                            lost |= awaitRanks(both, graced);
                        }
                        pending.clear();
                        ranks.get(0).gc(false);
                    }
                }
                assertCommittedStepsComplete(mem, alloc, "after " + op);
            }
            for (List<CheckpointHandle> both : pending) {
                lost |= awaitRanks(both, graced);
            }
            for (CompletableFuture<GcReport> r : running) {
                r.get(60, TimeUnit.SECONDS);
            }
            assertCommittedStepsComplete(mem, alloc, "at the end");
            net.jqwik.api.statistics.Statistics.label("grace passed").collect(graced);
            net.jqwik.api.statistics.Statistics.label("a step lost to a chunk rank 0 deleted").collect(lost);
            for (int r = 0; r < ranks.size(); r++) {
                for (var info : ranks.get(r).list()) {
                    assertSameState(saved.get(info.step()), ranks.get(r).restore(RestoreRequest.step(info.step())).state());
                }
            }
        } finally {
            ranks.forEach(Checkpointer::close);
            outsiders.shutdownNow();
        }
    }

    /**
     * Waits for both ranks' save of a step. Once the grace has passed, a rank may find that rank 0's collection deleted
     * a chunk it relies on (STORAGE: rank 0 at its commit, or rank 1 when it confirms what it reused), and the other rank
     * then gives up waiting for it (TIMEOUT); nothing else.
     */
    private static boolean awaitRanks(List<CheckpointHandle> both, boolean graced) throws Exception {
        List<CheckpointException.Reason> failed = new ArrayList<>();
        for (CheckpointHandle h : both) {
            try {
                h.done().get(60, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!graced || !(e.getCause() instanceof CheckpointException c)
                        || (c.reason() != CheckpointException.Reason.STORAGE && c.reason() != CheckpointException.Reason.TIMEOUT)) {
                    throw e;
                }
                failed.add(c.reason());
            }
        }
        if (!failed.isEmpty() && !failed.contains(CheckpointException.Reason.STORAGE)) {
            throw new AssertionError("a step failed on " + failed.size() + " rank(s) with " + failed
                    + ", but no rank found a chunk gone");
        }
        return !failed.isEmpty();
    }

    /** The command line's collection of the disk tier, on another thread: its own commit protocol and no pins. */
    private static CompletableFuture<GcReport> outside(ObjectStore disk, int keepLast, Duration grace,
                                                       RootAllocator alloc, ExecutorService on) {
        return CompletableFuture.supplyAsync(() -> {
            try (Tier tier = new Tier(TierConfig.of("disk", disk).keepLast(keepLast), 1, LAYOUT, 1)) {
                return new GarbageCollector(new CommitProtocol(alloc)).collect(tier, grace, Set.of(), false,
                        GarbageCollector.Collector.OUTSIDER);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, on);
    }

    /** Waits for a save; after a collector with no grace, it may fail with STORAGE (never otherwise). */
    private static void await(CheckpointHandle h, boolean ungraced) throws Exception {
        try {
            h.done().get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!ungraced || !(e.getCause() instanceof CheckpointException c) || c.reason() != CheckpointException.Reason.STORAGE) {
                throw e;
            }
        }
    }

    private static void assertCommittedStepsComplete(ObjectStore store, RootAllocator alloc, String when) throws Exception {
        for (ObjectInfo o : store.list(LAYOUT.stepsPrefix())) {
            if (!LAYOUT.isManifestKey(o.key())) {
                continue;
            }
            Set<String> named;
            try {
                named = dev.cairn.tiers.internal.manifest.CommittedManifest.load(store, LAYOUT, LAYOUT.stepOf(o.key()).orElseThrow(), alloc)
                        .referencedHashes();
            } catch (NoSuchFileException retiredSinceListed) {
                continue;
            }
            for (String hash : named) {
                try {
                    store.stat(LAYOUT.chunkKey(hash));
                } catch (NoSuchFileException missing) {
                    // A retirement deletes the MANIFEST before any chunk: one still there names a chunk that is gone.
                    Assertions.assertThrows(NoSuchFileException.class, () -> store.stat(o.key()),
                            when + ": chunk " + hash + " is gone from " + store.describe() + " while " + o.key()
                                    + ", which names it, is still there");
                }
            }
        }
    }
}
