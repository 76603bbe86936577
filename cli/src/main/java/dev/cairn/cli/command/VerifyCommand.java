package dev.cairn.cli.command;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectInfo;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Progress;
import dev.cairn.cli.Text;
import dev.cairn.tiers.restore.ChunkReader;
import dev.cairn.tiers.restore.ChunkReader.Check;
import dev.cairn.cli.store.RankIndexes;
import dev.cairn.cli.store.Source;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.ChunkRef;
import dev.cairn.tiers.manifest.EntryRecord;
import dev.cairn.tiers.manifest.Manifest;
import dev.cairn.tiers.manifest.ManifestFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code cairn verify}: reads every chunk and manifest of a checkpoint and checks it, store by store. */
@Command(name = "verify",
        mixinStandardHelpOptions = true,
        description = {
            "Checks a committed step (default: the newest; --all: every one) in every --store that holds it: parses its"
                + " MANIFEST and rank indexes, and reads every chunk, decodes it and checks its content hash and stored"
                + " length, as restore would. Names each missing or corrupt chunk and the stores (any --store given) that"
                + " still hold a good copy of it.",
            "Exit status: 0 intact; 3 something is missing or corrupt; 1 the check itself failed (for example a store"
                + " cannot be reached); 2 bad usage."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar verify --store /ckpt/disk",
                "  java -jar cli/target/cairn.jar verify 40 --store /ckpt/disk \\", "      --store s3://bucket/ckpt",
                "  java -jar cli/target/cairn.jar verify --all --store /ckpt/disk --json"})
public final class VerifyCommand implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "STEP", description = "The step to check (default: the newest).")
    Long step;

    @Option(names = "--all", description = "Check every committed step.")
    boolean all;

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print the findings as JSON.")
    boolean json;

    @ParentCommand
    CairnCli cli;

    @Spec
    CommandSpec spec;

    /** A chunk that failed in one store, and where a good copy remains. */
    public record BadChunk(String hash, String entry, long offset, String status, String detail, List<String> goodCopyIn) {
    }

    /** One step in one store. */
    public record StepCheck(long step, String store, String manifest, List<String> badIndexes, long chunks, long storedBytes,
                            List<BadChunk> badChunks) {
        public boolean intact() {
            return manifest.equals("ok") && badIndexes.isEmpty() && badChunks.isEmpty();
        }
    }

    public record Verification(String run, boolean intact, List<StepCheck> checks) {
    }

    @Override
    public Integer call() throws IOException {
        if (all && step != null) {
            throw new ParameterException(spec.commandLine(), "give a STEP or --all, not both");
        }
        Verification v;
        try (StoreSession session = stores.openRun()) {
            v = verify(session);
        }
        if (json) {
            Json.print(cli.out(), v);
        } else {
            printText(v);
        }
        return v.intact() ? CairnCli.OK : CairnCli.DAMAGED;
    }

    private Verification verify(StoreSession session) throws IOException {
        TreeMap<Long, List<Source>> committed = session.committedSteps();
        List<Long> steps;
        if (all) {
            steps = new ArrayList<>(committed.keySet());
        } else {
            long wanted = step != null ? step : session.newestStep();
            session.holders(wanted); // NOT_FOUND naming the committed steps, when it is nowhere
            steps = List.of(wanted);
        }
        StoreLayout layout = session.layout();
        Map<Source, Map<String, Check>> seen = new HashMap<>();
        List<StepCheck> checks = new ArrayList<>();
        long total = 0;
        Map<Long, Map<Source, Object>> manifests = new TreeMap<>();
        for (long s : steps) {
            Map<Source, Object> perSource = new LinkedHashMap<>();
            for (Source src : committed.getOrDefault(s, List.of())) {
                try {
                    Manifest m = session.manifest(src, s);
                    perSource.put(src, m);
                    total += m.storedBytes();
                } catch (CheckpointException | IOException e) {
                    perSource.put(src, e.getMessage());
                }
            }
            manifests.put(s, perSource);
        }
        try (ChunkReader reader = new ChunkReader();
             Progress progress = Progress.start(cli.err(), "verify", total)) {
            for (Map.Entry<Long, Map<Source, Object>> e : manifests.entrySet()) {
                for (Map.Entry<Source, Object> held : e.getValue().entrySet()) {
                    Source src = held.getKey();
                    if (!(held.getValue() instanceof Manifest m)) {
                        checks.add(new StepCheck(e.getKey(), src.uri(), (String) held.getValue(), List.of(), 0, 0, List.of()));
                        continue;
                    }
                    checks.add(checkStep(session, src, m, reader, seen, progress));
                }
            }
        }
        boolean intact = checks.stream().allMatch(StepCheck::intact);
        return new Verification(layout.run(), intact, checks);
    }

    private StepCheck checkStep(StoreSession session, Source src, Manifest m, ChunkReader reader,
                                Map<Source, Map<String, Check>> seen, Progress progress) throws IOException {
        StoreLayout layout = session.layout();
        List<String> badIndexes = new ArrayList<>();
        for (ObjectInfo o : src.store().list(layout.stepPrefix(m.step()))) {
            java.util.OptionalInt rank = layout.rankOfIndexKey(o.key());
            if (rank.isPresent()) {
                try {
                    Manifest index = ManifestFormat.load(src.store(), o.key(), src.uri() + ":" + o.key(),
                            session.allocator());
                    String mismatch = RankIndexes.mismatch(index, rank.getAsInt(), m);
                    if (mismatch != null) {
                        badIndexes.add(src.uri() + ":" + o.key() + " " + mismatch);
                    }
                } catch (CheckpointException | IOException e) {
                    badIndexes.add(e.getMessage());
                }
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
                Check check = check(reader, src, layout, c, seen);
                progress.advance(c.storedLength());
                if (!check.ok()) {
                    List<String> good = new ArrayList<>();
                    for (Source other : session.sources()) {
                        if (other != src && check(reader, other, layout, c, seen).ok()) {
                            good.add(other.uri());
                        }
                    }
                    bad.add(new BadChunk(c.hash(), r.name(), c.offset(), check.status().name().toLowerCase(java.util.Locale.ROOT),
                            check.detail(), good));
                }
            }
        }
        return new StepCheck(m.step(), src.uri(), "ok", badIndexes, chunks, m.storedBytes(), bad);
    }

    private static Check check(ChunkReader reader, Source src, StoreLayout layout, ChunkRef c, Map<Source, Map<String, Check>> seen) {
        return seen.computeIfAbsent(src, k -> new HashMap<>()).computeIfAbsent(c.hash(), h -> reader.check(src.store(), layout, c));
    }

    private void printText(Verification v) {
        var out = cli.out();
        int problems = 0;
        for (StepCheck c : v.checks()) {
            if (c.intact()) {
                out.printf("step %d in %s: ok, %d chunks, %s stored%n", c.step(), c.store(), c.chunks(), Text.bytes(c.storedBytes()));
                continue;
            }
            out.printf("step %d in %s: DAMAGED%n", c.step(), c.store());
            if (!c.manifest().equals("ok")) {
                out.println("  manifest: " + c.manifest());
                problems++;
            }
            for (String index : c.badIndexes()) {
                out.println("  index: " + index);
                problems++;
            }
            for (BadChunk b : c.badChunks()) {
                out.printf("  chunk %s of '%s' at offset %d: %s%s; %s%n", b.hash(), b.entry(), b.offset(), b.status(),
                        b.detail().isEmpty() ? "" : " (" + b.detail() + ")",
                        b.goodCopyIn().isEmpty() ? "no good copy in any given store" : "good copy in " + String.join(", ", b.goodCopyIn()));
                problems++;
            }
        }
        out.println(v.intact() ? "intact" : "damaged: " + problems + " problem(s)");
    }
}
