package dev.cairn.cli.command;

import dev.cairn.CheckpointAdmin.StoredStep;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.StoreRef;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Table;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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
            for (StoreRef s : session.sources()) {
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

    /** What one store holds of one step: its manifest's summary when committed and readable, else its files. */
    private record Seen(StoreRef source, CheckpointInfo manifest, String state, long files, long bytes, Instant newest) {
    }

    private static void scan(StoreSession session, StoreRef s, String run, Map<String, Map<Long, List<Seen>>> seen)
            throws IOException {
        for (StoredStep step : session.admin().steps(s, run)) {
            seen.computeIfAbsent(run, r -> new TreeMap<>()).computeIfAbsent(step.step(), k -> new ArrayList<>())
                    .add(new Seen(s, step.checkpoint().orElse(null), step.state().name().toLowerCase(Locale.ROOT), step.files(),
                            step.bytes(), step.lastModified()));
        }
    }

    private static StepRow row(long step, List<Seen> seen, Instant now) {
        List<Holder> holders = seen.stream().map(x -> new Holder(x.source.location(), x.state)).toList();
        Seen best = seen.stream().filter(x -> x.manifest != null).findFirst().orElse(null);
        if (best == null) {
            String state = seen.stream().anyMatch(x -> x.state.equals("unreadable")) ? "unreadable" : "partial";
            Instant newest = seen.stream().map(Seen::newest).max(Instant::compareTo).orElseThrow();
            return new StepRow(step, state, holders, null, null, null, null, null, secondsBetween(newest, now));
        }
        CheckpointInfo m = best.manifest;
        return new StepRow(step, "committed", holders, m.rawBytes(), m.storedBytes(), m.entries(), m.worldSize(),
                m.committedAt(), secondsBetween(m.committedAt(), now));
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
