package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.UnusableObjectException;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a commit checks before it names a chunk: every chunk a save relies on without having put it itself (found
 * stored and reused, the bases of differential chunks) is asked of the store itself, not of this process's catalog,
 * which misses deletions by a collector in another process (the command line's {@code gc}). Each rank asks for its own,
 * before it writes its index ({@link CommitProtocol#commit}); in a multi-rank run rank 0 then asks again only for the
 * chunks the ranks name that its own collections deleted meanwhile ({@code RankCommit}, {@code ChunkCatalog#pinNamed}).
 * Requests grow with what a save reuses, not with what it names.
 *
 * <p>Why a chunk this save put is not asked again: a collector deletes only chunks that no kept step names and that are
 * older than its grace period, measured from the chunk's last write (a sweep re-checks that age just before each batch
 * delete), so a chunk put during the save stays for any collector whose grace exceeds the save. The save wrote again
 * every reused chunk that was neither recent nor named by the newest committed step ({@code ChunkCatalog#reusable})
 * when it encoded it; since either reason can lapse while the save runs (a newer step commits that does not name the
 * chunk, or time passes), the commit asks again right after the confirmation, with the ages the confirmation read and
 * the newest step committed now, and writes again each reused chunk that lapsed ({@link #refreshLapsed}): what a
 * commit counts on is, when its MANIFEST is created, named by the newest step or at most about {@code freshFor} old
 * (plus, with several ranks, rank 0's wait for the others).
 *
 * <p>The windows that remain, exactly: (1) a collector with a grace shorter than the save (or zero) may delete a chunk
 * this save put, unseen: then the step commits naming it; against such a collector only the reused chunks are
 * checked, and a step fails with STORAGE if one is gone (the catalog forgets it, so the next save writes it). (2) A
 * sweep that read a chunk's older copy as aged just before this save put the same content again, and deletes it just
 * after (the time between a batch's age check and its delete). (3) A deletion of a reused chunk between its
 * confirmation and the MANIFEST create, by a collector whose grace is shorter than that moment.
 */
public final class ChunkConfirmation {
    private ChunkConfirmation() {
    }

    /**
     * Confirms that {@code tier} holds every chunk of {@code unconfirmed} (hash to the rank whose index names it) with
     * the stored length {@code recorded} gives it, where it gives one; fails with STORAGE naming the missing ones and
     * those stored at another length, which the catalog then forgets. Another length means another form of the same
     * content, stored since the save found the chunk (the chunk deleted meanwhile by a collector in another process,
     * then written again by a later save, whose codec choice may differ): the step would record a codec and a length
     * the tier does not hold, and its readers stop at the recorded length.
     */
    static void confirm(Tier tier, long step, Map<String, Integer> unconfirmed, Map<String, Long> recorded)
            throws IOException {
        confirm(tier, step, unconfirmed, recorded, System.nanoTime(), WaitClock.SYSTEM);
    }

    /** The stored length each chunk row of {@code manifests} records, by hash (bases, named by hash only, have none). */
    public static Map<String, Long> recordedLengths(Iterable<Manifest> manifests) {
        Map<String, Long> lengths = new HashMap<>();
        for (Manifest m : manifests) {
            for (EntryRecord e : m.entries()) {
                for (ChunkRef c : e.chunks()) {
                    lengths.put(c.hash(), c.storedLength());
                }
            }
        }
        return lengths;
    }

    /**
     * As {@link #confirm(Tier, long, Map)}, asking again until {@code until} (a {@link WaitClock#nanoTime()}) while the
     * store cannot answer: a multi-rank commit on the peer tier meets a peer that is slow or marked down for a moment
     * (the store then says it cannot tell, rather than leaving that peer's chunks out as absent).
     */
    static void confirm(Tier tier, long step, Map<String, Integer> unconfirmed, Map<String, Long> recorded, long until,
                        WaitClock clock) throws IOException {
        if (unconfirmed.isEmpty()) {
            return;
        }
        ChunkCatalog catalog = tier.catalog();
        // One question for all of them (ObjectStore.statAll: a request per peer, HEADs in flight together on S3), which
        // costs what the step names, not what the tier holds (a listing of every chunk did).
        Map<String, String> hashOf = new LinkedHashMap<>();
        for (String hash : unconfirmed.keySet()) {
            hashOf.put(tier.layout().chunkKey(hash), hash);
        }
        java.util.Set<String> unusable = new java.util.HashSet<>();
        Map<String, ObjectInfo> held = statAll(tier, hashOf, until, clock, unusable);
        List<String> missing = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        List<String> damaged = new ArrayList<>();
        learn(catalog, hashOf, held, recorded,
                hash -> (unusable.contains(hash) ? damaged : missing).add(hash + " (named by rank " + unconfirmed.get(hash) + ")"),
                (hash, size) -> changed.add(hash + " (named by rank " + unconfirmed.get(hash) + ", " + size + " bytes stored, "
                        + recorded.get(hash) + " recorded)"));
        if (!damaged.isEmpty()) {
            throw notCommitted(tier, step, damaged, "are objects the store finds unusable (damaged)",
                    "a new save writes them again");
        }
        if (!missing.isEmpty()) {
            throw notCommitted(tier, step, missing, "are not in the tier (deleted since the save found them, by a garbage"
                    + " collector with a short grace period?)", "a new save writes them again");
        }
        if (!changed.isEmpty()) {
            throw notCommitted(tier, step, changed, "are stored in another form than the save found (deleted and"
                    + " written again since?)", "a new save learns them again");
        }
    }

    /**
     * Right after {@link #confirm} of {@code confirmed} (which read each one's age from the store into the catalog):
     * writes again, with the bytes the tier holds, every one of them that {@code written} (the chunks this save or
     * promotion put itself) does not hold and that the catalog no longer says a save may count on
     * ({@link ChunkCatalog#reusable}, asked now: with the newest step committed now, and {@code freshForMillis}
     * before now), which restarts its age. The save decided to count on it when it encoded (or copied) the chunk, and
     * either reason can lapse before the commit: the newest step that named it was superseded by a step that does not
     * (a save of content A, then B, then A again, with B committed in between; retention, or a collector in another
     * process, may then retire the step that named it), or the save took long enough for a chunk that was recent then
     * to be older now than a collector's grace. A collector in another process ({@code cairn gc}), which cannot see
     * this process's pins, would then delete the chunk after the MANIFEST names it, if it listed the steps before the
     * MANIFEST. Rewritten, it is at the MANIFEST only as old as the rest of the commit takes (the MANIFEST follows at
     * once for one rank; for several, within rank 0's wait, see {@code CairnConfig}'s gcGrace of at least twice the
     * deadline); one that still qualifies is named by the newest step, or at most {@code freshForMillis} older.
     *
     * <p>First, a chunk it counted on that the catalog holds as damaged fails the step ({@link #failDamaged}), in
     * every tier: it is neither committed nor written again as stored.
     *
     * <p>Costs no request where nothing lapsed (the ages are the confirmation's); a GET and a PUT of each lapsed chunk.
     * Nothing for a store in this process's memory: no process but this one (and, for the peer tier, rank 0 of the run,
     * whose commit asks again for what its collections deleted) collects it.
     */
    public static void refreshLapsed(Tier tier, long step, Map<String, Integer> confirmed, java.util.Set<String> written,
                                     Map<String, Long> recorded, long freshForMillis, String retry) throws IOException {
        if (confirmed.isEmpty()) {
            return;
        }
        ChunkCatalog catalog = tier.catalog();
        failDamaged(tier, step, confirmed, written, retry);
        if (tier.store().inMemory()) {
            return;
        }
        long freshSince = System.currentTimeMillis() - freshForMillis;
        List<String> lapsed = new ArrayList<>();
        for (String hash : confirmed.keySet()) {
            if (!written.contains(hash) && !catalog.reusable(hash, List.of(), freshSince)) {
                lapsed.add(hash);
            }
        }
        List<String> gone = new ArrayList<>();
        for (String hash : lapsed) {
            Long length = recorded.get(hash); // none for a base: the length the confirmation just found
            long stored = length != null ? length : catalog.sizeOf(hash);
            if (stored < 0 || !ChunkForms.rewriteAsStored(tier, hash, stored)) {
                gone.add(hash + " (named by rank " + confirmed.get(hash) + ")");
                catalog.forget(hash);
            }
        }
        if (!gone.isEmpty()) {
            throw notCommitted(tier, step, gone, "are gone or stored in another form since the commit confirmed them"
                    + " (a garbage collector with a short grace period?)", retry);
        }
    }

    /**
     * Fails with STORAGE where a chunk of {@code confirmed} that {@code written} (the chunks this save or promotion put
     * itself) does not hold is marked damaged in the tier's catalog ({@link ChunkCatalog#markDamaged}): a promotion or
     * a restore found the stored object damaged after this save had counted on it. The confirmation's stat of it does not
     * end the mark (the damaged object is stored), and writing it again as stored ({@link #refreshLapsed}) would only
     * restart the age of the damaged bytes: the step would commit naming a chunk this process knows does not read in the
     * tier. Failed, the step leaves the chunk to the next save, which writes it again (over the stored object where
     * that is damaged when read again, {@code ChunkForms#put}).
     */
    private static void failDamaged(Tier tier, long step, Map<String, Integer> confirmed, java.util.Set<String> written,
                                    String retry) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        List<String> damaged = new ArrayList<>();
        for (Map.Entry<String, Integer> c : confirmed.entrySet()) {
            if (!written.contains(c.getKey()) && catalog.damaged(c.getKey())) {
                damaged.add(c.getKey() + " (named by rank " + c.getValue() + ")");
            }
        }
        if (!damaged.isEmpty()) {
            throw notCommitted(tier, step, damaged, "were found damaged in the tier (by a promotion or a restore that read"
                    + " them) after the save counted on them", retry);
        }
    }

    /**
     * What the store said of each key of {@code hashOf} ({@code held}: those it holds), against the stored lengths
     * {@code recorded} gives: a missing chunk, or one stored at another length (another form of the same content),
     * goes to {@code missing} or {@code changed} and the catalog forgets it; the catalog learns the size and age of the
     * others.
     */
    private static void learn(ChunkCatalog catalog, Map<String, String> hashOf, Map<String, ObjectInfo> held,
                              Map<String, Long> recorded, java.util.function.Consumer<String> missing,
                              java.util.function.ObjLongConsumer<String> changed) {
        for (Map.Entry<String, String> k : hashOf.entrySet()) {
            String hash = k.getValue();
            ObjectInfo o = held.get(k.getKey());
            Long want = recorded.get(hash);
            if (o == null) {
                missing.accept(hash);
                catalog.forget(hash);
            } else if (want != null && want != o.size()) {
                changed.accept(hash, o.size());
                catalog.forget(hash);
            } else {
                catalog.markPresent(hash, o.size(), o.lastModified());
            }
        }
    }

    /**
     * The chunks of {@code hashes} that {@code tier} does not hold, or holds at another stored length than
     * {@code recorded} gives (where it gives one), asked of the store in one question as {@link #confirm} asks: for a
     * writer that sends those again rather than failing (a copy between stores, {@code CheckpointAdmin.copy}, which has
     * every chunk's sources at hand). The catalog forgets those and learns the others' size and age, as in
     * {@link #confirm}.
     */
    public static java.util.Set<String> unconfirmed(Tier tier, java.util.Collection<String> hashes,
                                                   Map<String, Long> recorded) throws IOException {
        Map<String, String> hashOf = new LinkedHashMap<>();
        for (String hash : hashes) {
            hashOf.put(tier.layout().chunkKey(hash), hash);
        }
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        if (hashOf.isEmpty()) {
            return out;
        }
        Map<String, ObjectInfo> held = statAll(tier, hashOf, System.nanoTime(), WaitClock.SYSTEM, new java.util.HashSet<>());
        learn(tier.catalog(), hashOf, held, recorded, out::add, (hash, size) -> out.add(hash)); // unusable: sent again
        return out;
    }

    /** STORAGE: the step names {@code chunks} (the first five listed), which {@code what}; a new save {@code then}. */
    /** @param retry what puts it right, said to the caller (a new save, a copy run again) */
    private static CheckpointException notCommitted(Tier tier, long step, List<String> chunks, String what, String retry) {
        return new CheckpointException(Reason.STORAGE, "step " + step + " is not committed in tier " + tier.name() + ": "
                + chunks.size() + " chunk(s) it names and did not write " + what + ": "
                + String.join(", ", chunks.subList(0, Math.min(5, chunks.size()))) + (chunks.size() > 5 ? ", ..." : "")
                + "; " + retry);
    }

    /**
     * Asks again, with the multi-rank commit's backoff, while the store cannot tell. Where the store finds an object
     * unusable ({@link UnusableObjectException}: damage at rest, which asking again does not change), asks key by key:
     * each unusable chunk is left out of the answer, marked damaged in the tier's catalog (the next save writes it again
     * over the object rather than counting on it again, which would fail every later commit here), and its hash added to
     * {@code unusable}.
     */
    private static Map<String, ObjectInfo> statAll(Tier tier, Map<String, String> hashOf, long until, WaitClock clock,
                                                   java.util.Set<String> unusable) throws IOException {
        long pause = RankCommit.FIRST_POLL_NANOS;
        while (true) {
            try {
                return tier.store().statAll(hashOf.keySet());
            } catch (java.nio.file.NoSuchFileException | dev.cairn.ObjectTooLargeException e) {
                throw e;
            } catch (IOException e) {
                if (UnusableObjectException.in(e)) {
                    return statEach(tier, hashOf, unusable);
                }
                if (clock.nanoTime() + pause - until >= 0) {
                    throw e;
                }
                clock.pause(pause);
                pause = Math.min(RankCommit.MAX_POLL_NANOS, pause * 2);
            }
        }
    }

    /** {@link ObjectStore#statAll} one key at a time, each unusable chunk marked and added to {@code unusable} ({@link #statAll}). */
    private static Map<String, ObjectInfo> statEach(Tier tier, Map<String, String> hashOf, java.util.Set<String> unusable)
            throws IOException {
        Map<String, ObjectInfo> held = new LinkedHashMap<>();
        for (Map.Entry<String, String> k : hashOf.entrySet()) {
            try {
                held.put(k.getKey(), tier.store().stat(k.getKey()));
            } catch (java.nio.file.NoSuchFileException absent) {
                // left out
            } catch (IOException e) {
                if (!UnusableObjectException.in(e)) {
                    throw e;
                }
                tier.catalog().markDamaged(k.getValue());
                unusable.add(k.getValue());
            }
        }
        return held;
    }
}
