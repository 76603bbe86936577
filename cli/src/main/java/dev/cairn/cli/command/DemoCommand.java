package dev.cairn.cli.command;

import dev.cairn.cli.CairnCli;
import dev.cairn.examples.ResumeScenario;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code cairn demo}: kill -9 a real training run mid-way, resume it in a fresh process, prove it bit-exact; then lose
 * the node's memory and disk and resume from S3 (an embedded S3-compatible server).
 */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "Trains a small MLP with DJL + PyTorch (offline, CPU) in child JVMs, checkpointing weights and Adam state"
                + " into three tiers: memory (every step), disk (every --every steps) and S3 (every --s3-every steps;"
                + " an S3-compatible server, S3Proxy, that the demo runs in-process on 127.0.0.1):",
            "1. an uninterrupted run;",
            "2. the same run, killed with SIGKILL inside step --kill-at (its memory tier dies with it);",
            "3. a fresh process that restores the newest committed checkpoint from disk and trains to the end;",
            "4. node loss: the run killed again in step --kill-at, then its disk tier deleted too;",
            "5. a fresh process that restores from S3, the only tier left, and trains to the end;",
            "6. preemption: the run with persistOnShutdown, sent SIGTERM inside step --kill-at; its shutdown hook"
                + " persists the newest memory step (--kill-at minus 1) to disk and S3;",
            "7. a fresh process that restores that step from disk and trains to the end.",
            "Prints each checkpoint's stall (time save() blocked training) and bytes written per tier, the tier each"
                + " restore read from, and last the line 'resume bit-exact: true|false': the three resumed runs' losses"
                + " and final parameters against the uninterrupted run's, bit for bit.",
            "Run 3 is recorded with JDK Flight Recorder (DIR/resumed.jfr); the demo ends with the `cairn report`"
                + " command that turns it into an HTML page of plots and a checkpoint interval per tier.",
            "The first run unpacks PyTorch's native library (about 430 MB) into $DJL_CACHE_DIR, else ~/.cairn/djl.",
            "Exit status 0 iff all three resumes were bit-exact."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar demo",
                "  java -jar cli/target/cairn.jar demo --dir /tmp/cairn-demo --steps 120 --kill-at 63 --s3-every 30"})
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

    @Option(names = "--s3-every", paramLabel = "M", defaultValue = "20",
            description = "S3 checkpoint interval in steps (default: ${DEFAULT-VALUE}).")
    long s3Every;

    @Option(names = "--kill-at", paramLabel = "STEP", defaultValue = "47",
            description = "The step the killed runs are killed in: after the first disk and S3 checkpoints and on"
                    + " neither (default: ${DEFAULT-VALUE}).")
    long killAt;

    @ParentCommand
    CairnCli cli;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        ResumeScenario.Options options;
        try {
            options = new ResumeScenario.Options(steps, every, s3Every, killAt,
                    ResumeScenario.Options.defaults().childTimeout());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        boolean exact = ResumeScenario.run(dir, cli.out(), options);
        Path recording = ResumeScenario.recordingIn(dir);
        if (Files.isRegularFile(recording)) {
            cli.out().println("recorded the resumed run's Flight Recorder events in " + recording + "; for a tuning report:");
            cli.out().println("  java -jar cli/target/cairn.jar report " + recording + " --out "
                    + recording.resolveSibling("report.html") + " --mtbf 6h");
        }
        return exact ? CairnCli.OK : CairnCli.FAILED;
    }
}
