package dev.cairn.tiers;

import dev.cairn.CheckpointAdmin.BadChunk;
import dev.cairn.CheckpointAdmin.Progress;
import dev.cairn.CheckpointAdmin.StepCheck;
import dev.cairn.CheckpointException;
import dev.cairn.ObjectInfo;
import dev.cairn.StoreRef;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.ChunkReader.Check;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.arrow.memory.BufferAllocator;

/**
 * One {@link CairnAdmin#verify}: every MANIFEST of the steps asked for in every store that holds one, then each step
 * in each store (its rank indexes against its MANIFEST, and every distinct chunk), each chunk checked at most once
 * per store however many steps share it.
 */
final class AdminVerify {
    private final CairnAdmin admin;
    private final StoreLayout layout;
    private final ChunkReader reader;
    private final BufferAllocator allocator;
    private final Map<StoreRef, Map<String, Check>> seen = new HashMap<>();

    AdminVerify(CairnAdmin admin, String run, ChunkReader reader, BufferAllocator allocator) {
        this.admin = admin;
        this.layout = new StoreLayout(run);
        this.reader = reader;
        this.allocator = allocator;
    }

    List<StepCheck> verify(List<Long> steps, Progress progress) throws IOException {
        SortedMap<Long, List<StoreRef>> committed = admin.committedSteps(layout.run());
        long total = 0;
        // Each store's MANIFEST of each step, or why it cannot be read.
        Map<Long, Map<StoreRef, Object>> manifests = new TreeMap<>();
        for (long s : steps) {
            Map<StoreRef, Object> perStore = new LinkedHashMap<>();
            for (StoreRef src : committed.getOrDefault(s, List.of())) {
                try {
                    Manifest m = admin.manifest(src, layout.run(), s);
                    perStore.put(src, m);
                    total += m.storedBytes();
                } catch (CheckpointException | IOException e) {
                    perStore.put(src, e);
                }
            }
            manifests.put(s, perStore);
        }
        progress.start(total);
        List<StepCheck> checks = new ArrayList<>();
        for (Map.Entry<Long, Map<StoreRef, Object>> e : manifests.entrySet()) {
            for (Map.Entry<StoreRef, Object> held : e.getValue().entrySet()) {
                StoreRef src = held.getKey();
                if (held.getValue() instanceof Manifest m) {
                    checks.add(checkStep(src, m, progress));
                } else {
                    Exception failure = (Exception) held.getValue();
                    checks.add(new StepCheck(e.getKey(), src.location(), message(failure), List.of(), 0, 0, List.of(),
                            failedToRead(failure), List.of()));
                }
            }
        }
        return checks;
    }

    private StepCheck checkStep(StoreRef src, Manifest m, Progress progress) throws IOException {
        List<String> badIndexes = new ArrayList<>();
        List<String> unreadableIndexes = new ArrayList<>();
        java.util.Set<Integer> seenRanks = new java.util.HashSet<>();
        for (ObjectInfo o : src.store().list(layout.stepPrefix(m.step()))) {
            java.util.OptionalInt rank = layout.rankOfIndexKey(o.key());
            if (rank.isPresent()) {
                seenRanks.add(rank.getAsInt());
                checkIndex(src, m, o.key(), rank.getAsInt(), badIndexes, unreadableIndexes);
            }
        }
        // An index the MANIFEST expects that the listing did not show: asked for by its key (a store may not list
        // it), and reported missing when it is not there. A step without it restores, but a copy onward refuses it
        // (RankIndexes.verified), so verify must not call the step intact.
        for (int rank : RankIndexes.expected(m)) {
            if (!seenRanks.contains(rank)) {
                checkIndex(src, m, layout.indexKey(m.step(), rank), rank, badIndexes, unreadableIndexes);
            }
        }
        List<BadChunk> bad = new ArrayList<>();
        Map<String, Boolean> done = new HashMap<>();
        long chunks = 0;
        for (EntryRecord r : m.entries()) {
            for (ChunkRef c : r.chunks()) {
                if (done.putIfAbsent(c.hash(), Boolean.TRUE) != null) {
                    continue;
                }
                chunks++;
                Check check = check(src, c);
                progress.advance(c.storedLength());
                if (!check.ok()) {
                    List<String> good = new ArrayList<>();
                    for (StoreRef other : admin.stores()) {
                        if (other != src && check(other, c).ok()) {
                            good.add(other.location());
                        }
                    }
                    BadChunk.Problem problem = switch (check.status()) {
                        case MISSING -> BadChunk.Problem.MISSING;
                        case UNREADABLE -> BadChunk.Problem.UNREADABLE; // the store's failure, not damage
                        default -> BadChunk.Problem.CORRUPT;
                    };
                    bad.add(new BadChunk(c.hash(), r.name(), c.offset(), problem, check.detail(), good));
                }
            }
        }
        return new StepCheck(m.step(), src.location(), "", badIndexes, chunks, m.storedBytes(), bad, false, unreadableIndexes);
    }

    /**
     * Adds to {@code bad} why the index {@code key} of {@code rank} in {@code src} is not the part of {@code m} it should
     * be, or to {@code unreadable} the store's error where it failed to read it.
     */
    private void checkIndex(StoreRef src, Manifest m, String key, int rank, List<String> bad, List<String> unreadable) {
        String where = src.location() + ":" + key;
        try {
            java.nio.ByteBuffer bytes = ManifestFormat.readBytes(src.store(), key, where);
            Manifest index = ManifestFormat.read(bytes.duplicate(), where, allocator);
            String mismatch = RankIndexes.mismatch(bytes, index, rank, m);
            if (mismatch != null) {
                bad.add(where + " " + mismatch);
            }
        } catch (java.nio.file.NoSuchFileException e) {
            bad.add(where + " is missing: the MANIFEST expects the index of rank " + rank + " of its " + m.worldSize()
                    + " (the step restores without it, but cannot be copied onward; copying the step here again puts it)");
        } catch (CheckpointException | IOException e) {
            if (failedToRead(e)) {
                unreadable.add(message(e).contains(key) ? message(e) : where + ": " + message(e));
            } else {
                bad.add(message(e));
            }
        }
    }

    /**
     * Whether {@code e} is a store's failure to read (an S3 503 after its retries, a disk's EIO), which says nothing of
     * what it holds, and not the object found missing, unusable ({@link dev.cairn.UnusableObjectException}: bytes that
     * no longer match the store's record of them) or malformed (a CheckpointException of the parse).
     */
    static boolean failedToRead(Exception e) {
        return e instanceof IOException && dev.cairn.tiers.internal.restore.StoredChunks.saysNothingOfTheObject(e);
    }

    private static String message(Exception e) {
        return e.getMessage() == null || e.getMessage().isEmpty() ? e.toString() : e.getMessage();
    }

    private Check check(StoreRef src, ChunkRef c) {
        return seen.computeIfAbsent(src, k -> new HashMap<>()).computeIfAbsent(c.hash(), h -> reader.check(src.store(), layout, c));
    }
}
