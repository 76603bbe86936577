package dev.cairn.cli.command;

import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointDescription.Chunk;
import dev.cairn.CheckpointDescription.Entry;
import dev.cairn.StoreRef;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Table;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code cairn diff <stepA> <stepB>}: which entries changed between two steps, and by how many chunks. */
@Command(name = "diff",
        mixinStandardHelpOptions = true,
        description = {
            "Compares the manifests of two committed steps entry by entry: added, removed, retyped or reshaped, and for"
                + " the rest how many chunks differ (chunks are content-addressed, so equal hashes are equal bytes) and"
                + " how many raw bytes those chunks cover. Reads manifests only, unless the two steps key their chunks"
                + " by different hashes (a format-2 step, MurmurHash3, against a format-3 one, XXH3): then the older"
                + " step's chunks are read, verified and hashed the newer way to compare them. Unchanged entries are"
                + " counted, and listed with --all."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar diff 30 40 --store /ckpt/disk",
                "  java -jar cli/target/cairn.jar diff 30 40 --store /ckpt/disk --json"})
public final class DiffCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "STEP_A", description = "The older step.")
    long stepA;

    @Parameters(index = "1", paramLabel = "STEP_B", description = "The newer step.")
    long stepB;

    @Mixin
    StoreOptions stores;

    @Option(names = "--all", description = "List unchanged entries too.")
    boolean all;

    @Option(names = "--json", description = "Print the comparison as JSON (every entry).")
    boolean json;

    @ParentCommand
    CairnCli cli;

    /** One entry compared: {@code change} is added, removed, retyped, resized, changed or same. */
    public record EntryDiff(String name, String kind, String change, int chunksA, int chunksB, int chunksChanged,
                            long bytesChanged) {
    }

    public record Diff(String run, long stepA, long stepB, int changed, int same, int added, int removed,
                       long bytesChanged, List<EntryDiff> entries) {
    }

    @Override
    public Integer call() throws IOException {
        Diff diff;
        String note = null;
        try (StoreSession session = stores.openRun()) {
            StoreSession.Located a = session.locate(stepA);
            CheckpointDescription b = session.locate(stepB).manifest();
            Map<String, String> rekeyed = Map.of();
            if (!a.manifest().contentHash().equals(b.contentHash())) {
                rekeyed = rekey(session, a, b);
                note = "step " + stepA + " keys its chunks by " + a.manifest().contentHash() + " and step " + stepB
                        + " by " + b.contentHash() + ": step " + stepA + "'s chunks were read and hashed by "
                        + b.contentHash() + " to compare them";
            }
            diff = diff(a.manifest(), b, rekeyed);
        }
        if (json) {
            Json.print(cli.out(), diff);
            return CairnCli.OK;
        }
        Table t = new Table("ENTRY", "KIND", "CHANGE", "CHUNKS CHANGED", "BYTES CHANGED");
        for (EntryDiff e : diff.entries()) {
            if (all || !e.change().equals("same")) {
                t.row(e.name(), e.kind(), e.change(), e.chunksChanged() + "/" + Math.max(e.chunksA(), e.chunksB()),
                        Text.bytes(e.bytesChanged()));
            }
        }
        if (!t.isEmpty()) {
            t.print(cli.out());
        }
        cli.out().printf("step %d -> %d: %d changed, %d unchanged, %d added, %d removed; %s in changed chunks%n", diff.stepA(),
                diff.stepB(), diff.changed(), diff.same(), diff.added(), diff.removed(), Text.bytes(diff.bytesChanged()));
        if (note != null) {
            cli.out().println(note);
        }
        return CairnCli.OK;
    }

    /**
     * For each chunk of {@code a} whose entry {@code b} also holds at the same size, its key under {@code b}'s content
     * hash: the chunk read (from the store that holds {@code a}'s step first), verified by its own hash, and hashed
     * again. CORRUPT when a chunk has no good copy.
     */
    private static Map<String, String> rekey(StoreSession session, StoreSession.Located a, CheckpointDescription b) {
        Map<String, Entry> after = byKey(b);
        List<StoreRef> order = session.readOrder(a.source());
        Map<String, String> out = new java.util.HashMap<>();
        ByteBuffer raw = ByteBuffer.allocate(0);
        for (Map.Entry<String, Entry> e : byKey(a.manifest()).entrySet()) {
            Entry y = after.get(e.getKey());
            if (y == null || y.byteSize() != e.getValue().byteSize()) {
                continue;
            }
            for (Chunk c : e.getValue().chunks()) {
                if (!out.containsKey(c.hash())) {
                    if (raw.capacity() < c.rawLength()) {
                        raw = ByteBuffer.allocate(Math.toIntExact(c.rawLength()));
                    }
                    raw.clear();
                    session.admin().readChunk(order, session.run(), c, e.getValue().name(), raw);
                    out.put(c.hash(), session.admin().contentKey(b.contentHash(), raw.flip()));
                }
            }
        }
        return out;
    }

    static Diff diff(CheckpointDescription a, CheckpointDescription b) {
        return diff(a, b, Map.of());
    }

    /** @param rekeyed keys of {@code a}'s chunks under {@code b}'s content hash, where the two differ */
    static Diff diff(CheckpointDescription a, CheckpointDescription b, Map<String, String> rekeyed) {
        Map<String, Entry> before = byKey(a);
        Map<String, Entry> after = byKey(b);
        List<EntryDiff> out = new ArrayList<>();
        int changed = 0;
        int same = 0;
        int added = 0;
        int removed = 0;
        long bytes = 0;
        for (Map.Entry<String, Entry> e : before.entrySet()) {
            Entry x = e.getValue();
            Entry y = after.get(e.getKey());
            if (y == null) {
                out.add(new EntryDiff(x.name(), kind(x), "removed", x.chunks().size(), 0, x.chunks().size(), x.byteSize()));
                removed++;
                continue;
            }
            EntryDiff d = compare(x, y, rekeyed);
            out.add(d);
            bytes += d.bytesChanged();
            if (d.change().equals("same")) {
                same++;
            } else {
                changed++;
            }
        }
        for (Map.Entry<String, Entry> e : after.entrySet()) {
            if (!before.containsKey(e.getKey())) {
                Entry y = e.getValue();
                out.add(new EntryDiff(y.name(), kind(y), "added", 0, y.chunks().size(), y.chunks().size(), y.byteSize()));
                added++;
                bytes += y.byteSize();
            }
        }
        return new Diff(a.run(), a.step(), b.step(), changed, same, added, removed, bytes, out);
    }

    private static EntryDiff compare(Entry x, Entry y, Map<String, String> rekeyed) {
        if (x.isTensor() != y.isTensor() || !Objects.equals(x.dtype(), y.dtype())) {
            return whole(x, y, "retyped");
        }
        if (x.byteSize() != y.byteSize() || !Arrays.equals(x.shape(), y.shape())) {
            return whole(x, y, "resized");
        }
        int n = Math.max(x.chunks().size(), y.chunks().size());
        int differing = 0;
        long bytes = 0;
        for (int i = 0; i < n; i++) {
            Chunk cx = i < x.chunks().size() ? x.chunks().get(i) : null;
            Chunk cy = i < y.chunks().size() ? y.chunks().get(i) : null;
            if (cx == null || cy == null || !rekeyed.getOrDefault(cx.hash(), cx.hash()).equals(cy.hash())
                    || cx.offset() != cy.offset()) {
                differing++;
                bytes += cy != null ? cy.rawLength() : cx.rawLength();
            }
        }
        return new EntryDiff(x.name(), kind(x), differing == 0 ? "same" : "changed", x.chunks().size(), y.chunks().size(),
                differing, bytes);
    }

    private static EntryDiff whole(Entry x, Entry y, String change) {
        return new EntryDiff(x.name(), kind(x), change, x.chunks().size(), y.chunks().size(), y.chunks().size(), y.byteSize());
    }

    private static String kind(Entry r) {
        return r.isTensor() ? "tensor" : "blob";
    }

    /** Entries are unique by name within a rank; several ranks may use one name. */
    private static Map<String, Entry> byKey(CheckpointDescription m) {
        Map<String, Entry> out = new LinkedHashMap<>();
        for (Entry r : m.entries()) {
            out.put(m.worldSize() == 1 ? r.name() : r.name() + "@rank" + r.rank(), r);
        }
        return out;
    }
}
