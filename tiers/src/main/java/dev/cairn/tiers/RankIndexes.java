package dev.cairn.tiers;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.ObjectInfo;
import dev.cairn.StoreRef;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.IndexRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.arrow.memory.BufferAllocator;

/**
 * The rank indexes of a committed step, {@code rank-<r>.index} for every rank {@code r} of its world: each must be
 * the part of the MANIFEST its rank wrote, or, for a MANIFEST that keeps its chunk rows in the indexes (format 4 of
 * several ranks), exactly the bytes it references. {@link CairnAdmin#verify} reports those that are not; {@link CairnAdmin#copy}
 * takes each from the first store whose copy is.
 */
final class RankIndexes {
    private RankIndexes() {
    }

    /**
     * Why {@code index}, stored for {@code rank}, is not the part of {@code m} it should be (the rows the MANIFEST
     * holds for that rank), or null. An index that names other chunks than the commit is what a losing writer of the
     * same step would leave.
     */
    static String mismatch(ByteBuffer bytes, Manifest index, int rank, Manifest m) {
        if (!index.run().equals(m.run()) || index.step() != m.step() || index.worldSize() != m.worldSize()) {
            return "is of run " + index.run() + " step " + index.step() + " of " + index.worldSize() + " rank(s), not of this"
                    + " MANIFEST's run " + m.run() + " step " + m.step() + " of " + m.worldSize();
        }
        if (index.rank() != rank) {
            return "is the index of rank " + index.rank() + ", not of rank " + rank;
        }
        if (m.rowsInIndexes()) {
            IndexRef ref = m.indexed().indexes().get(rank);
            if (ref == null) { // format 5: no row of the directory names this rank's index (it saved no entry)
                return index.entries().isEmpty() ? null : "holds " + index.entries().size() + " entries, but no row of the"
                        + " MANIFEST's directory names this index";
            }
            String replaced = ref.mismatch(bytes);
            return replaced == null ? null : replaced + " (it is not the index the commit references: written by another"
                    + " save of the same step?)";
        }
        List<EntryRecord> committed = m.entries().stream().filter(r -> r.rank() == index.rank()).toList();
        List<EntryRecord> indexed = index.entries();
        if (committed.size() != indexed.size()) {
            return "holds " + indexed.size() + " entries where the MANIFEST holds " + committed.size() + " for rank " + index.rank();
        }
        for (int i = 0; i < committed.size(); i++) {
            EntryRecord a = committed.get(i);
            EntryRecord b = indexed.get(i);
            if (!a.name().equals(b.name()) || a.byteSize() != b.byteSize() || !a.chunks().equals(b.chunks())) {
                return "does not match the MANIFEST at entry '" + b.name() + "' (it names other chunks than the commit:"
                        + " written by another save of the same step?)";
            }
        }
        return null;
    }

    /**
     * The ranks whose index a committed step of {@code m} must hold: every rank of its world (a MANIFEST with its rows
     * inline, of one rank or of format 3 and older, has an index per rank beside it, which a copy onward takes; format
     * 4 references every one), except, in format 5, a rank that saved no entry, whose index no row of the directory
     * names. {@code m} as read whole ({@link dev.cairn.tiers.internal.manifest.CommittedManifest}), or, for format 5,
     * with its pages read.
     */
    static List<Integer> expected(Manifest m) {
        List<Integer> ranks = new ArrayList<>(m.worldSize());
        for (int rank = 0; rank < m.worldSize(); rank++) {
            if (!(m.paged() && m.indexed().indexes().get(rank) == null)) {
                ranks.add(rank);
            }
        }
        return ranks;
    }

    /**
     * Every rank index of {@code m}, each as stored in the first of {@code order} whose copy parses and matches
     * {@code m}; CORRUPT naming the index and what each store holds when none does (nothing is written then).
     */
    static Map<String, ByteBuffer> verified(Manifest m, StoreLayout layout, List<StoreRef> order, BufferAllocator allocator)
            throws IOException {
        Set<String> listed = new HashSet<>();
        for (StoreRef s : order) {
            try {
                for (ObjectInfo o : s.store().list(layout.stepPrefix(m.step()))) {
                    listed.add(o.key());
                }
            } catch (IOException e) {
                // This store cannot list the step: each index below is still tried there, and the reason kept.
            }
        }
        Map<String, ByteBuffer> good = new LinkedHashMap<>();
        for (int rank : expected(m)) {
            String key = layout.indexKey(m.step(), rank);
            List<String> tried = new ArrayList<>();
            for (StoreRef s : order) {
                String where = s.location() + ":" + key;
                try {
                    ByteBuffer bytes = ManifestFormat.readBytes(s.store(), key, where); // its size checked first
                    String mismatch = mismatch(bytes, ManifestFormat.read(bytes.duplicate(), where, allocator), rank, m);
                    if (mismatch == null) {
                        good.put(key, bytes);
                        break;
                    }
                    tried.add(s.location() + ": " + mismatch);
                } catch (NoSuchFileException e) {
                    tried.add(s.location() + ": missing");
                } catch (CheckpointException | IOException e) {
                    tried.add(s.location() + ": " + e.getMessage());
                }
            }
            if (!good.containsKey(key)) {
                throw new CheckpointException(Reason.CORRUPT, "rank index " + key + " has no good copy to send ("
                        + String.join("; ", tried) + ")" + (listed.contains(key) ? "" : "; no store lists it")
                        + "; nothing was committed in the target");
            }
        }
        return good;
    }
}
