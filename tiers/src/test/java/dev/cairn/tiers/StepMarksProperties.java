package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.ObjectInfo;
import dev.cairn.TierConfig;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitPoint;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.commit.StepMarks;
import dev.cairn.tiers.internal.commit.WaitClock;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.apache.arrow.memory.RootAllocator;

/**
 * The newest step a process finds from its group of step marks ({@link StepMarks#newest}) is the newest step a listing
 * of the steps shows, for every reader (any rank of any world size), after any history of: commits by jobs of
 * different world sizes (1 to 10,000 ranks: 1 to 40 groups, growing and shrinking), commits of a step below the newest
 * (a restore of an older step, then saves), committers that die between the marks and the MANIFEST, retention of the
 * oldest steps (MANIFEST first, then the marks this process wrote), and steps committed by a release without marks
 * before the first marked commit. The listing is the truth the marks must never undercut (a restore of an older step
 * than the listing's newest would lose training).
 */
class StepMarksProperties {
    private static final StoreLayout LAYOUT = new StoreLayout("marks");
    private static final int[] WORLDS = {1, 2, 251, 600, 1_200, 10_000};

    enum Kind { NEW_JOB, COMMIT, COMMIT_OLDER, DIE_BEFORE_MANIFEST, RETIRE_OLDEST, UNMARKED_COMMIT }

    record Op(Kind kind, int a, int b) {
    }

    @Provide
    Arbitrary<List<Op>> histories() {
        Arbitrary<Kind> kind = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.NEW_JOB)),
                net.jqwik.api.Tuple.of(6, Arbitraries.just(Kind.COMMIT)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.COMMIT_OLDER)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.DIE_BEFORE_MANIFEST)),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(Kind.RETIRE_OLDEST)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.UNMARKED_COMMIT)));
        return Combinators.combine(kind, Arbitraries.integers().between(0, 1_000), Arbitraries.integers().between(0, 1_000))
                .as(Op::new).list().ofMinSize(1).ofMaxSize(30);
    }

    @Property(tries = 200)
    void theMarksNeverShowAnOlderStepThanTheListing(@ForAll("histories") List<Op> history) throws Exception {
        try (RootAllocator allocator = new RootAllocator();
             MemoryObjectStore store = new MemoryObjectStore(64L << 20);
             Tier tier = new Tier(TierConfig.of("mem", store), 0, LAYOUT, 1)) {
            CommitProtocol lister = new CommitProtocol(allocator);
            StepMarks job = null; // the process committing now: null before the first job starts
            int world = 1;
            boolean marked = false; // a release without marks only wrote before the first marked commit
            TreeSet<Long> tried = new TreeSet<>(); // steps with marks or a MANIFEST: never committed again
            for (Op op : history) {
                TreeSet<Long> committed = new TreeSet<>(lister.committedSteps(tier));
                long top = tried.isEmpty() ? 0 : tried.last() + 1;
                switch (op.kind()) {
                    case NEW_JOB -> {
                        job = new StepMarks(WaitClock.SYSTEM);
                        world = WORLDS[op.a() % WORLDS.length];
                    }
                    case COMMIT, COMMIT_OLDER, DIE_BEFORE_MANIFEST -> {
                        if (job == null) {
                            job = new StepMarks(WaitClock.SYSTEM);
                        }
                        long step = top + op.b() % 3;
                        if (op.kind() == Kind.COMMIT_OLDER) {
                            step = firstFree(tried, op.b() % Math.max(1, top));
                        }
                        tried.add(step);
                        job.markBefore(tier, step, world);
                        marked = true;
                        if (op.kind() != Kind.DIE_BEFORE_MANIFEST) {
                            CommitPoint.create(tier, step, ("commit " + step).getBytes(StandardCharsets.US_ASCII));
                        }
                    }
                    case RETIRE_OLDEST -> {
                        if (committed.size() > 1) { // retention keeps the newest
                            long oldest = committed.first();
                            store.delete(LAYOUT.manifestKey(oldest));
                            if (job != null) {
                                store.deleteAll(job.keysOf(tier, oldest));
                            }
                        }
                    }
                    case UNMARKED_COMMIT -> {
                        if (!marked) {
                            long step = top + op.b() % 3;
                            tried.add(step);
                            CommitPoint.create(tier, step, ("old release " + step).getBytes(StandardCharsets.US_ASCII));
                        }
                    }
                }
                committed = new TreeSet<>(lister.committedSteps(tier));
                long listed = committed.isEmpty() ? -1 : committed.last();
                for (int readerWorld : WORLDS) {
                    for (int rank : new int[] {0, readerWorld - 1, op.a() % readerWorld, op.b() % readerWorld}) {
                        assertEquals(listed, StepMarks.newest(tier, rank, readerWorld), "rank " + rank + " of "
                                + readerWorld + " after " + op + " in " + history + "; marks " + marks(store));
                    }
                }
            }
        }
    }

    /**
     * A run a release without marks committed (steps 1 to n), then a committer of this release whose first marks stop
     * part way (the store refuses every put after the first {@code landed}: a process killed, S3 failing): it marks
     * the earlier steps and its own in that first commit, and some of those marks may be in, some not. Whatever landed,
     * retention never takes group 0 for the committed steps while it lacks one ({@link StepMarks#markedInGroupZero}),
     * and the next committer (another process) marks every committed step again before its own: then every group
     * holds them all, and every reader finds its step. Before the record of complete groups, that committer took the
     * partial group 0 as complete, and retention went on without the unmarked steps, deleting chunks they still named.
     */
    @Property(tries = 150)
    void aCommitterDyingAmongItsFirstMarksLeavesNoStepOutOfTheNextOnes(@ForAll("unmarked") int n, @ForAll("landed") int landed,
            @ForAll("worlds") int world) throws Exception {
        java.util.concurrent.atomic.AtomicInteger putsLeft = new java.util.concurrent.atomic.AtomicInteger(Integer.MAX_VALUE);
        try (RootAllocator allocator = new RootAllocator();
             MemoryObjectStore store = new MemoryObjectStore(64L << 20);
             Tier tier = new Tier(TierConfig.of("mem", new dev.cairn.testkit.ForwardingObjectStore(store) {
                 @Override
                 public void put(String key, java.nio.ByteBuffer data) throws java.io.IOException {
                     if (putsLeft.getAndDecrement() <= 0) {
                         throw new java.io.IOException("refused: " + key);
                     }
                     super.put(key, data);
                 }
             }), 0, LAYOUT, 1)) {
            CommitProtocol lister = new CommitProtocol(allocator);
            for (long step = 1; step <= n; step++) {
                CommitPoint.create(tier, step, ("old release " + step).getBytes(StandardCharsets.US_ASCII));
            }
            putsLeft.set(landed);
            boolean died;
            try {
                new StepMarks(WaitClock.SYSTEM).markBefore(tier, n + 1, world);
                died = false;
            } catch (java.io.IOException expected) {
                died = true;
            }
            putsLeft.set(Integer.MAX_VALUE);
            List<Long> committed = lister.committedSteps(tier);
            List<Long> forRetention = new StepMarks(WaitClock.SYSTEM).markedInGroupZero(tier); // an outsider's look
            if (!forRetention.isEmpty() || !died) {
                assertEquals(true, forRetention.containsAll(committed), "retention's steps " + forRetention
                        + " lack some of " + committed + " (" + landed + " puts landed); marks " + marks(store));
            }

            StepMarks next = new StepMarks(WaitClock.SYSTEM);
            next.markBefore(tier, n + 1, world);
            CommitPoint.create(tier, n + 1, ("commit " + (n + 1)).getBytes(StandardCharsets.US_ASCII));
            committed = lister.committedSteps(tier);
            assertEquals(committed, next.markedInGroupZero(tier), "marks " + marks(store));
            assertEquals(committed, new StepMarks(WaitClock.SYSTEM).markedInGroupZero(tier), "an outsider's look");
            for (int g = 0; g < StepMarks.groupsFor(world); g++) {
                List<Long> inGroup = new ArrayList<>();
                for (ObjectInfo o : store.list(LAYOUT.markGroupPrefix(g))) {
                    LAYOUT.stepOfMarkKey(o.key()).ifPresent(inGroup::add);
                }
                assertEquals(committed, inGroup, "group " + g + " after " + landed + " puts landed first");
            }
            for (int rank : new int[] {0, world - 1, landed % world}) {
                assertEquals(n + 1, StepMarks.newest(tier, rank, world), "rank " + rank + " of " + world);
            }
        }
    }

    @Provide
    Arbitrary<Integer> unmarked() {
        return Arbitraries.integers().between(1, 6);
    }

    @Provide
    Arbitrary<Integer> landed() {
        return Arbitraries.integers().between(0, 20);
    }

    @Provide
    Arbitrary<Integer> worlds() {
        return Arbitraries.of(1, 2, 600, 1_200);
    }

    private static long firstFree(TreeSet<Long> tried, long from) {
        long s = from;
        while (tried.contains(s)) {
            s++;
        }
        return s;
    }

    private static List<String> marks(MemoryObjectStore store) throws java.io.IOException {
        List<String> keys = new ArrayList<>();
        for (ObjectInfo o : store.list(LAYOUT.marksPrefix())) {
            keys.add(o.key().substring(LAYOUT.marksPrefix().length()));
        }
        return keys;
    }
}
