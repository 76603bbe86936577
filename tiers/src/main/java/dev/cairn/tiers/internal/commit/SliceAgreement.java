package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Rank 0's check, before it creates the MANIFEST of a step saved by several ranks, that the ranks' entries of each
 * name make one entry of the checkpoint: one kind (tensor, global blob or per-rank blob), and for a tensor one dtype
 * and global shape, and slices that hold every element of the global tensor exactly once. Several ranks may save the
 * very same slice (a replica: a bias every rank holds, a tensor-parallel shard repeated in every data-parallel group);
 * a restore reads one of them, as it does here. Anything else fails the step with INVALID_INPUT naming the entry and
 * the ranks and slices that disagree, and nothing is committed.
 *
 * <p>Why at the commit and not only at the restore ({@code RestorePlan}, which refuses such a step as CORRUPT):
 * committed, the step is the newest, and retention retires the steps before it (with {@code keepLast(1)} the last
 * good one); every restore on another world size then fails, long after the save that could have said why. A save
 * whose ranks disagree is a bug of the caller's sharding (a rank that saves the wrong part, another dtype on one
 * rank), which the caller can only fix where the save tells it.
 *
 * <p>Rank 0 has every rank's rows here: it read each rank's index whole (its entries, with their slices) before the
 * merge, whatever the manifest format keeps in the MANIFEST afterwards (format 4 and 5 leave the rows in the indexes,
 * format 5 summarizes them in its directory's pages), so the check sees every slice of every rank.
 *
 * <p>Cost: a world of 10,000 ranks may cut one tensor 10,000 ways, and the check runs in the commit, between the last
 * index and the MANIFEST. Replicas are grouped first (a hash of the slice), so a tensor every rank holds whole is one
 * slice. The distinct slices of no element aside, coverage is a sum: slices that do not overlap and lie in the global
 * tensor hold all of it exactly when their volumes add up to its volume. Overlap is found by a sweep along the
 * dimension with the most distinct slice starts: sorted by their start there, each slice is compared only with the
 * slices still open at its start (a heap by their end), so an even split along any one dimension compares nothing and a
 * grid of p x q blocks compares each block with at most the blocks of its column: n log n, and n x sqrt(n) for a
 * square grid of n blocks. Only an unusual cut (many slices that all span one stretch of every dimension's starts)
 * compares more; past {@value #COMPARISON_BUDGET} comparisons the sweep stops, and the volume sum alone decides (it
 * still refuses a gap that no overlap fills, and an overlap that no gap offsets); the restore's own check stays behind
 * it for what is left.
 */
final class SliceAgreement {
    /** Pairwise slice comparisons of one tensor's sweep at most (about a second of CPU in the worst case). */
    static final long COMPARISON_BUDGET = 50_000_000L;
    /** Slices a message lists at most. */
    private static final int LISTED = 8;

    private SliceAgreement() {
    }

    /** One distinct slice of a tensor: where it lies, and the lowest rank and the number of ranks that saved it. */
    private static final class Box {
        final long[] lo;
        final long[] len;
        final int hash;
        int rank;
        int replicas;

        Box(long[] lo, long[] len, int rank) {
            this.lo = lo;
            this.len = len;
            this.hash = 31 * Arrays.hashCode(lo) + Arrays.hashCode(len);
            this.rank = rank;
        }

        long hi(int d) {
            return lo[d] + len[d];
        }

        long volume() {
            long v = 1;
            for (long l : len) {
                v *= l;
            }
            return v;
        }

        boolean overlaps(Box b) {
            for (int d = 0; d < lo.length; d++) {
                if (Math.max(lo[d], b.lo[d]) >= Math.min(hi(d), b.hi(d))) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Box b && hash == b.hash && Arrays.equals(lo, b.lo) && Arrays.equals(len, b.len);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        /** The slice as ranges, {@code [0:10, 0:300]}, and who saved it. */
        String describe() {
            StringBuilder s = new StringBuilder("rank ").append(rank);
            if (replicas > 1) {
                s.append(" (and ").append(replicas - 1).append(" more with the same slice)");
            }
            return s.append(' ').append(ranges(lo, len)).toString();
        }
    }

    /**
     * Fails step {@code step} with INVALID_INPUT where the ranks' {@code entries} (every rank's, in rank order) do not
     * make one entry of each name: see the class comment.
     */
    static void check(long step, List<EntryRecord> entries) {
        Map<String, List<EntryRecord>> byName = new LinkedHashMap<>();
        for (EntryRecord e : entries) {
            byName.computeIfAbsent(e.name(), k -> new ArrayList<>()).add(e);
        }
        for (Map.Entry<String, List<EntryRecord>> named : byName.entrySet()) {
            List<EntryRecord> copies = named.getValue();
            EntryRecord first = copies.get(0);
            for (EntryRecord e : copies) {
                if (e.tensor() != first.tensor() || e.perRank() != first.perRank() || e.dtype() != first.dtype()
                        || (e.tensor() && !Arrays.equals(e.globalShape(), first.globalShape()))) {
                    throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " is not committed: rank "
                            + first.rank() + " saves '" + named.getKey() + "' as " + kind(first) + " and rank " + e.rank()
                            + " as " + kind(e) + "; every rank must save an entry of one name with one kind, dtype and"
                            + " global shape, or no restore on another world size can read it");
                }
            }
            if (first.tensor()) {
                checkSlices(step, named.getKey(), first, copies);
            }
        }
    }

    /** The slices of tensor {@code name} ({@code copies}, one global shape) hold each of its elements exactly once. */
    private static void checkSlices(long step, String name, EntryRecord first, List<EntryRecord> copies) {
        long[] global = first.globalShape();
        int dims = global.length;
        long total = 1;
        for (long g : global) {
            total *= g;
        }
        // Replicas grouped: the distinct slices of at least one element (one of none holds nothing and overlaps nothing).
        Map<Box, Box> distinct = new HashMap<>();
        for (EntryRecord e : copies) {
            Box b = new Box(e.shardOffsets(), e.shape(), e.rank());
            Box seen = distinct.putIfAbsent(b, b);
            (seen == null ? b : seen).replicas++;
        }
        List<Box> boxes = new ArrayList<>(distinct.size());
        long held = 0;
        for (Box b : distinct.values()) {
            long v = b.volume();
            if (v > 0) {
                boxes.add(b);
                held = held > Long.MAX_VALUE - v ? Long.MAX_VALUE : held + v;
            }
        }
        if (dims == 0 || total == 0) {
            return; // a scalar's slices are all the whole (replicas); a tensor of no elements has nothing to hold
        }
        // The sweep's dimension: the one along which the slices start at the most places.
        int k = 0;
        int most = -1;
        long[] starts = new long[boxes.size()];
        for (int d = 0; d < dims; d++) {
            for (int i = 0; i < starts.length; i++) {
                starts[i] = boxes.get(i).lo[d];
            }
            Arrays.sort(starts);
            int count = starts.length == 0 ? 0 : 1;
            for (int i = 1; i < starts.length; i++) {
                count += starts[i] != starts[i - 1] ? 1 : 0;
            }
            if (count > most) {
                most = count;
                k = d;
            }
        }
        int sweep = k;
        String what = "tensor '" + name + "' (" + first.dtype().tag() + Arrays.toString(global) + ")";
        boxes.sort(Comparator.comparingLong((Box b) -> b.lo[sweep]).thenComparingInt(b -> b.rank));
        // Along the sweep's dimension, the first stretch that no slice reaches (a gap exactly there), if any: the
        // slices before one that starts past every earlier slice's end all end before it, and those after start later.
        long reached = 0;
        long gapFrom = -1;
        long gapTo = -1;
        PriorityQueue<Box> open = new PriorityQueue<>(Comparator.comparingLong((Box b) -> b.hi(sweep)));
        long compared = 0;
        for (Box b : boxes) {
            if (gapFrom < 0 && b.lo[sweep] > reached) {
                gapFrom = reached;
                gapTo = b.lo[sweep];
            }
            reached = Math.max(reached, b.hi(sweep));
            if (compared > COMPARISON_BUDGET) {
                continue; // the volume sum below decides alone
            }
            while (!open.isEmpty() && open.peek().hi(sweep) <= b.lo[sweep]) {
                open.poll();
            }
            for (Box o : open) {
                if (o.overlaps(b)) {
                    throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " is not committed: "
                            + o.describe() + " and " + b.describe() + " are overlapping slices of " + what + " that are"
                            + " not the same slice; several ranks may save the very same slice (a replica), but slices"
                            + " that share only some elements leave a restore two ranks' bytes for them");
                }
            }
            compared += open.size();
            open.add(b);
        }
        if (gapFrom < 0 && reached < global[sweep]) {
            gapFrom = reached;
            gapTo = global[sweep];
        }
        if (held > total) {
            // Only where the sweep stopped at its budget: distinct slices inside the tensor that overlap nowhere hold
            // at most its elements.
            throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " is not committed: the ranks' slices of "
                    + what + " hold more elements than its " + total + ", so some of them overlap without being the same"
                    + " slice: " + listed(boxes));
        }
        if (held < total) {
            String where = gapFrom < 0 ? "" : "; no rank saves " + (gapTo - gapFrom == 1 ? "index " + gapFrom
                    : "indexes " + gapFrom + ".." + (gapTo - 1)) + " of dimension " + sweep;
            throw new CheckpointException(Reason.INVALID_INPUT, "step " + step + " is not committed: the ranks' slices of "
                    + what + " hold " + held + " of its " + total + " elements" + where + ": " + listed(boxes)
                    + "; the ranks' slices must hold every element of the tensor, or no restore of all of it can succeed");
        }
    }

    private static String listed(List<Box> boxes) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < Math.min(LISTED, boxes.size()); i++) {
            s.append(i == 0 ? "" : ", ").append(boxes.get(i).describe());
        }
        if (boxes.isEmpty()) {
            s.append("no rank saves an element of it");
        } else if (boxes.size() > LISTED) {
            s.append(" and ").append(boxes.size() - LISTED).append(" more slices");
        }
        return s.toString();
    }

    private static String ranges(long[] lo, long[] len) {
        StringBuilder s = new StringBuilder("[");
        for (int d = 0; d < lo.length; d++) {
            s.append(d == 0 ? "" : ", ").append(lo[d]).append(':').append(lo[d] + len[d]);
        }
        return s.append(']').toString();
    }

    private static String kind(EntryRecord e) {
        if (!e.tensor()) {
            return e.perRank() ? "a per-rank blob" : "a blob";
        }
        return "tensor " + e.dtype().tag() + Arrays.toString(e.globalShape());
    }
}
