package dev.cairn.cli;

import java.util.Arrays;

/**
 * How the {@code cairn} program logs: Logback comes with S3Proxy and, unconfigured, logs everything at DEBUG to stdout.
 * Unless Logback is configured already (a {@code logback.xml} or {@code logback-test.xml} on the class path, or
 * {@code -Dlogback.configurationFile}), {@link #install} selects {@link #QUIET}: library warnings as one line on
 * stderr, no stack traces, Netty's internal warnings left out; with {@code --verbose}, {@link #VERBOSE}, stack traces
 * and all.
 */
public final class CliLogging {
    public static final String QUIET = "dev/cairn/cli/logback.xml";
    public static final String VERBOSE = "dev/cairn/cli/logback-verbose.xml";
    static final String PROPERTY = "logback.configurationFile";

    private CliLogging() {
    }

    /** Call first thing in {@code main}, before anything logs. */
    static void install(String... args) {
        ClassLoader loader = CliLogging.class.getClassLoader();
        if (System.getProperty(PROPERTY) == null && loader.getResource("logback.xml") == null
                && loader.getResource("logback-test.xml") == null) {
            System.setProperty(PROPERTY, configuration(args));
        }
    }

    /** The configuration for a command line: {@link #VERBOSE} when it has {@code --verbose}. */
    public static String configuration(String... args) {
        return Arrays.asList(args).contains("--verbose") ? VERBOSE : QUIET;
    }
}
