package dev.cairn.cli.command;

import dev.cairn.GcReport;
import dev.cairn.StoreRef;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.DurationConverter;
import dev.cairn.cli.EngineDefaults;
import dev.cairn.cli.Json;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code cairn gc}: the engine's retention and garbage collection, run on a store from outside the training process. */
@Command(name = "gc",
        mixinStandardHelpOptions = true,
        defaultValueProvider = EngineDefaults.class,
        description = {
            "Applies retention to each --store with the engine's own garbage collector, as the full sweep a running"
                + " checkpointer runs every gcSweepEvery commits, counted in the store across its processes (it lists every step and chunk of the run; between"
                + " sweeps the checkpointer deletes what the manifests of the steps it retires name, without listing):"
                + " committed steps beyond the newest --keep-last are retired,"
                + " uncommitted (partial) steps whose files are all older than --grace are abandoned, and chunks that no"
                + " kept step references and that are older than --grace are deleted (from outside, the collector"
                + " cannot see the pins of a running writer, so the grace period protects every unreferenced chunk).",
            "A running writer counts on a stored chunk it did not write only while its newest committed step names"
                + " it or while it is recent (written within half the run's gcGrace, 5 minutes at most); right before"
                + " it commits it confirms every such chunk and writes again, restarting its age, each one that no"
                + " longer qualifies. So a --grace no shorter than the training job's gcGrace or this default,"
                + " whichever is shorter, and longer than its saves take, leaves the checkpoints it commits whole."
                + " A shorter one can delete chunks of a"
                + " save in flight: that save fails where its commit sees it, and otherwise commits a step that cannot"
                + " be restored. Prefer to let the training job collect its own stores.",
            "A store does not record its tier's retention, so give the training job's keepLast and gcGrace here;"
                + " with --config, each tier's keep.last and the run's gc.grace are the file's unless given here"
                + " (also for a --store that names one of its tiers; one that names none needs --keep-last).",
            "--dry-run shows what would be deleted and deletes nothing."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar gc --store /ckpt/disk --keep-last 3 --dry-run",
                "  java -jar cli/target/cairn.jar gc --store s3://bucket/ckpt \\", "      --keep-last 5 --grace 1h"})
public final class GcCommand implements Callable<Integer> {

    @Option(names = "--dry-run", description = "Show what would be deleted; delete nothing.")
    boolean dryRun;

    @Option(names = "--keep-last", paramLabel = "K",
            description = "Committed steps to keep, newest first: the tier's keepLast (default: ${DEFAULT-VALUE}, as TierConfig).")
    int keepLast;

    @Option(names = "--grace", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Leave unreferenced chunks and partial steps younger than this alone: the run's gcGrace"
                    + " (default: ${DEFAULT-VALUE}, as CairnConfig).")
    Duration grace;

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print the reports as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @ParentCommand
    CairnCli cli;

    public record StoreReport(String store, int keepLast, GcReport report) {
    }

    @Override
    public Integer call() throws IOException {
        if (keepLast < 1) {
            throw new ParameterException(spec.commandLine(), "--keep-last must be at least 1, was " + keepLast);
        }
        // The tiers of a --config keep what the file says unless the command line says otherwise: the defaults here
        // would retire steps the training job keeps.
        boolean keepGiven = spec.commandLine().getParseResult().hasMatchedOption("--keep-last");
        boolean graceGiven = spec.commandLine().getParseResult().hasMatchedOption("--grace");
        List<StoreReport> reports = new ArrayList<>();
        try (StoreSession session = stores.openRun()) {
            // Every store's retention is settled before the first is collected: a --store that is no tier of the
            // --config has no keep.last there, and the default could retire steps its job keeps.
            List<Integer> keeps = new ArrayList<>();
            for (StoreRef s : session.sources()) {
                java.util.Optional<Integer> configured = stores.configuredKeepLast(s.location());
                if (!keepGiven && stores.configured() && configured.isEmpty()) {
                    throw new ParameterException(spec.commandLine(), "--store " + s.location() + " is not the store of"
                            + " any tier of --config, so the file gives it no keep.last: pass --keep-last (and --grace"
                            + " if not the file's gc.grace), or name the store of one of the file's tiers");
                }
                keeps.add(keepGiven ? keepLast : configured.orElse(keepLast));
            }
            Duration g = graceGiven ? grace : stores.configuredGrace().orElse(grace);
            for (int i = 0; i < session.sources().size(); i++) {
                StoreRef s = session.sources().get(i);
                int keep = keeps.get(i);
                reports.add(new StoreReport(s.location(), keep, session.admin().gc(s, session.run(), keep, g, dryRun)));
            }
        }
        if (json) {
            Json.print(cli.out(), reports);
            return CairnCli.OK;
        }
        for (StoreReport r : reports) {
            GcReport g = r.report();
            cli.out().printf("%s: %s retired steps %s (beyond --keep-last %d), abandoned partial steps %s, %d chunks (%s)%n",
                    r.store(), dryRun ? "would delete" : "deleted", g.stepsRetired(), r.keepLast(), g.stepsAbandoned(),
                    g.chunksDeleted(), Text.bytes(g.bytesDeleted()));
        }
        return CairnCli.OK;
    }
}
