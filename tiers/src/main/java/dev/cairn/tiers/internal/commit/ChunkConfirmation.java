package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectInfo;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a commit checks between writing its index and creating its MANIFEST: every chunk the step names (those the
 * save wrote, those it found stored and reused, the bases of differential chunks, the chunks other ranks name) is
 * asked of the store itself, not of this process's catalog, which misses deletions by a collector in another
 * process (the command line's {@code gc}). A step is committed only naming chunks seen in the store after its index
 * was written.
 *
 * <p>Why a save still succeeds beside such a collector: it deletes only chunks that no kept step names and that are
 * older than its grace period, measured from the chunk's last write, and re-checks that age just before deleting;
 * the save wrote again every reused chunk that was neither recent nor named by the newest committed step
 * ({@code ChunkCatalog#reusable}), so its chunks stay young for the whole save and are left alone. A collector run
 * with a grace shorter than the save (or zero) can still delete one: then this check finds it gone and the step
 * fails with STORAGE instead of committing a damaged step, and the catalog forgets the chunk so that the next save
 * writes it. (A deletion that lands between this check and the MANIFEST create is the remaining window; only a
 * grace shorter than that moment opens it.)
 */
final class ChunkConfirmation {
    private ChunkConfirmation() {
    }

    /**
     * Confirms that {@code tier} holds every chunk of {@code unconfirmed} (hash to the rank whose index names it);
     * fails with STORAGE naming the missing ones, which the catalog then forgets.
     */
    static void confirm(Tier tier, long step, Map<String, Integer> unconfirmed) throws IOException {
        confirm(tier, step, unconfirmed, System.nanoTime(), WaitClock.SYSTEM);
    }

    /**
     * As {@link #confirm(Tier, long, Map)}, asking again until {@code until} (a {@link WaitClock#nanoTime()}) while the
     * store cannot answer: a multi-rank commit on the peer tier meets a peer that is slow or marked down for a moment
     * (the store then says it cannot tell, rather than leaving that peer's chunks out as absent).
     */
    static void confirm(Tier tier, long step, Map<String, Integer> unconfirmed, long until, WaitClock clock)
            throws IOException {
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
        Map<String, ObjectInfo> held = statAll(tier, hashOf, until, clock);
        List<String> missing = new ArrayList<>();
        for (Map.Entry<String, String> k : hashOf.entrySet()) {
            ObjectInfo o = held.get(k.getKey());
            if (o != null) {
                catalog.markPresent(k.getValue(), o.size(), o.lastModified());
            } else {
                missing.add(k.getValue() + " (named by rank " + unconfirmed.get(k.getValue()) + "'s index)");
                catalog.forget(k.getValue());
            }
        }
        if (!missing.isEmpty()) {
            throw new CheckpointException(Reason.STORAGE, "step " + step + " is not committed in tier " + tier.name() + ": "
                    + missing.size() + " chunk(s) it names and did not write are not in the tier (deleted since the save"
                    + " found them, by a garbage collector with a short grace period?): "
                    + String.join(", ", missing.subList(0, Math.min(5, missing.size())))
                    + (missing.size() > 5 ? ", ..." : "") + "; a new save writes them again");
        }
    }

    /** Asks again, with the multi-rank commit's backoff, while the store cannot tell. */
    private static Map<String, ObjectInfo> statAll(Tier tier, Map<String, String> hashOf, long until, WaitClock clock)
            throws IOException {
        long pause = RankCommit.FIRST_POLL_NANOS;
        while (true) {
            try {
                return tier.store().statAll(hashOf.keySet());
            } catch (java.nio.file.NoSuchFileException | dev.cairn.ObjectTooLargeException e) {
                throw e;
            } catch (IOException e) {
                if (clock.nanoTime() + pause - until >= 0) {
                    throw e;
                }
                clock.pause(pause);
                pause = Math.min(RankCommit.MAX_POLL_NANOS, pause * 2);
            }
        }
    }
}
