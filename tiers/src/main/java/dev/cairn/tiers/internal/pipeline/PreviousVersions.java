package dev.cairn.tiers.internal.pipeline;

import dev.cairn.tiers.internal.codec.CodecChoice;
import dev.cairn.tiers.internal.codec.ContentHash;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The newest version this pipeline saved at each chunk position (entry name, offset, length): its content hash, and
 * the hash function that is of (a base is only usable by a save that keys by the same hash: see {@link ChunkEncoder}).
 * Hashes only, never bytes: one small row per chunk position of the state, with what the position's encodings learned
 * (how long to skip the differential form, which codec suits it). Not the bases a version is stored
 * against: the tier may hold that content in a form another save stored first, so its chain is read from the tier
 * ({@link dev.cairn.tiers.internal.ChunkForms#held}). A save may read a version older than the newest (encoders run in
 * parallel); any version the tier still holds whole-chained is a correct base, so that only costs bytes.
 */
final class PreviousVersions {
    /**
     * @param skip   saves at this position that will not try the differential form: after a try that did not pay
     *               (most values changed, as in dense training updates), the base is not rebuilt again for a while
     * @param misses differential tries in a row at this position that did not pay; each makes the next skip longer
     * @param choice the codec the position's last whole encoding chose or reused ({@link CodecChoice}); null if none
     */
    record Version(String hash, ContentHash contentHash, int skip, int misses, CodecChoice choice) {
    }

    private record Position(String entry, long offset, int length) {
    }

    private final Map<Position, Version> versions = new ConcurrentHashMap<>();

    Version get(SavePlan plan, int i) {
        return versions.get(new Position(plan.entryName(i), plan.offset(i), plan.length(i)));
    }

    void put(SavePlan plan, int i, String hash, ContentHash contentHash, int skip, int misses, CodecChoice choice) {
        versions.put(new Position(plan.entryName(i), plan.offset(i), plan.length(i)),
                new Version(hash, contentHash, skip, misses, choice));
    }
}
