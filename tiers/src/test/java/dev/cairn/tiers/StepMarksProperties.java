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
