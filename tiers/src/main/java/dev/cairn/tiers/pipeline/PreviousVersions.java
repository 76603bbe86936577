package dev.cairn.tiers.pipeline;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The newest version this pipeline saved at each chunk position (entry name, offset, length): its content hash and
 * the bases it is stored against. Hashes only, never bytes: one small row per chunk position of the state. A save
 * may read a version older than the newest (encoders run in parallel); any version the tier still holds whole-chained
 * is a correct base, so that only costs bytes.
 */
final class PreviousVersions {
    record Version(String hash, List<String> bases) {
    }

    private record Position(String entry, long offset, int length) {
    }

    private final Map<Position, Version> versions = new ConcurrentHashMap<>();

    Version get(SaveJob job, int i) {
        return versions.get(new Position(job.entryNameOf(i), job.offsetOf[i], job.lengthOf[i]));
    }

    void put(SaveJob job, int i, String hash, List<String> bases) {
        versions.put(new Position(job.entryNameOf(i), job.offsetOf[i], job.lengthOf[i]), new Version(hash, bases));
    }
}
