package dev.cairn.tiers.internal.commit;

import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Step marks: how a process finds the newest committed step of a tier without listing its steps (issue 15). At
 * thousands of ranks every process asks this at open and at a restore of the newest step; a listing of
 * {@code steps/} is then a request per thousand keys (every rank's index of every retained step) from every process,
 * on one S3 prefix, which S3 refuses with SlowDown beyond 5,500 a second.
 *
 * <p>Before the committer creates a step's MANIFEST it puts an empty-bodied mark of the step into each of G groups
 * ({@link StoreLayout#markKey}: {@code <run>/marks/<g>/<step in 19 digits>}, one S3 prefix per group), G =
 * ceil(world / {@value StoreLayout#RANKS_PER_NOTICE}) as for the commit notices, or more (below). A process of rank r
 * in a world of W lists group r mod ceil(W / {@value StoreLayout#RANKS_PER_NOTICE}) (one page while fewer than 1,000
 * steps are retained: a few hundred processes a group, as a notice has) and takes the newest marked step whose
 * MANIFEST it finds (a HEAD, or the read the restore makes anyway).
 *
 * <h2>Why a reader never picks an older step than a listing of the steps would</h2>
 * The body of a mark is not read by readers; what they rely on is that the marks of a group are a superset of the
 * committed steps, so that "the newest marked step whose MANIFEST is there" is the newest committed step:
 * <ul>
 *   <li><b>Marks before the commit point.</b> Every mark of a step is put, and the puts returned, before its MANIFEST
 *       is created (a failed put fails the commit before it). A committer that dies in between leaves marks of a step
 *       that is not committed: readers skip them, as a listing would show no MANIFEST. (A pointer put after the
 *       MANIFEST could name an older step than the newest committed one for ever, after such a death, and puts of
 *       two commits' pointers can land in either order.) A mark of a step whose MANIFEST retention removed since is
 *       skipped the same way: retention removes the oldest steps, never the newest, and removes the MANIFEST before
 *       the marks.</li>
 *   <li><b>Groups never shrink.</b> Each mark's body names the number of groups G its committer wrote; a committer
 *       learns, once per tier, the largest G of the marks in group 0 (which every committer writes) and writes
 *       max(its own, that) groups. A run restarted on fewer ranks therefore keeps filling the groups that readers of
 *       the larger world look at: a group that holds a mark holds the marks of every step committed after it.</li>
 *   <li><b>New groups start complete.</b> When a committer writes more groups than before (a run restarted on more
 *       ranks; a run written by a release without marks, where the steps are listed once), it first marks in every
 *       group, with the new G, every step marked in group 0 before (or listed), so that each non-empty group holds
 *       every committed step: a restore of an older step followed by a save cannot hide the newer one.</li>
 *   <li><b>An empty group says nothing.</b> A reader whose group holds no mark (a reader's world larger than the
 *       writer's) looks at group g / 2, and so on down to group 0; if that is empty too (a new run, or one written only
 *       by a release without marks) or holds no committed step, it lists the steps as before. A listing the store
 *       refuses is an {@link IOException}, never "no checkpoint".</li>
 * </ul>
 * Not covered: a run that a release without marks saves into after one with marks did (a downgrade and upgrade): its
 * steps have no marks, and readers of a marked group do not see them. Removing {@code <run>/marks/} makes readers list
 * the steps again.
 *
 * <pre>
 * cairn-mark 1\n     magic and version
 * groups &lt;G&gt;\n        how many groups the committer wrote, decimal
 * </pre>
 */
public final class StepMarks {
    static final String MAGIC = "cairn-mark";
    static final int VERSION = 1;
    /** Puts of marks in flight together: one round trip for up to 10,000 ranks' groups (40). */
    private static final int PUTS_IN_FLIGHT = 64;

    private final WaitClock clock;
    /** The groups this process's committers write into each tier, learned at the first commit there. */
    private final Map<String, Integer> groups = new ConcurrentHashMap<>();
    /**
     * The committed steps a listing of each tier's steps found in this process, made because group 0 held no mark (the
     * open's look in a new run): the first commit's {@link #learn} takes them instead of listing again.
     */
    private final Map<String, List<Long>> listedWithoutMarks = new ConcurrentHashMap<>();

    public StepMarks(WaitClock clock) {
        this.clock = clock;
    }

    /** Groups of marks a step saved by {@code worldSize} ranks gets at least, and that a world of that size reads. */
    public static int groupsFor(int worldSize) {
        return Math.max(1, StoreLayout.noticeCount(worldSize));
    }

    /**
     * Puts the marks of {@code step}, saved by {@code worldSize} ranks, into {@code tier}: call right before its
     * MANIFEST's create, which must not be tried if this fails. At the first call for a tier, learns the groups written
     * before (a listing of group 0 and a read of each of its marks, or once a listing of the steps in a tier without
     * marks) and, when this writes more groups, marks the steps marked or listed before in every group.
     */
    public void markBefore(Tier tier, long step, int worldSize) throws IOException {
        String at = key(tier);
        int own = groupsFor(worldSize);
        Integer known = groups.get(at);
        List<Long> backfill = List.of();
        int total;
        if (known == null || own > known) {
            Learned learned = learn(tier, listedWithoutMarks.get(at));
            total = Math.max(own, learned.groups);
            if (total > learned.groups) {
                backfill = learned.steps;
            }
        } else {
            total = known;
        }
        byte[] body = body(total);
        List<WaitClock.Call<Void>> puts = new ArrayList<>();
        for (long s : backfill) {
            if (s != step) {
                addPuts(tier, s, total, body, puts);
            }
        }
        addPuts(tier, step, total, body, puts);
        clock.sideBySide(puts, Math.min(PUTS_IN_FLIGHT, puts.size()));
        groups.put(at, total);
    }

    /**
     * The keys of {@code step}'s marks in {@code tier} as this process wrote them (none when it has not committed
     * there): for retention, which removes them after the step's MANIFEST. Marks written by others are left to a sweep.
     */
    public List<String> keysOf(Tier tier, long step) {
        Integer total = groups.get(key(tier));
        List<String> keys = new ArrayList<>();
        for (int g = 0; total != null && g < total; g++) {
            keys.add(tier.layout().markKey(g, step));
        }
        return keys;
    }

    /**
     * The newest step committed in {@code tier} as a process of rank {@code rank} in a world of {@code worldSize}
     * finds it, or -1: from its group's marks (see the class), else a listing of the steps. An {@link IOException}
     * when the store refuses a request, never -1 for a store it could not read.
     */
    public static long newest(Tier tier, int rank, int worldSize) throws IOException {
        return newest(tier, rank, worldSize, step -> isCommitted(tier, step));
    }

    /** Whether a marked step is committed: its MANIFEST is there. */
    @FunctionalInterface
    public interface Confirmation {
        boolean committed(long step) throws IOException;
    }

    /**
     * {@link #newest(Tier, int, int)}, each marked step confirmed by {@code confirmation} (a read of its MANIFEST that
     * the restore or the read-ahead then takes from the cache, instead of a HEAD before it).
     */
    public static long newest(Tier tier, int rank, int worldSize, Confirmation confirmation) throws IOException {
        return newest(tier, rank, worldSize, confirmation, listed -> { });
    }

    /**
     * {@link #newest(Tier, int, int, Confirmation)}; when it lists the steps because group 0 holds no mark, this
     * process's first marks in {@code tier} take the committed steps that listing found instead of listing the steps
     * again ({@link #markBefore}): in a new run, rank 0's open lists an empty prefix, where its first commit would
     * list the step's indexes landing meanwhile (a page per 1,000 ranks).
     */
    public long newestRemembered(Tier tier, int rank, int worldSize, Confirmation confirmation) throws IOException {
        return newest(tier, rank, worldSize, confirmation, listed -> listedWithoutMarks.put(key(tier), listed));
    }

    private static long newest(Tier tier, int rank, int worldSize, Confirmation confirmation,
                               java.util.function.Consumer<List<Long>> listedWithoutMarks) throws IOException {
        int group = Math.floorMod(rank, groupsFor(worldSize));
        boolean unmarked = false;
        while (true) {
            List<Long> marked = marked(tier, group);
            if (!marked.isEmpty()) {
                for (int i = marked.size() - 1; i >= 0; i--) {
                    if (confirmation.committed(marked.get(i))) {
                        return marked.get(i);
                    }
                }
                break; // marks only of steps not committed (any more): listed
            }
            if (group == 0) {
                unmarked = true;
                break; // no marks: a new run, or one written before marks
            }
            group /= 2;
        }
        List<Long> listed = CommitProtocol.listCommitted(tier);
        if (unmarked) {
            listedWithoutMarks.accept(List.copyOf(listed));
        }
        return listed.isEmpty() ? -1 : listed.get(listed.size() - 1);
    }

    /**
     * The steps marked in group 0 of {@code tier}, ascending: a superset of its committed steps (every committer
     * writes group 0, and the first marks of a run written before marks come with marks of its earlier steps, see the
     * class), for retention's first look at a tier (one page while fewer than 1,000 steps are retained, where a listing
     * of the steps grows with steps x ranks). Empty when group 0 holds no mark (a new run, or one written only by a
     * release without marks): then only a listing of the steps tells which are committed.
     */
    public static List<Long> markedInGroupZero(Tier tier) throws IOException {
        return marked(tier, 0);
    }

    /** Steps marked in {@code group} of {@code tier}, ascending. */
    static List<Long> marked(Tier tier, int group) throws IOException {
        TreeSet<Long> steps = new TreeSet<>();
        for (ObjectInfo o : tier.store().list(tier.layout().markGroupPrefix(group))) {
            tier.layout().stepOfMarkKey(o.key()).ifPresent(steps::add);
        }
        return new ArrayList<>(steps);
    }

    private static boolean isCommitted(Tier tier, long step) throws IOException {
        try {
            tier.store().stat(tier.layout().manifestKey(step));
            return true;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    /** What a committer learns before its first marks in a tier. */
    private record Learned(int groups, List<Long> steps) {
    }

    /**
     * @param listed the committed steps a listing made by this process found while group 0 held no mark, or null:
     *               taken instead of listing again when group 0 still holds none. Steps committed since that listing
     *               are marked (this release marks every commit, its own first) unless a release without marks
     *               committed them, the case the class leaves uncovered.
     */
    private static Learned learn(Tier tier, List<Long> listed) throws IOException {
        List<Long> marked = marked(tier, 0);
        if (marked.isEmpty()) {
            // No marks: a new run, or one written before marks, whose committed steps every group must hold.
            return new Learned(0, listed != null ? listed : CommitProtocol.listCommitted(tier));
        }
        int most = 1;
        for (long s : marked) {
            try {
                most = Math.max(most, groupsIn(tier.store().readAll(tier.layout().markKey(0, s), 64)));
            } catch (NoSuchFileException retired) {
                // removed with its step since the listing
            }
        }
        return new Learned(most, marked);
    }

    static byte[] body(int groups) {
        return (MAGIC + " " + VERSION + "\ngroups " + groups + "\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** The groups a mark's body names; 1 for one this release cannot read (a later format writes at least as many). */
    static int groupsIn(ByteBuffer body) {
        String[] lines = StandardCharsets.US_ASCII.decode(body.duplicate()).toString().split("\n", -1);
        if (lines.length != 3 || !lines[0].equals(MAGIC + " " + VERSION) || !lines[1].startsWith("groups ")
                || !lines[2].isEmpty()) {
            return 1;
        }
        try {
            return Math.max(1, Integer.parseInt(lines[1].substring("groups ".length())));
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    private static void addPuts(Tier tier, long step, int total, byte[] body, List<WaitClock.Call<Void>> puts) {
        for (int g = 0; g < total; g++) {
            String key = tier.layout().markKey(g, step);
            puts.add(() -> {
                tier.store().put(key, ByteBuffer.wrap(body));
                return null;
            });
        }
    }

    private static String key(Tier tier) {
        return tier.index() + "/" + tier.layout().marksPrefix();
    }
}
