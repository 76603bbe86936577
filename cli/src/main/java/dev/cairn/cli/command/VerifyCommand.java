package dev.cairn.cli.command;

import dev.cairn.CheckpointAdmin;
import dev.cairn.StoreRef;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Progress;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
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
                + " cannot be reached, or failed to read a MANIFEST, an index or a chunk, listed as unreadable, and"
                + " nothing was found damaged); 2 bad usage."},
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

    /**
     * One step in one store. {@code manifest} is "ok" or what is wrong with it; {@code manifestUnreadable} says that
     * was the store failing to read it, and {@code unreadableIndexes} lists the rank indexes it failed to read: not
     * checked, not found damaged.
     */
    public record StepCheck(long step, String store, String manifest, boolean manifestUnreadable, List<String> badIndexes,
                            List<String> unreadableIndexes, long chunks, long storedBytes, List<BadChunk> badChunks) {
        public boolean intact() {
            return manifest.equals("ok") && badIndexes.isEmpty() && unreadableIndexes.isEmpty() && badChunks.isEmpty();
        }

        /**
         * Whether something was found missing or corrupt: not only what the store failed to read (the MANIFEST, an
         * index, chunks listed "unreadable": a 503 after its retries, an EIO), which says nothing of what it holds.
         */
        public boolean damaged() {
            return (!manifest.equals("ok") && !manifestUnreadable) || !badIndexes.isEmpty()
                    || badChunks.stream().anyMatch(b -> !b.status().equals(UNREADABLE));
        }
    }

    /** A bad chunk's status when the store failed to read it ({@code CheckpointAdmin.BadChunk.Problem.UNREADABLE}). */
    static final String UNREADABLE = "unreadable";

    /**
     * What verify found, as its JSON gives it: {@code outcome} is "intact", "damaged" (something missing or corrupt:
     * exit 3) or "not fully checked" (only chunks a store failed to read: exit 1, run verify again).
     */
    public record Verification(String run, boolean intact, String outcome, List<StepCheck> checks) {
        static Verification of(String run, List<StepCheck> checks) {
            boolean intact = checks.stream().allMatch(StepCheck::intact);
            String outcome = intact ? "intact" : checks.stream().anyMatch(StepCheck::damaged) ? "damaged" : NOT_FULLY_CHECKED;
            return new Verification(run, intact, outcome, checks);
        }
    }

    /** The outcome where only chunks a store failed to read stand between the step and "intact". */
    static final String NOT_FULLY_CHECKED = "not fully checked";

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
        // Chunks a store failed to read, and nothing else wrong: the check did not finish, which says nothing of
        // what the store holds (run it again once the store answers).
        return v.intact() ? CairnCli.OK : v.outcome().equals(NOT_FULLY_CHECKED) ? CairnCli.FAILED : CairnCli.DAMAGED;
    }

    private Verification verify(StoreSession session) throws IOException {
        SortedMap<Long, List<StoreRef>> committed = session.committedSteps();
        List<Long> steps;
        if (all) {
            if (committed.isEmpty()) {
                throw session.noCommittedStep(); // checking nothing is not "intact"
            }
            steps = new ArrayList<>(committed.keySet());
        } else {
            long wanted = step != null ? step : session.newestStep();
            session.holders(wanted); // NOT_FOUND naming the committed steps, when it is nowhere
            steps = List.of(wanted);
        }
        List<CheckpointAdmin.StepCheck> found;
        try (Progress progress = Progress.of(cli.err(), "verify")) {
            found = session.admin().verify(session.run(), steps, progress);
        }
        List<StepCheck> checks = new ArrayList<>();
        for (CheckpointAdmin.StepCheck c : found) {
            List<BadChunk> bad = new ArrayList<>();
            for (CheckpointAdmin.BadChunk b : c.badChunks()) {
                bad.add(new BadChunk(b.hash(), b.entry(), b.offset(), b.problem().name().toLowerCase(Locale.ROOT), b.detail(),
                        b.goodCopyIn()));
            }
            checks.add(new StepCheck(c.step(), c.store(), c.manifestProblem().isEmpty() ? "ok" : c.manifestProblem(),
                    c.manifestUnreadable(), c.badIndexes(), c.unreadableIndexes(), c.chunks(), c.storedBytes(), bad));
        }
        return Verification.of(session.run(), checks);
    }

    private void printText(Verification v) {
        var out = cli.out();
        int problems = 0;
        for (StepCheck c : v.checks()) {
            if (c.intact()) {
                out.printf("step %d in %s: ok, %d chunks, %s stored%n", c.step(), c.store(), c.chunks(), Text.bytes(c.storedBytes()));
                continue;
            }
            out.printf("step %d in %s: %s%n", c.step(), c.store(), c.damaged() ? "DAMAGED" : "NOT FULLY CHECKED (a store failed to read)");
            if (!c.manifest().equals("ok")) {
                out.println("  manifest: " + (c.manifestUnreadable() ? "unreadable (" + c.manifest() + ")" : c.manifest()));
                problems++;
            }
            for (String index : c.badIndexes()) {
                out.println("  index: " + index);
                problems++;
            }
            for (String index : c.unreadableIndexes()) {
                out.println("  index: unreadable (" + index + ")");
                problems++;
            }
            for (BadChunk b : c.badChunks()) {
                out.printf("  chunk %s of '%s' at offset %d: %s%s; %s%n", b.hash(), b.entry(), b.offset(), b.status(),
                        b.detail().isEmpty() ? "" : " (" + b.detail() + ")",
                        b.goodCopyIn().isEmpty() ? "no good copy in any given store" : "good copy in " + String.join(", ", b.goodCopyIn()));
                problems++;
            }
        }
        out.println(v.intact() ? "intact" : v.outcome().equals(NOT_FULLY_CHECKED) ? NOT_FULLY_CHECKED + ": " + problems
                + " object(s) could not be read; run verify again" : "damaged: " + problems + " problem(s)");
    }
}
