package dev.cairn.examples;

/**
 * Logback arrives with S3Proxy and, unconfigured, logs everything at DEBUG to stdout. The examples' programs call
 * {@link #install()} first thing in {@code main}: when nobody configured Logback (no {@code logback.xml} or
 * {@code logback-test.xml} on the class path, no {@code -Dlogback.configurationFile}), it selects the examples'
 * configuration, warnings and errors to stderr.
 */
public final class QuietLogging {
    /** The examples' Logback configuration, a class path resource. */
    public static final String CONFIGURATION = "dev/cairn/examples/logback.xml";
    static final String PROPERTY = "logback.configurationFile";

    private QuietLogging() {
    }

    /** Selects {@link #CONFIGURATION} unless Logback has a configuration already; call before anything logs. */
    public static void install() {
        ClassLoader loader = QuietLogging.class.getClassLoader();
        if (System.getProperty(PROPERTY) == null && loader.getResource("logback.xml") == null
                && loader.getResource("logback-test.xml") == null) {
            System.setProperty(PROPERTY, CONFIGURATION);
        }
    }
}
