package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Blob;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.Coordinator;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.CommittedManifest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import dev.cairn.testkit.GatheringCoordinator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Several ranks in one JVM saving one checkpoint into a shared store. */
class MultiRankTest {
    private static final long[] GLOBAL = {64, 300};
    private final MemoryObjectStore store = new MemoryObjectStore(512L << 20);
    private final StoreLayout layout = new StoreLayout("ranks");

    @AfterEach
    void close() {
        store.close();
    }

    private Checkpointer rank(int r, int world, Duration deadline, Coordinator coordinator) {
        CairnConfig.Builder b = CairnConfig.builder("ranks").tier(TierConfig.of("shared", store).keepLast(3)).chunkBytes(4096)
                .encoderThreads(1).stagingBytes(4L << 20).deadline(deadline).rank(r, world);
        if (coordinator != null) {
            b.coordinator(coordinator);
        }
        return Checkpointer.open(b.build());
    }

    private List<Checkpointer> ranks(int world, Duration deadline, Coordinator coordinator) {
        List<Checkpointer> out = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            out.add(rank(r, world, deadline, coordinator));
        }
        return out;
    }

    /** Rank r's state at {@code step}: its row slice of "w", a replicated "bias", a per-rank RNG blob, a global blob. */
    private static TrainingState state(int r, int world, long step) {
        ShardSpec s = ShardSpec.split(GLOBAL, 0, world, r);
        ByteBuffer w = ByteBuffer.allocateDirect((int) (s.lengths()[0] * GLOBAL[1] * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; w.hasRemaining(); i++) {
            // step * 65536 + the element's global index: no chunk of one step equals a chunk of another. With step *
            // 1000, rank 1's rows of step 1 equalled rank 0's of step 4, and rank 0, committing out of order, could
            // retire step 4 and delete those chunks (due at the next collection in a tier in memory) while step 1 still
            // committed: a lost step, reported (STORAGE), as GarbageCollector says it may be. Exact up to step 255.
            w.putFloat((float) (step * 65536 + s.offsets()[0] * GLOBAL[1] + i));
        }
        ByteBuffer bias = ByteBuffer.allocateDirect(300 * 4 * 8).order(ByteOrder.LITTLE_ENDIAN);
        while (bias.hasRemaining()) {
            bias.putFloat((float) step / (bias.position() + 1));
        }
        return TrainingState.builder()
                .add(Tensor.sharded("w", DType.F32, s, w.flip()))
                .add(Tensor.of("bias", DType.F32, new long[] {2400}, bias.flip()))
                .add(Blob.perRank("rng", new byte[] {(byte) r, (byte) step}))
                .add(Blob.ofUtf8("config", "lr=0.1"))
                .build();
    }

    /** Step 1 saved by four ranks, which then close: a checkpoint for restores on other world sizes. */
    private void saveStepOneOnFourRanksAndClose() throws Exception {
        List<Checkpointer> four = ranks(4, Duration.ofSeconds(30), null);
        try {
            saveAll(four, 1);
        } finally {
            four.forEach(Checkpointer::close);
        }
    }

    private static void saveAll(List<Checkpointer> ranks, long step) throws Exception {
        List<CheckpointHandle> handles = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            handles.add(ranks.get(r).save(step, state(r, ranks.size(), step)));
        }
        for (CheckpointHandle h : handles) {
            h.done().get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void fourRanksCommitOneManifestAndEachRestoresItsOwnSlicesAndBlobs() throws Exception {
        List<Checkpointer> ranks = ranks(4, Duration.ofSeconds(30), null);
        try {
            saveAll(ranks, 1);
            for (int r = 0; r < 4; r++) {
                RestoreResult res = ranks.get(r).restore(RestoreRequest.latest());
                Tensor w = res.state().tensor("w");
                assertEquals(ShardSpec.split(GLOBAL, 0, 4, r), w.shard());
                assertEquals(ReshardingProperties.concat(state(r, 4, 1).tensor("w")), ReshardingProperties.concat(w));
                assertEquals(ReshardingProperties.concat(state(r, 4, 1).tensor("bias")), ReshardingProperties.concat(res.state().tensor("bias")));
                assertEquals(r, res.state().blob("rng").toByteArray()[0]);
                assertTrue(res.state().blob("rng").isPerRank());
                assertEquals("lr=0.1", res.state().blob("config").toUtf8());
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
        try (RootAllocator a = new RootAllocator()) {
            Manifest m = CommittedManifest.load(store, layout, 1, a);
            assertEquals(4, m.worldSize());
            assertEquals(16, m.entries().size());
            for (int r = 0; r < 4; r++) {
                assertTrue(store.stat(layout.indexKey(1, r)).size() > 0);
            }
            // The replicated bias (the same bytes on every rank) is stored once: as many chunk objects as one copy.
            long biasChunks = m.entries().stream().filter(e -> e.name().equals("bias") && e.rank() == 0).mapToLong(e -> e.chunks().size()).sum();
            long distinct = m.referencedHashes().size();
            long stored = store.list(layout.chunksPrefix()).size();
            assertEquals(distinct, stored);
            assertTrue(distinct <= m.chunkCount() - 3 * biasChunks, "replicas add no chunks: " + distinct + " of " + m.chunkCount());
        }
    }

    /**
     * Persist on shutdown with several ranks: each rank's hook promotes its own part of the newest step, held only in
     * memory (the slower tier takes every 10th step), and the slower tier commits the step as a save's promotion
     * would. Before, every rank promoted the whole step as rank 0's part: the slower tier got rank 0's index from each
     * and no other, and its commit waited out the deadline, committing nothing.
     */
    @Test
    void persistOnShutdownPromotesEachRanksOwnPartAndTheSlowerTierCommitsTheStep() throws Exception {
        try (MemoryObjectStore slow = new MemoryObjectStore(512L << 20)) {
            List<Checkpointer> ranks = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                ranks.add(Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", store).keepLast(3))
                        .tier(TierConfig.of("slow", slow).everySteps(10)).chunkBytes(4096).encoderThreads(1)
                        .stagingBytes(4L << 20).deadline(Duration.ofSeconds(60)).gcGrace(Duration.ofMinutes(2))
                        .rank(r, 2).build()));
            }
            try {
                saveAll(ranks, 3);
                assertFalse(slow.list(layout.stepPrefix(3)).size() > 0, "step 3 is not one the slower tier takes");
                ExecutorService hooks = Executors.newFixedThreadPool(2);
                try {
                    List<Future<List<String>>> persisted = new ArrayList<>();
                    for (Checkpointer c : ranks) { // the ranks' hooks run at once, as SIGTERM reaches every rank
                        persisted.add(hooks.submit(() -> ((CairnCheckpointer) c).persistNewest(Duration.ofSeconds(60))));
                    }
                    for (Future<List<String>> p : persisted) {
                        assertEquals(List.of("slow"), p.get(120, TimeUnit.SECONDS));
                    }
                } finally {
                    hooks.shutdownNow();
                }
            } finally {
                ranks.forEach(Checkpointer::close);
            }
            for (int r = 0; r < 2; r++) {
                try (Checkpointer fromSlow = Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("slow", slow))
                        .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(60))
                        .gcGrace(Duration.ofMinutes(2)).rank(r, 2).build())) {
                    RestoreResult res = fromSlow.restore(RestoreRequest.step(3));
                    assertEquals(ReshardingProperties.concat(state(r, 2, 3).tensor("w")),
                            ReshardingProperties.concat(res.state().tensor("w")));
                    assertEquals(r, res.state().blob("rng").toByteArray()[0]);
                }
            }
        }
    }

    @Test
    void ranksThatSaveManyStepsWithoutWaitingCommitEveryOne() throws Exception {
        // Pipelined saves: several steps of every rank in flight at once, each commit waiting for the other ranks.
        // (The lock-order deadlock this guards against showed with four child JVMs under load, ShardedRunTest; in one
        // JVM on a memory store the commits rarely overlap enough to reproduce it.)
        // Nothing here is meant to expire: the deadline (every save's, all started at once) only bounds a deadlock,
        // with room for 24 saves in flight on a busy 2-core machine (8.7 s measured on one); the waits outlast it.
        List<Checkpointer> ranks = ranks(3, Duration.ofSeconds(120), null);
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (long step = 1; step <= 8; step++) {
                for (int r = 0; r < 3; r++) {
                    handles.add(ranks.get(r).save(step, state(r, 3, step)));
                }
            }
            for (CheckpointHandle h : handles) {
                h.done().get(180, TimeUnit.SECONDS);
            }
            assertEquals(8, ranks.get(1).restore(RestoreRequest.latest()).step());
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    @Test
    void aRankThatNeverSavesFailsTheStepAndThePreviousOneStaysNewest() throws Exception {
        saveStepOneOnFourRanksAndClose(); // under a deadline of its own: step 1 must commit on every rank
        // Rank 3 dies before step 2: ranks 0-2 wait out this deadline, which ends the test; it also bounds their
        // restores after it, so it is 10 s (not shorter) for a busy 2-core machine.
        List<Checkpointer> ranks = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            ranks.add(rank(r, 4, Duration.ofSeconds(10), null));
        }
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                handles.add(ranks.get(r).save(2, state(r, 4, 2)));
            }
            for (CheckpointHandle h : handles) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> h.done().get(60, TimeUnit.SECONDS));
                assertEquals(Reason.TIMEOUT, ((CheckpointException) e.getCause()).reason(), e.getCause().getMessage());
            }
            assertThrows(java.nio.file.NoSuchFileException.class, () -> store.stat(layout.manifestKey(2)));
            for (Checkpointer cp : ranks) {
                assertEquals(1, cp.restore(RestoreRequest.latest()).step());
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /** A framework's barrier, as torch.distributed or MPI would give: one CyclicBarrier per name. */
    private static Coordinator frameworkBarrier() {
        Map<String, CyclicBarrier> barriers = new ConcurrentHashMap<>();
        return (name, rank, world, timeout) -> {
            try {
                barriers.computeIfAbsent(name, k -> new CyclicBarrier(world)).await(timeout.toNanos(), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | java.util.concurrent.BrokenBarrierException e) {
                throw new CheckpointException(Reason.TIMEOUT, "barrier " + name + " timed out");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException(Reason.CLOSED, "interrupted");
            }
        };
    }

    @Test
    void aFrameworkBarrierCoordinatesTheCommit() throws Exception {
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        Coordinator framework = frameworkBarrier();
        Coordinator barrier = (name, rank, world, timeout) -> {
            seen.add(name);
            framework.barrier(name, rank, world, timeout);
        };
        List<Checkpointer> ranks = ranks(3, Duration.ofSeconds(30), barrier);
        try {
            saveAll(ranks, 5);
            assertEquals(5, ranks.get(2).restore(RestoreRequest.latest()).step());
        } finally {
            ranks.forEach(Checkpointer::close);
        }
        assertTrue(seen.contains("ranks/shared/5/indexed") && seen.contains("ranks/shared/5/committed"), seen.toString());
        assertEquals(6, seen.size());
    }

    /**
     * The "committed" barrier only tells the ranks that rank 0 has tried: when it fails (a rank died after writing its
     * index), every rank still asks the store, and a step whose MANIFEST rank 0 created is committed on all of them.
     */
    @Test
    void aFailedCommittedBarrierDoesNotFailAStepRankZeroCommitted() throws Exception {
        Coordinator framework = frameworkBarrier();
        Coordinator barrier = (name, rank, world, timeout) -> {
            if (name.endsWith("/committed")) {
                throw new CheckpointException(Reason.TIMEOUT, "barrier " + name + ": a rank never arrived");
            }
            framework.barrier(name, rank, world, timeout);
        };
        List<Checkpointer> ranks = ranks(3, Duration.ofSeconds(30), barrier);
        try {
            saveAll(ranks, 5); // fails if any rank's save of step 5 fails
            for (Checkpointer r : ranks) {
                assertEquals(5, r.restore(RestoreRequest.latest()).step());
            }
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * With a coordinator that gathers, rank 0 passes at the "committed" barrier the digest of the MANIFEST it created,
     * and the other ranks take their step as committed from it (rank 0 committed exactly the index digests they
     * passed) without reading the MANIFEST: a round trip and a parse each, on the commit's critical path. With a
     * barrier alone they read it. Either way every rank's save completes and restores what it saved.
     */
    @Test
    void withAGatheringCoordinatorTheOtherRanksLearnTheCommitWithoutReadingTheManifest() throws Exception {
        assertEquals(List.of(0L, 0L), manifestReadsOfRanksOneAndTwo("gathering", gatheringBarrier("none", () -> { })));
        List<Long> withBarrierAlone = manifestReadsOfRanksOneAndTwo("barrier", frameworkBarrier());
        assertTrue(withBarrierAlone.stream().allMatch(n -> n >= 1), "a barrier alone: ranks 1 and 2 read the MANIFEST "
                + withBarrierAlone);
        // Rank 1 is handed another gathering than rank 0's (rank 2's digest differs in its copy): it does not take rank
        // 0's token for its commit and reads the MANIFEST; rank 2, in rank 0's gathering, does not.
        Coordinator gathering = gatheringBarrier("none", () -> { });
        Coordinator otherRoundForRankOne = new Coordinator() {
            @Override
            public void barrier(String name, int rank, int world, Duration timeout) {
                gathering.barrier(name, rank, world, timeout);
            }

            @Override
            public java.util.Optional<List<String>> allGather(String name, int rank, int world, String token, Duration timeout) {
                java.util.Optional<List<String>> all = gathering.allGather(name, rank, world, token, timeout);
                if (rank != 1 || !name.endsWith("/indexed")) {
                    return all;
                }
                List<String> other = new ArrayList<>(all.orElseThrow());
                other.set(2, "0".repeat(other.get(2).length()));
                return java.util.Optional.of(other);
            }
        };
        List<Long> otherRound = manifestReadsOfRanksOneAndTwo("other-round", otherRoundForRankOne);
        assertTrue(otherRound.get(0) >= 1 && otherRound.get(1) == 0, "rank 1 reads the MANIFEST, rank 2 does not: " + otherRound);
    }

    /**
     * With a coordinator a rank other than 0 creates its index instead of asking for the MANIFEST first (a HEAD of
     * one key by every rank, every step); when the create finds an index there, it asks the MANIFEST, and a step that
     * another writer committed after this save was admitted is refused with CONFLICT, its committed index unchanged.
     */
    @Test
    void withACoordinatorARankRefusesAStepCommittedMeanwhileAndLeavesItsIndex() throws Exception {
        byte[] committedIndex = "the other writer's index of rank 1".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        java.util.concurrent.atomic.AtomicBoolean committedMeanwhile = new java.util.concurrent.atomic.AtomicBoolean();
        dev.cairn.ObjectStore racing = new dev.cairn.testkit.ForwardingObjectStore(store) {
            @Override
            public boolean putIfAbsent(String key, ByteBuffer data) throws java.io.IOException {
                // Another writer commits step 5 right before this rank creates its index.
                if (key.equals(layout.indexKey(5, 1)) && committedMeanwhile.compareAndSet(false, true)) {
                    store.put(layout.indexKey(5, 1), ByteBuffer.wrap(committedIndex));
                    store.put(layout.manifestKey(5), ByteBuffer.wrap(new byte[] {1}));
                }
                return super.putIfAbsent(key, data);
            }

            @Override
            public void close() {
                // the test's store, closed after the test
            }
        };
        try (Checkpointer one = Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", racing).keepLast(3))
                .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(30)).rank(1, 2)
                .coordinator(frameworkBarrier()).build())) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> one.save(5, state(1, 2, 5)).done().get(60, TimeUnit.SECONDS));
            CheckpointException c = (CheckpointException) e.getCause();
            assertEquals(Reason.CONFLICT, c.reason(), c.getMessage());
        }
        assertTrue(committedMeanwhile.get(), "rank 1 created its index");
        assertEquals(ByteBuffer.wrap(committedIndex), store.readAll(layout.indexKey(5, 1)), "no index replaced");
    }

    /** Reads of step 5's MANIFEST by ranks 1 and 2 of 3 until their saves of it completed. */
    private List<Long> manifestReadsOfRanksOneAndTwo(String run, Coordinator coordinator) throws Exception {
        String manifest = new StoreLayout(run).manifestKey(5);
        List<java.util.concurrent.atomic.AtomicLong> reads = new ArrayList<>();
        List<Checkpointer> ranks = new ArrayList<>();
        try {
            for (int r = 0; r < 3; r++) {
                java.util.concurrent.atomic.AtomicLong count = new java.util.concurrent.atomic.AtomicLong();
                reads.add(count);
                dev.cairn.ObjectStore counted = new dev.cairn.testkit.ForwardingObjectStore(store) {
                    @Override
                    public int read(String key, long offset, ByteBuffer dst) throws java.io.IOException {
                        if (key.equals(manifest)) {
                            count.incrementAndGet();
                        }
                        return super.read(key, offset, dst);
                    }

                    @Override
                    public void close() {
                        // the test's store, closed after the test
                    }
                };
                ranks.add(Checkpointer.open(CairnConfig.builder(run).tier(TierConfig.of("shared", counted).keepLast(3))
                        .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(30))
                        .rank(r, 3).coordinator(coordinator).build()));
            }
            saveAll(ranks, 5);
            List<Long> out = List.of(reads.get(1).get(), reads.get(2).get());
            for (int r = 0; r < 3; r++) {
                RestoreResult res = ranks.get(r).restore(RestoreRequest.latest());
                assertEquals(5, res.step());
                Fixtures.assertSameState(state(r, 3, 5), res.state());
            }
            return out;
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /** A framework barrier that also gathers each rank's token; {@code interference} runs as {@link GatheringCoordinator} says. */
    private static Coordinator gatheringBarrier(String interfereAt, Runnable interference) {
        return new GatheringCoordinator(interfereAt, interference);
    }

    /**
     * The index rank 2 of another save of step 5 wrote (other values: what a task of an earlier attempt of a retried
     * stage holds), and that save's chunks, put into this test's store as that task would, late: after this save's
     * rank 2 wrote its own index and before rank 0 reads it.
     */
    private Runnable lateIndexOfAnotherAttempt() throws Exception {
        MemoryObjectStore other = new MemoryObjectStore(64L << 20);
        List<Checkpointer> earlier = new ArrayList<>();
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                earlier.add(Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", other).keepLast(3))
                        .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).rank(r, 3).build()));
                handles.add(earlier.get(r).save(5, state(r, 3, 99)));
            }
            for (CheckpointHandle h : handles) {
                h.done().get(60, TimeUnit.SECONDS);
            }
            Map<String, ByteBuffer> written = new java.util.LinkedHashMap<>();
            for (ObjectInfo o : other.list(layout.chunksPrefix())) {
                written.put(o.key(), other.readAll(o.key()));
            }
            written.put(layout.indexKey(5, 2), other.readAll(layout.indexKey(5, 2)));
            return () -> written.forEach((key, bytes) -> {
                try {
                    store.put(key, bytes.duplicate());
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } finally {
            earlier.forEach(Checkpointer::close);
            other.close();
        }
    }

    /**
     * With a coordinator that gathers, rank 0 commits only the indexes this save's ranks wrote: an index another
     * attempt put under rank 2's key in between fails the step with CONFLICT, and no MANIFEST names it.
     */
    @Test
    void anIndexReplacedByAnotherAttemptIsNeverCommittedWhenTheCoordinatorGathersDigests() throws Exception {
        Coordinator barrier = gatheringBarrier("ranks/shared/5/indexed", lateIndexOfAnotherAttempt());
        List<Checkpointer> ranks = ranks(3, Duration.ofSeconds(5), barrier);
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                handles.add(ranks.get(r).save(5, state(r, 3, 5)));
            }
            ExecutionException e = assertThrows(ExecutionException.class, () -> handles.get(0).done().get(60, TimeUnit.SECONDS));
            CheckpointException c = (CheckpointException) e.getCause();
            assertEquals(Reason.CONFLICT, c.reason(), c.getMessage());
            assertTrue(c.getMessage().contains("rank-2.index") && c.getMessage().contains("not the one rank 2 wrote"), c.getMessage());
            for (CheckpointHandle h : handles.subList(1, 3)) { // they wait for a MANIFEST that never comes, up to the deadline
                assertThrows(ExecutionException.class, () -> h.done().get(60, TimeUnit.SECONDS));
            }
            assertFalse(store.list(layout.stepPrefix(5)).stream().anyMatch(o -> layout.isManifestKey(o.key())),
                    "no MANIFEST of step 5");
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * What the digests prevent: a coordinator that only orders the ranks lets rank 0 commit the late index of another
     * attempt, and rank 2 restores values its own save never held. Rank 2 at least learns it: the MANIFEST it reads
     * names another index of rank 2 than the one it put, and its save fails with CONFLICT instead of reporting the
     * step committed.
     */
    @Test
    void withABarrierAloneTheLateIndexOfAnotherAttemptEntersTheCommit() throws Exception {
        Coordinator gathering = gatheringBarrier("ranks/shared/5/indexed", lateIndexOfAnotherAttempt());
        Coordinator barrierOnly = (name, rank, world, timeout) -> gathering.barrier(name, rank, world, timeout);
        List<Checkpointer> ranks = ranks(3, Duration.ofSeconds(30), barrierOnly);
        try {
            List<CheckpointHandle> handles = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                handles.add(ranks.get(r).save(5, state(r, 3, 5)));
            }
            for (CheckpointHandle h : handles.subList(0, 2)) {
                assertEquals(5, h.done().get(60, TimeUnit.SECONDS).get(0).step());
            }
            ExecutionException e = assertThrows(ExecutionException.class, () -> handles.get(2).done().get(60, TimeUnit.SECONDS));
            CheckpointException c = (CheckpointException) e.getCause();
            assertEquals(Reason.CONFLICT, c.reason(), c.getMessage());
            assertTrue(c.getMessage().contains("another index of rank 2"), c.getMessage());
            Tensor w = ranks.get(2).restore(RestoreRequest.latest()).state().tensor("w");
            assertEquals(ReshardingProperties.concat(state(2, 3, 99).tensor("w")), ReshardingProperties.concat(w),
                    "the other attempt's rows of rank 2 were committed");
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    @Test
    void perRankBlobsOnAnotherWorldSizeNeedTheApplicationsChoice() throws Exception {
        saveStepOneOnFourRanksAndClose();
        List<Checkpointer> two = ranks(2, Duration.ofSeconds(30), null);
        try {
            Tensor target = Tensor.allocate("w", DType.F32, ShardSpec.split(GLOBAL, 0, 2, 1));
            ByteBuffer before = ReshardingProperties.concat(target);
            CheckpointException e = assertThrows(CheckpointException.class, () -> two.get(1).restore(
                    RestoreRequest.latest().into(TrainingState.builder().add(target).build())));
            assertEquals(Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains("per-rank blob 'rng'") && e.getMessage().contains("onRankBlobs"), e.getMessage());
            assertEquals(before, ReshardingProperties.concat(target), "nothing written into the target");

            RestoreResult r = two.get(1).restore(RestoreRequest.latest().into(TrainingState.builder().add(target).build())
                    .onRankBlobs((name, saved, savedWorld, rank, world) -> saved.size() == 4 ? saved.get(rank * 2) : null));
            assertEquals(2, r.state().blob("rng").toByteArray()[0]);
            assertFalse(r.state().contains("bias"), "only the tensors asked for");
            ByteBuffer expected = ByteBuffer.allocate((int) target.byteSize());
            expected.put(ReshardingProperties.concat(state(2, 4, 1).tensor("w")));
            expected.put(ReshardingProperties.concat(state(3, 4, 1).tensor("w")));
            assertEquals(expected.flip(), ReshardingProperties.concat(target));
            assertNull(two.get(0).restore(RestoreRequest.latest().onRankBlobs((n, s, sw, rk, w) -> null)).state().contains("rng")
                    ? "dropped blob came back" : null);
        } finally {
            two.forEach(Checkpointer::close);
        }
    }

    @Test
    void aRestoreOnMoreRanksReadsOnlyTheChunksThatOverlapItsRowsAndChunksFollowRows() throws Exception {
        saveStepOneOnFourRanksAndClose();
        long rowBytes = GLOBAL[1] * 4;
        List<dev.cairn.tiers.internal.manifest.ChunkRef> wChunks = new ArrayList<>();
        try (RootAllocator a = new RootAllocator()) {
            Manifest m = CommittedManifest.load(store, layout, 1, a);
            m.entries().stream().filter(e -> e.name().equals("w")).forEach(e -> wChunks.addAll(e.chunks()));
        }
        for (var c : wChunks) {
            assertEquals(0, c.offset() % rowBytes, "a chunk of w starts on a row: " + c);
            assertEquals(0, c.rawLength() % rowBytes, "a chunk of w holds whole rows: " + c);
        }
        java.util.Set<String> wKeys = new java.util.HashSet<>();
        wChunks.forEach(c -> wKeys.add(layout.chunkKey(c.hash())));
        long rowsPerChunk = wChunks.get(0).rawLength() / rowBytes;
        for (int r = 0; r < 8; r++) {
            java.util.Set<String> read = ConcurrentHashMap.newKeySet();
            dev.cairn.ObjectStore counting = new dev.cairn.testkit.ForwardingObjectStore(store) {
                @Override
                public int read(String key, long offset, ByteBuffer dst) throws java.io.IOException {
                    read.add(key);
                    return super.read(key, offset, dst);
                }

                @Override
                public void close() {
                    // the shared store outlives this rank
                }
            };
            ShardSpec slice = ShardSpec.split(GLOBAL, 0, 8, r);
            Tensor target = Tensor.allocate("w", DType.F32, slice);
            try (Checkpointer cp = Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", counting))
                    .chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).rank(r, 8).build())) {
                cp.restore(RestoreRequest.latest().into(TrainingState.builder().add(target).build())
                        .onRankBlobs((name, saved, savedWorld, rank, world) -> null));
            }
            ByteBuffer expected = ByteBuffer.allocate((int) target.byteSize());
            ByteBuffer savedSlice = ReshardingProperties.concat(state(r / 2, 4, 1).tensor("w"));
            expected.put(savedSlice.position((int) ((r % 2) * target.byteSize())).limit((int) ((r % 2 + 1) * target.byteSize())));
            assertEquals(expected.flip(), ReshardingProperties.concat(target), "rank " + r + " of 8");
            long wRead = read.stream().filter(wKeys::contains).count();
            // Rows [8r, 8r+8) lie within one saved slice of 16 rows: at most ceil(8 / rowsPerChunk) + 1 of its chunks.
            long most = (8 + rowsPerChunk - 1) / rowsPerChunk + 1;
            assertTrue(wRead >= 1 && wRead <= most, "rank " + r + " of 8 read " + wRead + " of the " + wChunks.size()
                    + " chunks of w, at most " + most + " overlap its rows");
        }
    }

    @Test
    void anIndexLeftByAFailedAttemptIsNeverMergedIntoTheNextAttemptsCommit() throws Exception {
        List<Checkpointer> first = ranks(2, Duration.ofSeconds(60), null);
        try {
            saveAll(first, 1);
            // Rank 1 saves step 2 alone (rank 0 died): its index stays behind, uncommitted. Once the index is there the
            // test ends the save by closing rank 1, instead of a deadline short enough to end the test, which a busy
            // machine could also reach before step 1 committed or before the index was put.
            CheckpointHandle alone = first.get(1).save(2, state(1, 2, 99));
            Fixtures.awaitKey(store, layout.indexKey(2, 1));
            Fixtures.closeWithoutWaiting(first.get(1));
            ExecutionException e = assertThrows(ExecutionException.class, () -> alone.done().get(60, TimeUnit.SECONDS));
            assertEquals(Reason.CLOSED, ((CheckpointException) e.getCause()).reason(), e.getCause().getMessage());
        } finally {
            first.forEach(Checkpointer::close);
        }
        assertTrue(store.stat(layout.indexKey(2, 1)).size() > 0);
        List<Checkpointer> second = ranks(2, Duration.ofSeconds(20), null);
        try {
            for (Checkpointer cp : second) {
                assertEquals(1, cp.restore(RestoreRequest.latest()).step());
            }
            // Rank 1's restore removed the index it left; rank 0 gets to step 2 first, rank 1 a second later.
            CheckpointHandle zero = second.get(0).save(2, state(0, 2, 2));
            Thread.sleep(1000);
            CheckpointHandle one = second.get(1).save(2, state(1, 2, 2));
            zero.done().get(30, TimeUnit.SECONDS);
            one.done().get(30, TimeUnit.SECONDS);
            Tensor w = second.get(1).restore(RestoreRequest.latest()).state().tensor("w");
            assertEquals(ReshardingProperties.concat(state(1, 2, 2).tensor("w")), ReshardingProperties.concat(w),
                    "rank 1's slice is this attempt's, not the failed attempt's");
        } finally {
            second.forEach(Checkpointer::close);
        }
    }

    @Test
    void severalRanksNeedAGcGraceAtLeastTheDeadline() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> CairnConfig.builder("ranks")
                .tier(TierConfig.of("shared", store)).rank(1, 2).deadline(Duration.ofMinutes(5)).gcGrace(Duration.ofMinutes(9)).build());
        assertEquals(Reason.INVALID_CONFIG, e.reason());
        assertTrue(e.getMessage().contains("gcGrace"), e.getMessage());
    }

    @Test
    void aStoreListingShowsNoStrayObjectsAfterAFailedStep() throws Exception {
        // Rank 1 never saves: rank 0 puts its index and waits for rank 1's. Once its index is there the test ends the
        // step by closing rank 0 (CLOSED), instead of a deadline short enough to end the test, which a busy machine
        // could also reach before the index was put (the save then expires before its commit and writes no index).
        List<Checkpointer> ranks = ranks(2, Duration.ofSeconds(60), null);
        try {
            CheckpointHandle alone = ranks.get(0).save(1, state(0, 2, 1));
            Fixtures.awaitKey(store, layout.indexKey(1, 0));
            Fixtures.closeWithoutWaiting(ranks.get(0));
            ExecutionException e = assertThrows(ExecutionException.class, () -> alone.done().get(60, TimeUnit.SECONDS));
            assertEquals(Reason.CLOSED, ((CheckpointException) e.getCause()).reason(), e.getCause().getMessage());
            List<String> steps = new ArrayList<>();
            for (ObjectInfo o : store.list(layout.stepsPrefix())) {
                steps.add(o.key());
            }
            assertEquals(List.of(layout.indexKey(1, 0)), steps, "rank 0's index only: no MANIFEST");
        } finally {
            ranks.forEach(Checkpointer::close);
        }
    }

    /**
     * A rank slower than rank 0's retention: rank 0 commits step 1, then steps 2 and 3, and with keepLast(1) retires
     * step 1 (its MANIFEST and indexes deleted) before rank 1 has looked for step 1's MANIFEST; rank 1's own index
     * survives the retirement, as on the peer tier when the delete does not reach that rank's memory. The RETIRED
     * marker tells rank 1 that step 1 was committed, instead of leaving it waiting out its deadline.
     */
    @Test
    void aRankThatLooksForAManifestRetentionAlreadyRemovedLearnsTheStepWasCommitted() throws Exception {
        java.util.concurrent.CountDownLatch retired = new java.util.concurrent.CountDownLatch(1);
        Coordinator framework = frameworkBarrier();
        Coordinator barrier = (name, rank, world, timeout) -> {
            if (name.endsWith("/committed")) {
                if (rank == 1 && name.equals("ranks/shared/1/committed")) {
                    try {
                        retired.await(); // rank 1 is late for step 1; the engine then asks the store
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return; // the "committed" barrier only orders ranks: rank 0 does not wait here for the late one
            }
            framework.barrier(name, rank, world, timeout);
        };
        dev.cairn.ObjectStore rankZerosView = new dev.cairn.testkit.ForwardingObjectStore(store) {
            @Override
            public void delete(String key) throws java.io.IOException {
                if (!key.endsWith("rank-1.index")) { // this delete never reaches rank 1's copy
                    super.delete(key);
                }
            }

            @Override
            public void close() {
            }
        };
        List<Checkpointer> ranks = new ArrayList<>();
        for (int r = 0; r < 2; r++) {
            ranks.add(Checkpointer.open(CairnConfig.builder("ranks").tier(TierConfig.of("shared", r == 0 ? rankZerosView : store)
                    .keepLast(1)).chunkBytes(4096).encoderThreads(1).stagingBytes(4L << 20).deadline(Duration.ofSeconds(30))
                    .rank(r, 2).coordinator(barrier).build()));
        }
        try {
            CheckpointHandle late = ranks.get(1).save(1, state(1, 2, 1));
            ranks.get(0).save(1, state(0, 2, 1)).done().get(60, TimeUnit.SECONDS);
            for (long step = 2; step <= 3; step++) {
                List<CheckpointHandle> handles = List.of(ranks.get(0).save(step, state(0, 2, step)),
                        ranks.get(1).save(step, state(1, 2, step)));
                for (CheckpointHandle h : handles) {
                    h.done().get(60, TimeUnit.SECONDS);
                }
            }
            // Rank 0's retention runs beside its commits: wait until it has removed step 1's MANIFEST.
            while (store.list(layout.stepPrefix(1)).stream().anyMatch(o -> o.key().equals(layout.manifestKey(1)))) {
                Thread.sleep(10);
            }
            assertTrue(store.list(layout.stepPrefix(1)).stream().anyMatch(o -> o.key().equals(layout.indexKey(1, 1))),
                    "rank 1's index of step 1 outlived the retirement");
            retired.countDown();
            // Without the marker rank 1 waits out its 30 s deadline and fails with TIMEOUT; the wait here only bounds a hang.
            assertEquals(1, late.done().get(120, TimeUnit.SECONDS).get(0).step());
            assertEquals(3, ranks.get(1).restore(RestoreRequest.latest()).step());
        } finally {
            retired.countDown();
            ranks.forEach(Checkpointer::close);
        }
    }
}
