package dev.cairn.cli.command;

import dev.cairn.cli.CairnCli;
import dev.cairn.examples.ResumeScenario;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code cairn demo}: kill -9 a real training run mid-way, resume it in a fresh process, prove it bit-exact. */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "Trains a small MLP with DJL + PyTorch (offline, CPU) in child JVMs, checkpointing weights and Adam state"
                + " into a memory tier (every step) and a disk tier (every --every steps):",
            "1. an uninterrupted run;",
            "2. the same run, killed with SIGKILL inside step --kill-at (its memory tier dies with it);",
            "3. a fresh process that restores the newest committed checkpoint from disk and trains to the end.",
            "Prints each checkpoint's stall (time save() blocked training) and bytes written per tier, the tier the"
                + " restore read from, and last the line 'resume bit-exact: true|false': the resumed run's losses"
                + " and final parameters against the uninterrupted run's, bit for bit.",
            "The first run unpacks PyTorch's native library (about 430 MB) into $DJL_CACHE_DIR, else ~/.cairn/djl.",
            "Exit status 0 iff the resume was bit-exact."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar demo",
                "  java -jar cli/target/cairn.jar demo --dir /tmp/cairn-demo --steps 120 --kill-at 63"})
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--dir", paramLabel = "DIR", defaultValue = "cairn-demo",
            description = "Where the runs keep their stores and logs (default: ${DEFAULT-VALUE}). Emptied first, but"
                    + " only if it is empty or an earlier demo made it.")
    Path dir;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "100",
            description = "Training steps of each run (default: ${DEFAULT-VALUE}).")
    long steps;

    @Option(names = "--every", paramLabel = "K", defaultValue = "10",
            description = "Disk checkpoint interval in steps (default: ${DEFAULT-VALUE}); memory takes every step.")
    long every;

    @Option(names = "--kill-at", paramLabel = "STEP", defaultValue = "47",
            description = "The step the second run is killed in: after the first disk checkpoint and not on one"
                    + " (default: ${DEFAULT-VALUE}).")
    long killAt;

    @ParentCommand
    CairnCli cli;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        ResumeScenario.Options options;
        try {
            options = new ResumeScenario.Options(steps, every, killAt, ResumeScenario.Options.defaults().childTimeout());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        boolean exact = ResumeScenario.run(dir, cli.out(), options);
        return exact ? CairnCli.OK : CairnCli.FAILED;
    }
}
