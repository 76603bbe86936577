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
 *       ranks; a run written by a release without marks, whose committed steps are found once from the step folders
 *       and a HEAD of each one's MANIFEST), it first marks in every group, with the new G, every step marked in group
 *       0 before (or found), so that each non-empty group holds
 *       every committed step: a restore of an older step followed by a save cannot hide the newer one. Only once all
 *       those marks are in does it put a record ({@link StoreLayout#marksCompleteKey}, naming the groups) beside its
 *       own step's marks; a committer that finds marks but no record for as many groups as they name (its predecessor
 *       died among those puts, leaving some earlier steps unmarked) marks them all again, the step folders' committed
 *       steps too where there is no record at all, and retention does not take group 0 for the committed steps
 *       ({@link #markedInGroupZero}) without that record. A reader that looks in between, after such a death and
 *       before the next commit, may find an older step than the newest: its save of the next step then meets that
 *       step's MANIFEST (CONFLICT) after its own marks repaired the groups.</li>
 *   <li><b>An empty group says nothing.</b> A reader whose group holds no mark (a reader's world larger than the
 *       writer's) looks at group g / 2, and so on down to group 0: the first of them that one listing of the groups
 *       ({@link dev.cairn.ObjectStore#listFolders} of {@code marks/}) shows holding a mark. If group 0 holds none too
 *       (a new run, or one written only by a release without marks) or the group holds no committed step, it looks at
 *       the step folders ({@code listFolders} of {@code steps/}: a request per 1,000 steps, where a listing of the
 *       steps is one per 1,000 keys, every rank's index of every step), newest first, until one has its MANIFEST. What
 *       every process asks alike there (the groups, the step folders) is paced by rank ({@link LookPacing}): every
 *       process of a new run looks at open, at once. A listing the store refuses is an {@link IOException}, never "no
 *       checkpoint"; so is an empty answer of a store whose listings may leave out members that did not answer (the
 *       peer-memory tier, {@link dev.cairn.ObjectStore#listsMayBePartial}) unless a whole listing confirms it.</li>
 * </ul>
 * Not covered: a run that a release without marks saves into after one with marks did (a downgrade and upgrade): its
 * steps have no marks, and readers of a marked group do not see them. Removing {@code <run>/marks/} makes readers look
 * at the step folders again.
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
     * The committed steps (none) this process's look found in each tier where group 0 held no mark and no step folder
     * had a MANIFEST (the open's look in a new run): the first commit's {@link #learn} takes them instead of looking
     * at the step folders again.
     */
    private final Map<String, List<Long>> listedWithoutMarks = new ConcurrentHashMap<>();
    /** The tiers whose groups this process found or made complete ({@link #markBefore}): no record to read there. */
    private final java.util.Set<String> knownComplete = ConcurrentHashMap.newKeySet();

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
     * before (a listing of group 0 and a read of each of its marks, or once the step folders and their MANIFESTs' HEADs
     * in a tier without marks) and, when this writes more groups, marks the steps marked or listed before in every group.
     */
    public void markBefore(Tier tier, long step, int worldSize) throws IOException {
        String at = key(tier);
        int own = groupsFor(worldSize);
        Integer known = groups.get(at);
        List<Long> backfill = List.of();
        boolean certify = false;
        int total;
        if (known == null || own > known) {
            Learned learned = learn(tier, listedWithoutMarks.get(at));
            total = Math.max(own, learned.groups);
            if (total > learned.groups || !learned.complete) {
                backfill = learned.steps;
                certify = true;
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
        if (!puts.isEmpty()) {
            // Every earlier step's marks land before the record that says so: a committer that dies among these puts
            // leaves group 0 holding some of them and no record, and the next committer marks them all again.
            clock.sideBySide(puts, Math.min(PUTS_IN_FLIGHT, puts.size()));
            puts.clear();
        }
        if (certify) {
            String complete = tier.layout().marksCompleteKey();
            puts.add(() -> {
                tier.store().put(complete, ByteBuffer.wrap(body));
                return null;
            });
        }
        addPuts(tier, step, total, body, puts);
        clock.sideBySide(puts, Math.min(PUTS_IN_FLIGHT, puts.size()));
        groups.put(at, total);
        knownComplete.add(at);
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
     * finds it, or -1: from its group's marks (see the class), else the step folders. An {@link IOException}
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
     * the restore or the read-ahead then takes from the cache, instead of a HEAD before it). Not paced: for one caller
     * (tools, tests); the engine's processes look through {@link #newestRemembered}, paced by rank.
     */
    public static long newest(Tier tier, int rank, int worldSize, Confirmation confirmation) throws IOException {
        return newest(tier, rank, worldSize, confirmation, listed -> { }, null, true);
    }

    /**
     * {@link #newest(Tier, int, int, Confirmation)}; when group 0 holds no mark and the step folders hold no committed
     * step, this process's first marks in {@code tier} take that (none) instead of looking at the step folders again
     * ({@link #markBefore}): in a new run, rank 0's open finds nothing, where its first commit would find the step's
     * folder and ask for its MANIFEST. What every process asks alike is paced by rank on this marks' clock
     * ({@link LookPacing}), unless {@code tier}'s store is in this process's memory.
     */
    public long newestRemembered(Tier tier, int rank, int worldSize, boolean noneOnlyIfWhole, Confirmation confirmation)
            throws IOException {
        return newest(tier, rank, worldSize, confirmation, listed -> listedWithoutMarks.put(key(tier), listed), clock,
                noneOnlyIfWhole);
    }

    /**
     * @param clock           what the shared part of the look is paced on ({@link LookPacing}); null: not paced
     * @param noneOnlyIfWhole where {@code tier}'s listings may leave out members that did not answer
     *                        ({@link dev.cairn.ObjectStore#listsMayBePartial}, the peer tier) and they found no step:
     *                        whether to answer -1 only once a whole listing agrees ({@link #newestListedWhole}, an
     *                        IOException while a member is silent). A restore asks so: -1 becomes NOT_FOUND, on which
     *                        a job starts over. A save's look does not: it goes on with the members that answered, as
     *                        before (a fresh run whose peer is down still saves; a step number taken meanwhile is
     *                        refused by the create-only MANIFEST)
     */
    private static long newest(Tier tier, int rank, int worldSize, Confirmation confirmation,
                               java.util.function.Consumer<List<Long>> listedWithoutMarks, WaitClock clock,
                               boolean noneOnlyIfWhole) throws IOException {
        WaitClock pacing = clock == null || tier.store().inMemory() ? null : clock;
        long began = pacing == null ? 0 : pacing.nanoTime();
        int group = Math.floorMod(rank, groupsFor(worldSize));
        List<Long> marked = marked(tier, group);
        boolean unmarked = false;
        if (marked.isEmpty()) {
            // Every process of the run that gets here asks the same keys from here on: paced by rank (LookPacing).
            awaitTurn(pacing, began, rank);
            int lower = group == 0 ? -1 : lowerGroupHolding(tier, group);
            if (lower >= 0) {
                marked = marked(tier, lower);
            } else {
                unmarked = true; // no marks: a new run, or one written before marks
            }
        }
        for (int i = marked.size() - 1; i >= 0; i--) {
            if (confirmation.committed(marked.get(i))) {
                return marked.get(i);
            }
        }
        // No marks, or marks only of steps not committed (any more): the step folders, newest first, each confirmed.
        awaitTurn(pacing, began, rank);
        List<Long> folders = CommitProtocol.stepFolders(tier, tier.store());
        for (int i = folders.size() - 1; i >= 0; i--) {
            if (confirmation.committed(folders.get(i))) {
                return folders.get(i);
            }
        }
        if (noneOnlyIfWhole && tier.store().listsMayBePartial()) {
            // A store spread over members (peer memory) lists what the members that answered hold: one that did not
            // may hold every mark and MANIFEST of the run (a replacement rank's placement target). "None" only from a
            // whole listing, which fails while a member is silent: an IOException, "cannot tell", never -1 for it.
            long whole = newestListedWhole(tier, confirmation);
            if (whole >= 0) {
                return whole;
            }
        }
        if (unmarked) {
            listedWithoutMarks.accept(List.of());
        }
        return -1;
    }

    /**
     * The newest committed step of {@code tier} from a {@link dev.cairn.ObjectStore#listWhole} of its steps, each
     * confirmed newest first, or -1: for a store whose listings may leave members out, once they found nothing. Not
     * paced: such a store is in the processes' memory. An IOException while a member is silent.
     */
    private static long newestListedWhole(Tier tier, Confirmation confirmation) throws IOException {
        List<Long> committed = CommitProtocol.listCommitted(tier, true);
        for (int i = committed.size() - 1; i >= 0; i--) {
            if (confirmation.committed(committed.get(i))) {
                return committed.get(i);
            }
        }
        return -1;
    }

    private static void awaitTurn(WaitClock pacing, long began, int rank) {
        if (pacing != null) {
            LookPacing.awaitTurn(pacing, began, rank);
        }
    }

    /**
     * The first of groups {@code group / 2}, {@code group / 4}, ... 0 of {@code tier} that holds a mark, from one listing
     * of the groups ({@link dev.cairn.ObjectStore#listFolders}): the group a walk down from {@code group} would stop
     * at, where the walk lists each group on the way. -1 when group 0 holds none, which every committer writes: none
     * holds a mark.
     */
    private static int lowerGroupHolding(Tier tier, int group) throws IOException {
        java.util.Set<Integer> holding = new java.util.HashSet<>();
        String prefix = tier.layout().marksPrefix();
        for (String folder : tier.store().listFolders(prefix)) {
            try {
                holding.add(Integer.parseInt(folder.substring(prefix.length(), folder.length() - 1)));
            } catch (NumberFormatException | IndexOutOfBoundsException notAGroup) {
                // not a group of this layout: left alone
            }
        }
        if (!holding.contains(0)) {
            return -1;
        }
        int g = group / 2;
        while (!holding.contains(g)) {
            g /= 2;
        }
        return g;
    }

    /**
     * The steps marked in group 0 of {@code tier}, ascending: a superset of its committed steps (every committer
     * writes group 0, and the first marks of a run written before marks come with marks of its earlier steps, see the
     * class), for retention's first look at a tier (one page while fewer than 1,000 steps are retained, where a listing
     * of the steps grows with steps x ranks). Empty when group 0 holds no mark (a new run, or one written only by a
     * release without marks), or when no committer recorded that its marks are complete ({@link #completeGroups}: its
     * first marks may have stopped part way): then only a listing of the steps tells which are committed. The record
     * is read only where this process has not marked a step in {@code tier} yet (an outsider's collection). Listed
     * whole ({@link dev.cairn.ObjectStore#listWhole}): a step left out could have its chunks collected.
     */
    public List<Long> markedInGroupZero(Tier tier) throws IOException {
        List<Long> marked = marked(tier, 0, true);
        if (marked.isEmpty()) {
            return marked;
        }
        return knownComplete.contains(key(tier)) || completeGroups(tier) > 0 ? marked : List.of();
    }

    /**
     * The groups a committer recorded as complete in {@code tier} ({@link StoreLayout#marksCompleteKey}): every step
     * committed before it had been marked in each of them when it wrote the record, and every commit since marks them
     * all before its MANIFEST. 0 where there is no record: a run written before this record existed, or a committer's
     * first marks that stopped part way, which may have left group 0 holding some earlier steps' marks and not others.
     */
    static int completeGroups(Tier tier) throws IOException {
        try {
            return groupsIn(tier.store().readAll(tier.layout().marksCompleteKey(), 64));
        } catch (NoSuchFileException none) {
            return 0;
        }
    }

    /** Steps marked in {@code group} of {@code tier}, ascending. */
    static List<Long> marked(Tier tier, int group) throws IOException {
        return marked(tier, group, false);
    }

    /** As {@link #marked(Tier, int)}; {@code whole}: from a {@link dev.cairn.ObjectStore#listWhole}. */
    private static List<Long> marked(Tier tier, int group, boolean whole) throws IOException {
        String prefix = tier.layout().markGroupPrefix(group);
        TreeSet<Long> steps = new TreeSet<>();
        for (ObjectInfo o : whole ? tier.store().listWhole(prefix) : tier.store().list(prefix)) {
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

    /**
     * What a committer learns before its first marks in a tier: the groups written before, the steps each must hold,
     * and whether a record says they all do ({@link #completeGroups}).
     */
    private record Learned(int groups, List<Long> steps, boolean complete) {
    }

    /**
     * @param listed the committed steps (none) this process's look found while group 0 held no mark, or null: taken
     *               instead of looking again when group 0 still holds none. Steps committed since that look are
     *               marked (this release marks every commit, its own first) unless a release without marks committed
     *               them, the case the class leaves uncovered.
     */
    private static Learned learn(Tier tier, List<Long> listed) throws IOException {
        List<Long> marked = marked(tier, 0);
        if (marked.isEmpty()) {
            // No marks: a new run, or one written before marks, whose committed steps every group must hold.
            return new Learned(0, listed != null ? listed : CommitProtocol.committedInFolders(tier), false);
        }
        int most = 1;
        for (long s : marked) {
            try {
                most = Math.max(most, groupsIn(tier.store().readAll(tier.layout().markKey(0, s), 64)));
            } catch (NoSuchFileException retired) {
                // removed with its step since the listing
            }
        }
        int complete = completeGroups(tier);
        if (complete >= most) {
            return new Learned(most, marked, true);
        }
        if (complete > 0) {
            // Group 0 was complete (recorded) and every commit since marked it: only the groups above may lack steps.
            return new Learned(most, marked, false);
        }
        // No record: the marks may be a committer's first ones, stopped part way (a run written before marks whose
        // earlier steps were being marked): the step folders say which steps are committed, marked or not.
        TreeSet<Long> steps = new TreeSet<>(marked);
        steps.addAll(CommitProtocol.committedInFolders(tier));
        return new Learned(most, new ArrayList<>(steps), false);
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
