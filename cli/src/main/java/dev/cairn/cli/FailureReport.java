package dev.cairn.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/**
 * Every failure becomes one line on stderr, {@code cairn <command>: <why>}, and a non-zero exit status: {@link
 * CairnCli#USAGE} for bad arguments, {@link CairnCli#FAILED} for anything that went wrong while running. With
 * {@code --verbose} the stack trace follows the line. Both are made {@link Text#printable}: messages quote store
 * contents and arguments.
 */
final class FailureReport implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {

    @Override
    public int handleExecutionException(Exception e, CommandLine command, ParseResult parsed) {
        boolean verbose = verbose(parsed);
        report(command, describe(e) + (verbose ? "" : " (--verbose shows the stack trace)"), verbose ? e : null);
        return CairnCli.FAILED;
    }

    @Override
    public int handleParseException(ParameterException e, String[] args) {
        CommandLine command = e.getCommandLine();
        report(command, e.getMessage() + " (see '" + command.getCommandSpec().qualifiedName() + " --help')",
                Arrays.asList(args).contains("--verbose") ? e : null);
        return CairnCli.USAGE;
    }

    /** One line however the message reads (a store's names, an argument, a line break in it), then the trace. */
    private static void report(CommandLine command, String line, Throwable trace) {
        PrintWriter err = command.getErr();
        err.println(Text.printable(command.getCommandSpec().qualifiedName() + ": " + line));
        if (trace != null) {
            StringWriter text = new StringWriter();
            trace.printStackTrace(new PrintWriter(text));
            err.print(Text.printableLines(text.toString()));
        }
        err.flush();
    }

    private static boolean verbose(ParseResult parsed) {
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    /** What went wrong, in words; a CheckpointException's message already starts with its reason. */
    static String describe(Throwable e) {
        if (e instanceof NoSuchFileException n) {
            return "no such file or directory: " + n.getFile();
        }
        if (e instanceof AccessDeniedException a) {
            return "permission denied: " + a.getFile();
        }
        if (e instanceof FileAlreadyExistsException f) {
            return "already exists and is in the way: " + f.getFile() + (f.getReason() == null ? "" : " (" + f.getReason() + ")");
        }
        if (e instanceof NotDirectoryException d) {
            return "not a directory: " + d.getFile();
        }
        String message = e.getMessage();
        if (message == null || message.isBlank()) {
            message = e.getClass().getSimpleName();
        }
        return e instanceof IOException ? "I/O error: " + message : message;
    }
}
