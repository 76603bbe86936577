package dev.cairn.cli.command;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectInfo;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Table;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.Source;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.Manifest;
import dev.cairn.tiers.manifest.ManifestFormat;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code cairn ls}: the runs and steps in one or more stores, committed or partial, with sizes and ages. */
@Command(name = "ls",
        mixinStandardHelpOptions = true,
        description = {
            "Lists the runs and steps in the stores: for each step whether it is committed (its MANIFEST exists) or"
                + " partial (files but no MANIFEST: a save in flight or one that died), which stores hold it, its raw"
                + " and stored bytes, and its age. With several --store options, a step held by several is one row.",
            "Without --run every run is listed."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar ls --store /ckpt/disk",
                "  java -jar cli/target/cairn.jar ls --store /ckpt/disk \\", "      --store s3://bucket/ckpt --run my-run --json"})
public final class LsCommand implements Callable<Integer> {

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print the listing as JSON.")
    boolean json;

    @ParentCommand
    CairnCli cli;

    /** One store's view of one step. */
    public record Holder(String store, String state) {
    }

    /** One step of a run across the stores. */
    public record StepRow(long step, String state, List<Holder> stores, Long rawBytes, Long storedBytes, Integer entries,
                         Integer worldSize, Instant createdAt, long ageSeconds) {
    }

    public record RunRow(String run, List<StepRow> steps) {
    }

    @Override
    public Integer call() throws IOException {
        Instant now = Instant.now();
        List<RunRow> runs = new ArrayList<>();
        try (StoreSession session = stores.open()) {
            Map<String, Map<Long, List<Seen>>> seen = new TreeMap<>();
            for (Source s : session.sources()) {
                for (String run : session.runs(s)) {
                    if (stores.run() == null || stores.run().equals(run)) {
                        scan(session, s, run, seen);
                    }
                }
            }
            session.skipped().forEach(line -> cli.err().println("cairn ls: warning: " + line));
            if (stores.run() != null && seen.isEmpty()) {
                throw new CheckpointException(CheckpointException.Reason.NOT_FOUND, "no run '" + stores.run() + "' in "
                        + session.sourceNames());
            }
            seen.forEach((run, steps) -> runs.add(new RunRow(run, steps.entrySet().stream()
                    .map(e -> row(e.getKey(), e.getValue(), now)).toList())));
        }
        if (json) {
            Json.print(cli.out(), Map.of("runs", runs));
        } else {
            printText(runs, now);
        }
        return CairnCli.OK;
    }

    /** What one store holds of one step: its manifest when committed and readable, else its files. */
    private record Seen(Source source, Manifest manifest, String state, long files, long bytes, Instant newest) {
    }

    private static void scan(StoreSession session, Source s, String run, Map<String, Map<Long, List<Seen>>> seen)
            throws IOException {
        StoreLayout layout = new StoreLayout(run);
        Map<Long, List<ObjectInfo>> byStep = new TreeMap<>();
        for (ObjectInfo o : s.store().list(layout.stepsPrefix())) {
            if (!layout.isRetiredKey(o.key())) { // retention's marker of a step it removed: nothing to show
                layout.stepOf(o.key()).ifPresent(step -> byStep.computeIfAbsent(step, k -> new ArrayList<>()).add(o));
            }
        }
        for (Map.Entry<Long, List<ObjectInfo>> e : byStep.entrySet()) {
            long step = e.getKey();
            List<ObjectInfo> files = e.getValue();
            boolean committed = files.stream().anyMatch(o -> o.key().equals(layout.manifestKey(step)));
            Manifest m = null;
            String state = "partial";
            if (committed) {
                try {
                    m = ManifestFormat.load(s.store(), layout.manifestKey(step), s.uri() + ":" + layout.manifestKey(step),
                            session.allocator());
                    state = "committed";
                } catch (CheckpointException unreadable) {
                    state = "unreadable";
                }
            }
            Instant newest = files.stream().map(ObjectInfo::lastModified).max(Instant::compareTo).orElse(Instant.EPOCH);
            long bytes = files.stream().mapToLong(ObjectInfo::size).sum();
            seen.computeIfAbsent(run, r -> new TreeMap<>()).computeIfAbsent(step, k -> new ArrayList<>())
                    .add(new Seen(s, m, state, files.size(), bytes, newest));
        }
    }

    private static StepRow row(long step, List<Seen> seen, Instant now) {
        List<Holder> holders = seen.stream().map(x -> new Holder(x.source.uri(), x.state)).toList();
        Seen best = seen.stream().filter(x -> x.manifest != null).findFirst().orElse(null);
        if (best == null) {
            String state = seen.stream().anyMatch(x -> x.state.equals("unreadable")) ? "unreadable" : "partial";
            Instant newest = seen.stream().map(Seen::newest).max(Instant::compareTo).orElseThrow();
            return new StepRow(step, state, holders, null, null, null, null, null, secondsBetween(newest, now));
        }
        Manifest m = best.manifest;
        return new StepRow(step, "committed", holders, m.rawBytes(), m.storedBytes(), m.entries().size(), m.worldSize(),
                m.createdAt(), secondsBetween(m.createdAt(), now));
    }

    private static long secondsBetween(Instant t, Instant now) {
        return Math.max(0, java.time.Duration.between(t, now).getSeconds());
    }

    private void printText(List<RunRow> runs, Instant now) {
        if (runs.isEmpty()) {
            cli.out().println("no runs");
            return;
        }
        Table t = new Table("RUN", "STEP", "STATE", "RAW", "STORED", "RATIO", "AGE", "STORES");
        for (RunRow run : runs) {
            for (StepRow s : run.steps()) {
                String where = String.join(", ", s.stores().stream()
                        .map(h -> h.state().equals(s.state()) ? h.store() : h.store() + " (" + h.state() + ")").toList());
                t.row(run.run(), s.step(), s.state(), s.rawBytes() == null ? "-" : Text.bytes(s.rawBytes()),
                        s.storedBytes() == null ? "-" : Text.bytes(s.storedBytes()),
                        s.rawBytes() == null ? "-" : Text.ratio(s.rawBytes(), s.storedBytes()),
                        Text.age(now.minusSeconds(s.ageSeconds()), now), where);
            }
        }
        t.print(cli.out());
    }
}
