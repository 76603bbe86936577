package dev.cairn.cli.command;

import dev.cairn.cli.CairnCli;
import dev.cairn.cli.DurationConverter;
import dev.cairn.cli.report.ReportPage;
import dev.cairn.cli.report.RunRecording;
import dev.cairn.cli.report.TierSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code cairn report RECORDING.jfr}: a self-contained HTML page of a recorded run, for tuning its tiers. */
@Command(name = "report",
        mixinStandardHelpOptions = true,
        description = {
            "Turns a JDK Flight Recorder recording of a run (the engine's cairn.* events) into one self-contained HTML"
                + " page: plots of the stall per step, time to commit per tier, bytes per checkpoint per tier,"
                + " compression and dedup ratios, staging occupancy and restore time by tier; a table per tier; and"
                + " per tier the checkpoint interval Young/Daly recommends, sqrt(2 x C x MTBF) with C the tier's mean"
                + " time to commit, beside the interval configured. The page needs no network when opened.",
            "Record a run with java -XX:StartFlightRecording=filename=run.jfr ... or jdk.jfr.Recording; `cairn demo`"
                + " records one and prints the command."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar report run.jfr",
                "  java -jar cli/target/cairn.jar report run.jfr --out tuning.html --mtbf 12h"})
public final class ReportCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "RECORDING", description = "A .jfr file with the engine's events.")
    Path recording;

    @Option(names = "--out", paramLabel = "FILE", description = "Where to write the page (default: RECORDING with .html).")
    Path out;

    @Option(names = "--mtbf", paramLabel = "DURATION", defaultValue = "6h", converter = DurationConverter.class,
            description = "Mean time between failures of the run, e.g. 90m, 6h, 2d (default: ${DEFAULT-VALUE}).")
    Duration mtbf;

    @ParentCommand
    CairnCli cli;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (mtbf.isZero() || mtbf.isNegative()) {
            throw new ParameterException(spec.commandLine(), "--mtbf must be positive, was " + mtbf);
        }
        RunRecording run;
        try {
            run = RunRecording.read(recording);
        } catch (NoSuchFileException e) {
            throw new ParameterException(spec.commandLine(), "no recording at " + recording);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        Path target = out != null ? out : htmlBeside(recording);
        Files.writeString(target, ReportPage.render(run, mtbf, recording.getFileName().toString()), StandardCharsets.UTF_8);
        PrintStream o = cli.out();
        o.println("wrote " + target);
        for (TierSummary t : TierSummary.of(run, mtbf)) {
            o.println(String.format(Locale.ROOT, "tier %s: %d commits, mean time to commit %.3f s; configured every %s steps,"
                    + " Young/Daly recommends %s", t.tier(), t.commits(), t.meanTimeToCommit(),
                    t.everySteps() == 0 ? "?" : Long.toString(t.everySteps()),
                    t.recommendedSteps() > 0 ? "every " + t.recommendedSteps() + " steps"
                            + String.format(Locale.ROOT, " (%.1f s)", t.recommendedSeconds()) : "nothing (no commit recorded)"));
        }
        return CairnCli.OK;
    }

    private static Path htmlBeside(Path jfr) {
        String name = jfr.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return jfr.resolveSibling((dot > 0 ? name.substring(0, dot) : name) + ".html");
    }
}
