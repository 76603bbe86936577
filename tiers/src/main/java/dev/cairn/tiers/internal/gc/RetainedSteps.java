package dev.cairn.tiers.internal.gc;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What one process knows of one tier's committed steps, so that a collection after a commit needs no listing: the
 * steps it holds for retention (those listed once at its first collection or by a sweep, and every step this process
 * committed since), how many of them reference each chunk, the chunks that only retired steps referenced and that
 * are still to be deleted, and the RETIRED markers still to be removed.
 *
 * <p>A chunk is a candidate for deletion only while no held step references it, and a collection asks again
 * ({@link #spares}) just before it deletes. What this process does not know (a step another process committed in
 * the tier since the listing: {@code cairn restore --to} or an admin copy into a live tier, a leftover writer) only a
 * sweep finds; until then a retirement here may delete chunks such a step shares with the retired one, so nothing
 * else should commit into a tier a running checkpointer collects. A commit of this process whose outcome is unknown
 * makes the collector {@link #forget} instead.
 *
 * <p>{@link #forget} may come from a committing thread while a background collection learns the steps: each forget
 * starts a new generation, a listing made in an older one does not mark the steps known, and a collection that began
 * in an older one deletes nothing more (its references may be incomplete).
 *
 * <p>Thread-safe: commits record steps while a background collection works.
 */
final class RetainedSteps {
    /**
     * A step held for retention: its world size (which rank indexes it has), the pages of its MANIFEST's directory
     * (format 5 of several ranks; else none) and every chunk its MANIFEST names.
     */
    record Step(long step, int worldSize, List<String> pages, Set<String> hashes) {
    }

    /** A step retention dropped, its pages, and the chunks no held step references any more. */
    record Retired(long step, int worldSize, List<String> pages, List<String> unreferenced) {
    }

    /** Held by whoever collects this tier: one collection at a time per tier in this process. */
    final Object collecting = new Object();

    private final TreeMap<Long, Step> steps = new TreeMap<>();
    private final Map<String, Integer> references = new HashMap<>();
    /** Chunks to delete once they are due, by hash: the epoch millisecond before which they are not looked at. */
    private final Map<String, Long> pending = new LinkedHashMap<>();
    /** RETIRED markers put, by step: when (epoch milliseconds). */
    private final Map<Long, Long> markers = new LinkedHashMap<>();
    private boolean known;
    /** Counts {@link #forget}s, so that a collection can tell that one came while it worked. */
    private long generation;

    /** Whether the held steps are complete: listed (or swept) once, and no commit since failed to be recorded. */
    synchronized boolean known() {
        return known;
    }

    /** The current generation: take it before listing or deleting, and hand it back to {@link #markKnown}/{@link #spares}. */
    synchronized long generation() {
        return generation;
    }

    /** The held steps are complete, as learned from a listing begun in {@code generation}; ignored if a forget came since. */
    synchronized void markKnown(long generation) {
        if (generation == this.generation) {
            known = true;
        }
    }

    /**
     * Forgets every held step (a commit could not be recorded, or a retirement failed half-way): the next collection
     * learns the steps again (from the step marks, or a listing). Pending chunks stay pending; each is checked against
     * the references again when due.
     */
    synchronized void forget() {
        steps.clear();
        references.clear();
        known = false;
        generation++;
    }

    /** Holds {@code step} (once); its chunks are referenced from now on. */
    synchronized void add(long step, int worldSize, List<String> pages, Set<String> hashes) {
        if (steps.containsKey(step)) {
            return;
        }
        steps.put(step, new Step(step, worldSize, List.copyOf(pages), Set.copyOf(hashes)));
        for (String h : hashes) {
            references.merge(h, 1, Integer::sum);
        }
    }

    /**
     * Drops the held steps beyond the newest {@code keepLast}, oldest first, with the chunks they leave unreferenced;
     * those of them in {@code kept} (asked here, after every step recorded so far: steps being promoted out of the tier)
     * stay held, and are dropped by a later call once no longer kept.
     */
    synchronized List<Retired> retireBeyond(int keepLast, java.util.function.Supplier<Set<Long>> kept) {
        List<Retired> retired = new ArrayList<>();
        if (steps.size() <= keepLast) {
            return retired;
        }
        Set<Long> keep = kept.get();
        List<Long> beyond = new ArrayList<>(steps.keySet()).subList(0, steps.size() - keepLast);
        for (long step : beyond) {
            if (!keep.contains(step)) {
                retired.add(drop(step));
            }
        }
        return retired;
    }

    /**
     * After a sweep: the steps it retired ({@code retired}) are no longer held, and those it retained are. A held step
     * the sweep did not list as committed stays held: it may have been committed after the listing (a commit of this
     * process beside a background sweep) as well as retired by another collector before it; holding it keeps its chunks,
     * and retention drops it in its turn. The steps are known afterwards unless a forget came since {@code generation}
     * (when the sweep listed). Returns the chunks left unreferenced.
     */
    synchronized List<String> reconcile(Map<Long, Step> retained, java.util.Collection<Long> retired, long generation) {
        List<String> unreferenced = new ArrayList<>();
        for (Long step : retired) {
            if (steps.containsKey(step)) {
                unreferenced.addAll(drop(step).unreferenced());
            }
        }
        for (Step s : retained.values()) {
            add(s.step(), s.worldSize(), s.pages(), s.hashes());
        }
        markKnown(generation);
        return unreferenced;
    }

    private Retired drop(long step) {
        Step s = steps.remove(step);
        List<String> unreferenced = new ArrayList<>();
        for (String h : s.hashes()) {
            if (references.merge(h, -1, (a, b) -> a + b == 0 ? null : a + b) == null) {
                unreferenced.add(h);
            }
        }
        return new Retired(step, s.worldSize(), s.pages(), unreferenced);
    }

    synchronized boolean isReferenced(String hash) {
        return references.containsKey(hash);
    }

    /**
     * Whether a collection begun in {@code generation} must leave {@code hash}: a held step names it, or a forget came
     * since (the references may then be incomplete).
     */
    synchronized boolean spares(String hash, long generation) {
        return generation != this.generation || references.containsKey(hash);
    }

    /** Queues {@code hashes} for deletion, due at {@code dueMillis} (or earlier, if already queued so). */
    synchronized void pend(List<String> hashes, long dueMillis) {
        for (String h : hashes) {
            pending.merge(h, dueMillis, Math::min);
        }
    }

    /** Takes {@code hash} off the queue: deleted, gone, or referenced again. */
    synchronized void settle(String hash) {
        pending.remove(hash);
    }

    /**
     * The queued chunks due at {@code nowMillis} that no held step references; those referenced leave the queue. None
     * while the held steps are not known (after a forget): the references are incomplete then.
     */
    synchronized List<String> due(long nowMillis) {
        List<String> due = new ArrayList<>();
        if (!known) {
            return due;
        }
        for (var it = pending.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Long> e = it.next();
            if (references.containsKey(e.getKey())) {
                it.remove(); // a newer step names it again
            } else if (e.getValue() <= nowMillis) {
                due.add(e.getKey());
            }
        }
        return due;
    }

    synchronized void markerPut(long step, long atMillis) {
        markers.put(step, atMillis);
    }

    /** The steps whose RETIRED marker was put before {@code beforeMillis}; they leave the list. */
    synchronized List<Long> markersPutBefore(long beforeMillis) {
        List<Long> old = new ArrayList<>();
        for (var it = markers.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Long> e = it.next();
            if (e.getValue() < beforeMillis) {
                old.add(e.getKey());
                it.remove();
            }
        }
        return old;
    }
}
