package dev.cairn.cli;

import dev.cairn.cli.command.BenchCommand;
import dev.cairn.cli.command.DemoCommand;
import dev.cairn.cli.command.DiffCommand;
import dev.cairn.cli.command.ExportCommand;
import dev.cairn.cli.command.GcCommand;
import dev.cairn.cli.command.ImportCommand;
import dev.cairn.cli.command.InspectCommand;
import dev.cairn.cli.command.LsCommand;
import dev.cairn.cli.command.ReportCommand;
import dev.cairn.cli.command.RestoreCommand;
import dev.cairn.cli.command.VerifyCommand;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code cairn <command>}. Each command is one class in {@code dev.cairn.cli.command}, listed in
 * {@code subcommands} below; it prints to {@link #out()} and returns its exit status, and throws on failure (which
 * {@link FailureReport} turns into one line).
 */
@Command(name = "cairn",
        mixinStandardHelpOptions = true,
        versionProvider = CairnCli.Version.class,
        description = "Checkpoints for training runs: saves tensors and run state into memory and disk tiers, and"
                + " brings a killed run back bit-exact. Recovery commands take stores as a directory, a file: URI or"
                + " s3://bucket/prefix.",
        subcommands = {LsCommand.class, InspectCommand.class, VerifyCommand.class, RestoreCommand.class, ExportCommand.class,
            ImportCommand.class, GcCommand.class, DiffCommand.class, DemoCommand.class, ReportCommand.class, BenchCommand.class,
            CommandLine.HelpCommand.class},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar ls --store /ckpt/disk",
                "  java -jar cli/target/cairn.jar verify --all --store /ckpt/disk \\", "      --store s3://bucket/ckpt",
                "  java -jar cli/target/cairn.jar demo",
                "  java -jar cli/target/cairn.jar report cairn-demo/resume-from-disk.jfr --mtbf 6h",
                "  java -jar cli/target/cairn.jar help restore",
                "",
                "Exit status: 0 success, 1 failure (one line says why; --verbose adds the stack trace), 2 bad usage,"
                        + " 3 verify found a missing or corrupt chunk or manifest."})
public final class CairnCli implements Callable<Integer> {
    public static final int OK = 0;
    public static final int FAILED = 1;
    public static final int USAGE = 2;
    /** {@code verify} found something missing or corrupt. */
    public static final int DAMAGED = 3;

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "On failure, print the stack trace after the one-line reason.")
    boolean verbose;

    @Spec
    CommandSpec spec;

    private final PrintStream out;
    private final PrintStream err;

    /** Commands print through escaping streams: text from a store never reaches a terminal raw. */
    CairnCli(PrintStream out, PrintStream err) {
        this.out = new EscapingPrintStream(out);
        this.err = new EscapingPrintStream(err);
    }

    public static void main(String[] args) {
        CliLogging.install(args); // unconfigured Logback (from S3Proxy) would print Arrow's DEBUG lines into our stdout
        System.exit(execute(System.out, System.err, args));
    }

    /** Runs {@code cairn args} with the given streams; returns the exit status. */
    public static int execute(PrintStream out, PrintStream err, String... args) {
        CommandLine cli = new CommandLine(new CairnCli(out, err));
        FailureReport failures = new FailureReport();
        cli.setOut(new PrintWriter(out, true, StandardCharsets.UTF_8));
        cli.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
        cli.setExecutionExceptionHandler(failures);
        cli.setParameterExceptionHandler(failures);
        int status = cli.execute(args);
        out.flush();
        err.flush();
        return status;
    }

    /** With no command: the usage, on stderr, as a usage error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return USAGE;
    }

    /** Where commands print their results. */
    public PrintStream out() {
        return out;
    }

    /** Where commands print progress that must not mix with results (for example beside {@code --json}). */
    public PrintStream err() {
        return err;
    }

    /** The version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = CairnCli.class.getPackage().getImplementationVersion();
            return new String[] {"cairn " + (v == null ? "(development build)" : v),
                    "Java " + System.getProperty("java.runtime.version") + " (" + System.getProperty("java.vm.name") + ")"};
        }
    }
}
