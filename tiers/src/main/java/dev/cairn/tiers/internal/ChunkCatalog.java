package dev.cairn.tiers.internal;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What one tier is known to hold, by chunk hash, and which hashes saves in flight rely on. The dedup check and the
 * GC sweep meet here: a save pins a hash before it decides to skip or write it, and the sweep never deletes a pinned
 * hash, so a chunk a save counts on cannot vanish before that save commits. A differential chunk is only usable
 * with its bases, so a save pins those too (see {@link #pinChain}).
 *
 * <p>Keys are content hashes of either {@link dev.cairn.tiers.internal.codec.ContentHash} (a store may hold format-2 and
 * format-3 checkpoints side by side); both are 32 hex digits, and a save only ever looks up keys it computed with its
 * own hash, so a key of the other hash answers it only by a 128-bit accident.
 *
 * <p>Pins are invisible to a collector in another process (the command line's {@code gc}), which deletes every
 * chunk no kept step names once it is older than its grace period. Against that collector the catalog keeps, per
 * hash, when the store's copy was last written, and the hashes the tier's newest committed step names (a collector
 * always keeps the newest step): {@link #reusable} says whether a save may count on a stored chunk without writing
 * it again. Whatever it says, the commit confirms in the store every chunk it did not put itself before it writes
 * its index ({@code commit.ChunkConfirmation}), and asks this again right then, with the newest step committed by
 * then and the ages the store gave: a chunk that no longer qualifies (A, B, A again: the newest step that named it
 * was superseded; or a slow save) is written again as stored before the commit names it.
 *
 * <p>The catalog also remembers, for a grace period, which chunks this process's collections deleted: a multi-rank
 * commit on rank 0 pins every chunk its ranks name and asks the store again only for those ({@link #pinNamed}).
 *
 * <p>Per held hash it also knows the one {@link Form} the tier stores it in (learned from the stored headers for a
 * chunk another writer stored, which this process's create of it found there); {@link ChunkForms} is what keeps that
 * form from changing under a key.
 *
 * <p>A checkpointer's catalog never lists the store (a tool that copies whole steps may: {@code Tier#LIST_CHUNKS}). A
 * process starts it from what its rank's rows of the tier's newest committed step name
 * ({@link Seed}; nothing in a tier with no committed step): their chunks are stored, in the form the rows record, for
 * as long as a collector keeps that step, which every collector does while it is the newest. A chunk it does not
 * know is taken for not stored: a save puts it, create-only, and adopts the stored form if the tier held it after all
 * ({@link ChunkForms#put}).
 *
 * <p>A chunk whose stored object was found damaged (a promotion or a restore decoded it and its content hash did not
 * match: {@link #markDamaged}) is taken for not stored, whatever the store says of it since, until a writer meets it
 * ({@link ChunkForms#put}): the saves after it write the chunk instead of counting on it. The mark is a verdict of one
 * read, which may be false or stale (the object written again or repaired since), so the writer reads the stored object
 * whole first and puts over it only where that read too finds it damaged; where it finds it intact, the mark ends
 * ({@link #markIntact}) and the stored form is kept, as committed steps record it.
 */
public final class ChunkCatalog {
    private final Map<String, Long> present = new HashMap<>();
    private final Map<String, Integer> pins = new HashMap<>();
    /** Pins kept for a step until its committer lets them go ({@link #keepPinnedUntil}). */
    private final Map<Long, List<String>> keptPins = new HashMap<>();
    /** The codec of each present chunk, where known: chunks found stored by a create or a stat are learned on demand. */
    private final Map<String, String> codecs = new HashMap<>();
    /** The bases of each present chunk whose codec is known (empty for a whole chunk), nearest first. */
    private final Map<String, List<String>> bases = new HashMap<>();
    /** When the store's copy of each present chunk was last written, in epoch milliseconds, as far as this process knows. */
    private final Map<String, Long> writtenAt = new HashMap<>();
    /** The hashes the newest step committed in the tier names (as far as this process knows), and that step. */
    private Set<String> namedByNewest = Set.of();
    private long newestStep = -1;
    /**
     * The chunks this process's collections deleted, by hash: when (epoch milliseconds of the collector's clock). A
     * multi-rank commit asks the store again for those the ranks name ({@link #pinNamed}); kept until
     * {@link #deleteUnlessPinned} is told they are older than its horizon. In the order they were recorded (a hash
     * deleted again moves to the end), so that forgetting the old ones looks at those only: with the default grace of
     * minutes, a save into memory every few milliseconds keeps millions here, which a scan at every collection read
     * through once a step.
     */
    private final java.util.LinkedHashMap<String, Long> deletedAt = new java.util.LinkedHashMap<>();
    /**
     * The chunks whose stored object was found damaged ({@link #markDamaged}) and has not been written again since:
     * absent from {@link #present}, and kept out of it by what only confirms that the object is stored.
     */
    private final Set<String> damaged = new HashSet<>();

    private final Object[] writeLocks = new Object[64];

    {
        for (int i = 0; i < writeLocks.length; i++) {
            writeLocks[i] = new Object();
        }
    }

    /**
     * The lock a writer holds while it puts {@code hash} and marks it present, so that the catalog's codec and bases
     * of a hash always describe the bytes the store holds. Striped: writes of other hashes rarely wait.
     */
    public Object writeLock(String hash) {
        return writeLocks[(hash.hashCode() & 0x7fffffff) % writeLocks.length];
    }

    /** Pins {@code hash}; returns its stored size when the tier already holds it, else -1. */
    public synchronized long pin(String hash) {
        pins.merge(hash, 1, Integer::sum);
        Long size = present.get(hash);
        return size == null ? -1 : size;
    }

    /** The stored size of {@code hash} when the tier holds it, else -1; takes no pin. */
    public synchronized long sizeOf(String hash) {
        Long size = present.get(hash);
        return size == null ? -1 : size;
    }

    /** Forgets that the tier holds {@code hash} (it may be gone); pins are kept. */
    public synchronized void forget(String hash) {
        present.remove(hash);
        codecs.remove(hash);
        bases.remove(hash);
        writtenAt.remove(hash);
    }

    /**
     * Records that the tier's stored object of {@code hash} is damaged: its decoded bytes do not have that content hash,
     * or do not decode (a promotion or a restore found it). The catalog forgets the chunk and takes it for not stored
     * until a writer meets it ({@link ChunkForms#put}: it reads the object whole again and puts over it
     * ({@link #markPresent(String, long, String, List)}) only where that read finds it damaged too, else ends the mark,
     * {@link #markIntact}) or a collection deletes it: what only
     * says that the object is stored (a commit's confirmation, a create that found it) does not make it present again,
     * so a save in flight that counted on it before the mark does not lead the saves after it to count on it too. A
     * save, which pins, then writes the chunk instead of reusing it, and no chain is built on it ({@link #pinChain} finds
     * it absent, so a save encodes a differential chunk stored against it whole, and its writer reads that chunk and its
     * chain again and puts it whole over the stored one only where the chain fails that read). Pins are kept; the stored object is
     * left where it is (steps that name it are restored from another tier's copy until it is written again).
     */
    public synchronized void markDamaged(String hash) {
        forget(hash);
        damaged.add(hash);
    }

    /** Whether the stored object of {@code hash} was found damaged and not written again since ({@link #markDamaged}). */
    public synchronized boolean damaged(String hash) {
        return damaged.contains(hash);
    }

    /**
     * Ends a mark of {@code hash} as damaged ({@link #markDamaged}) without taking it for present: a writer read the
     * stored object whole, by its own header and chain, and found it intact (the verdict was false or stale: a read
     * cut short, a codec failing for its own reasons, an object written again or repaired since), or found it gone.
     * The writer then learns the stored form as a create that finds the key does ({@link ChunkForms#put}), or creates it.
     */
    public synchronized void markIntact(String hash) {
        damaged.remove(hash);
    }

    /** Releases one pin of every hash of {@code chain}. */
    public synchronized void unpinAll(List<String> chain) {
        for (String h : chain) {
            unpin(h);
        }
    }

    /**
     * Keeps {@code pinned} (pins the caller holds) pinned until {@link #releaseKept} of {@code step}: rank 0 of a
     * multi-rank commit pins every chunk the ranks name, and the step's MANIFEST protects them from this process's
     * collections only once the tier's retention holds the step, after the commit returns; until then a background
     * collection (a later step's, which may have committed while this one waited for the ranks) could delete a chunk
     * only this step names.
     */
    public synchronized void keepPinnedUntil(long step, List<String> pinned) {
        keptPins.computeIfAbsent(step, s -> new ArrayList<>()).addAll(pinned);
    }

    /** Lets go of the pins {@link #keepPinnedUntil} kept for {@code step}, if any. */
    public synchronized void releaseKept(long step) {
        List<String> kept = keptPins.remove(step);
        if (kept != null) {
            unpinAll(kept);
        }
    }

    public synchronized void unpin(String hash) {
        pins.computeIfPresent(hash, (k, n) -> n == 1 ? null : n - 1);
    }

    /**
     * Marks {@code hash} present, written just now (or confirmed in the store just now); ignored for a chunk found
     * damaged ({@link #markDamaged}), which only a write with its form ends.
     */
    public synchronized void markPresent(String hash, long storedSize) {
        if (damaged.contains(hash)) {
            return;
        }
        present.put(hash, storedSize);
        writtenAt.put(hash, System.currentTimeMillis());
    }

    /**
     * Marks {@code hash} present as a committed step's row records it ({@link Seed}): stored {@code storedSize} bytes
     * with {@code codec} against {@code chain}, nearest first; when it was last written is not known, so a save counts
     * on it only while the step that names it is the newest ({@link #committed}, {@link #reusable}). Ignored for a
     * hash the catalog knows already, and for one found damaged ({@link #markDamaged}).
     */
    public synchronized void markCommitted(String hash, long storedSize, String codec, List<String> chain) {
        if (damaged.contains(hash)) {
            return;
        }
        if (present.putIfAbsent(hash, storedSize) == null) {
            codecs.put(hash, codec);
            bases.put(hash, List.copyOf(chain));
        }
    }

    /**
     * What a process's catalog of a tier starts from, once, at its first use ({@link Tier#catalog}), instead of a
     * listing of every chunk: the chunks a committed step names, marked with {@link #markCommitted} and that step
     * with {@link #committed}.
     */
    @FunctionalInterface
    public interface Seed {
        /** Nothing: an empty catalog (a tool's short-lived tier, a tier no save writes). */
        Seed NONE = (tier, catalog) -> { };

        void fill(Tier tier, ChunkCatalog catalog) throws IOException;
    }

    /**
     * Marks {@code hash} present as a stat (or a create that found it) saw it, last written at {@code lastModified}. A size other
     * than the known one means another process stored the key in another form: its codec and bases are then
     * learned again from the stored object ({@link ChunkForms#held}). Ignored for a chunk found damaged
     * ({@link #markDamaged}): the object the store holds is the damaged one.
     */
    public synchronized void markPresent(String hash, long storedSize, java.time.Instant lastModified) {
        if (damaged.contains(hash)) {
            return;
        }
        Long known = present.put(hash, storedSize);
        if (known != null && known != storedSize) {
            codecs.remove(hash);
            bases.remove(hash);
        }
        writtenAt.put(hash, lastModified.toEpochMilli());
    }

    /** Marks {@code hash}, which the tier holds, as written just now (its stored form unchanged). */
    public synchronized void markRewritten(String hash) {
        if (present.containsKey(hash)) {
            writtenAt.put(hash, System.currentTimeMillis());
        }
    }

    /**
     * Whether a save may count on the stored copies of {@code hashes} without writing them again: each is present
     * and either named by the tier's newest committed step (which every collector keeps) or written at or after
     * {@code writtenSinceMillis}, so that a collector from another process, which leaves chunks younger than its
     * grace period alone, does not take it while the save runs. A chunk that fails this is written again, which
     * restarts its age.
     */
    public synchronized boolean reusable(List<String> hashes, long writtenSinceMillis) {
        for (String h : hashes) {
            if (!reusable(h, writtenSinceMillis)) {
                return false;
            }
        }
        return true;
    }

    /** {@link #reusable(List, long)} of {@code hash} and its {@code chain}. */
    public synchronized boolean reusable(String hash, List<String> chain, long writtenSinceMillis) {
        return reusable(hash, writtenSinceMillis) && reusable(chain, writtenSinceMillis);
    }

    private boolean reusable(String hash, long writtenSinceMillis) {
        return present.containsKey(hash) && !damaged.contains(hash)
                && (namedByNewest.contains(hash) || writtenAt.getOrDefault(hash, Long.MIN_VALUE) >= writtenSinceMillis);
    }

    /** Records that {@code step}, naming {@code hashes}, is committed in the tier; kept only if it is the newest known. */
    public synchronized void committed(long step, Set<String> hashes) {
        if (step > newestStep) {
            newestStep = step;
            namedByNewest = Set.copyOf(hashes);
        }
    }

    /** Marks {@code hash} present, stored whole with {@code codec} (null when unknown). */
    public synchronized void markPresent(String hash, long storedSize, String codec) {
        markPresent(hash, storedSize, codec, List.of());
    }

    /**
     * Marks {@code hash} present, stored with {@code codec} (null when unknown) against {@code chain}, nearest first:
     * the caller wrote it just now, which ends a mark of it as damaged ({@link #markDamaged}).
     */
    public synchronized void markPresent(String hash, long storedSize, String codec, List<String> chain) {
        damaged.remove(hash);
        present.put(hash, storedSize);
        writtenAt.put(hash, System.currentTimeMillis());
        if (codec == null) {
            codecs.remove(hash);
            bases.remove(hash);
        } else {
            codecs.put(hash, codec);
            bases.put(hash, List.copyOf(chain));
        }
    }

    /**
     * Records the form of a chunk already present (found stored by a create or a stat), as read from its stored headers; ignored once
     * the chunk is gone, when its stored size is no longer {@code storedSize}, or when its form is known already.
     */
    public synchronized void learnForm(String hash, long storedSize, String codec, List<String> chain) {
        Long size = present.get(hash);
        if (size != null && size == storedSize && !codecs.containsKey(hash)) {
            codecs.put(hash, codec);
            bases.put(hash, List.copyOf(chain));
        }
    }

    /**
     * How one tier stores one chunk key: the stored length, the codec its header names and the bases its chain of
     * headers names, nearest first (empty for a whole chunk). A tier holds exactly one form per key
     * ({@link ChunkForms}), and every manifest of the tier that names the key records this form.
     */
    public record Form(long length, String codec, List<String> bases) {
        public Form {
            bases = List.copyOf(bases);
        }
    }

    /** The form of {@code hash} when the tier holds it and its form is known, else null; one consistent snapshot. */
    public synchronized Form formOf(String hash) {
        Long size = present.get(hash);
        String codec = codecs.get(hash);
        return size == null || codec == null ? null : new Form(size, codec, bases.get(hash));
    }

    /** The bases {@code hash} is stored against (empty when whole), or null when this catalog does not know them. */
    public synchronized List<String> basesOf(String hash) {
        return bases.get(hash);
    }

    /**
     * Pins every hash of {@code chain} at once and says whether all of them are present. A differential chunk is only
     * as good as its bases: pinning them under one lock means no sweep can take a base between the checks. The pins
     * are taken either way; the caller releases them like any other.
     */
    public synchronized boolean pinChain(List<String> chain) {
        boolean all = true;
        for (String h : chain) {
            pins.merge(h, 1, Integer::sum);
            all &= present.containsKey(h);
        }
        return all;
    }

    /**
     * Deletes the chunks of {@code hashes} unless a save (or a multi-rank commit, {@link #pinNamed}) has pinned them,
     * atomically with respect to {@link #pin} (a save either pins first and the chunk stays, or pins after and finds it
     * absent, so it writes the chunk again), leaving also those the newest committed step this catalog knows names
     * (every collector keeps that step; a multi-rank commit releases its pins once its step is that one, before this
     * process's collector holds it) and those {@code spare} says to keep (asked under the catalog's lock, just before
     * the deletion): in batches of {@value #DELETE_BATCH}, each under the catalog's lock for one call of
     * {@code deletion} (one DeleteObjects request on S3), so that saves pin in between. Each deletion is recorded at
     * {@code nowMillis} for {@link #pinNamed}; those recorded before {@code forgetBeforeMillis} are forgotten. Returns
     * the hashes it deleted (those it passed to {@code deletion}), in order; a failing batch throws, and the batches
     * before it stay deleted.
     */
    public List<String> deleteUnlessPinned(List<String> hashes, Predicate<String> spare, BatchDeletion deletion,
                                           long nowMillis, long forgetBeforeMillis) throws IOException {
        synchronized (this) {
            forgetDeletedBefore(forgetBeforeMillis);
        }
        List<String> deleted = new ArrayList<>();
        for (int from = 0; from < hashes.size(); from += DELETE_BATCH) {
            synchronized (this) {
                List<String> batch = new ArrayList<>();
                for (String hash : hashes.subList(from, Math.min(hashes.size(), from + DELETE_BATCH))) {
                    if (!pins.containsKey(hash) && !namedByNewest.contains(hash) && !spare.test(hash)) {
                        batch.add(hash);
                        present.remove(hash);
                        codecs.remove(hash);
                        bases.remove(hash);
                        writtenAt.remove(hash);
                    }
                }
                if (!batch.isEmpty()) {
                    for (String hash : batch) {
                        deletedAt.remove(hash); // to the end: the map stays in the order of the times recorded
                        deletedAt.put(hash, nowMillis); // before the request: a failed one may have deleted some
                    }
                    deletion.run(batch);
                    batch.forEach(damaged::remove); // gone: a create puts the chunk again
                    deleted.addAll(batch);
                }
            }
        }
        return deleted;
    }

    /**
     * Forgets the deletions recorded before {@code horizonMillis}, oldest first, stopping at the first that is not:
     * those after it were recorded later. A clock that went back leaves some a little longer, which only makes a
     * multi-rank commit ask the store for them once more.
     */
    private void forgetDeletedBefore(long horizonMillis) {
        for (var it = deletedAt.values().iterator(); it.hasNext(); ) {
            if (it.next() >= horizonMillis) {
                return;
            }
            it.remove();
        }
    }

    /** Chunks one {@link #deleteUnlessPinned} call deletes under one hold of the lock. */
    public static final int DELETE_BATCH = 1000;

    /** A store deletion of many chunks, run under the catalog's lock. */
    @FunctionalInterface
    public interface BatchDeletion {
        void run(List<String> hashes) throws IOException;
    }

    /**
     * Pins every hash of {@code named} (one pin each, released with {@link #unpinAll}) and returns those this
     * process's collections deleted since the horizon they were last given: a multi-rank commit asks the store for
     * exactly those. Taken under the catalog's lock, so a collection of this process either deleted a chunk before
     * (it is returned) or leaves it until the pins go.
     */
    public synchronized List<String> pinNamed(java.util.Collection<String> named) {
        List<String> deleted = new ArrayList<>();
        for (String h : named) {
            pins.merge(h, 1, Integer::sum);
            if (deletedAt.containsKey(h)) {
                deleted.add(h);
            }
        }
        return deleted;
    }

    public synchronized boolean isPinned(String hash) {
        return pins.containsKey(hash);
    }

    public synchronized Set<String> pinned() {
        return new HashSet<>(pins.keySet());
    }

    public synchronized int size() {
        return present.size();
    }
}
