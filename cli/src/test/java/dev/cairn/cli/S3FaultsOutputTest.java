package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.util.ContextInitializer;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.testkit.FaultyHttpProxy;
import dev.cairn.testkit.FaultyHttpProxy.Fault;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * S3 commands through a proxy that resets connections and throttles: they succeed, and what reaches stderr is the
 * command's own output only. The AWS SDK's Netty client logs a write on a connection the server closed as a WARN with
 * an IllegalReferenceCountException trace (its body completion re-enters Netty's HTTP encoder from the failed write's
 * listener); the program's logging, {@link CliLogging#QUIET}, keeps that and every other stack trace out without
 * {@code --verbose}.
 */
class S3FaultsOutputTest {
    private static final List<String> PROPERTIES = List.of("aws.accessKeyId", "aws.secretAccessKey", "aws.region");

    @TempDir
    Path tmp;

    @Test
    void s3CommandsThroughResetsAndThrottlingPrintNoLibraryStackTrace() throws Exception {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 20);
        }
        Map<String, String> saved = new HashMap<>();
        PROPERTIES.forEach(p -> saved.put(p, System.getProperty(p)));
        PrintStream stderr = System.err;
        ByteArrayOutputStream logged = new ByteArrayOutputStream();
        LoggerContext logging = (LoggerContext) LoggerFactory.getILoggerFactory();
        try (EmbeddedS3 s3 = EmbeddedS3.start(); FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint())) {
            System.setProperty("aws.accessKeyId", s3.accessKey());
            System.setProperty("aws.secretAccessKey", s3.secretKey());
            System.setProperty("aws.region", EmbeddedS3.REGION);
            configure(logging, CliLogging.configuration("restore"));
            System.setErr(new PrintStream(logged, true, StandardCharsets.UTF_8));
            String uri = "s3://" + s3.bucket() + "/faults";
            String endpoint = proxy.endpoint().toString();

            proxy.inject(head -> head.startsWith("PUT "), Fault.RESET, 6).inject(head -> head.startsWith("PUT "), Fault.SLOW_DOWN, 2);
            Run up = cairn("restore", "20", "--store", disk.toString(), "--to", uri, "--s3-endpoint", endpoint);
            assertEquals(0, up.status(), up.out() + up.err());
            // Chunks of megabytes: a body still being written when the server hangs up.
            proxy.inject(head -> head.startsWith("PUT "), Fault.RESET, 6).inject(head -> head.startsWith("PUT "), Fault.SLOW_DOWN, 2);
            Run big = cairn("import", largeSafetensors().toString(), "--store", uri, "--run", "big", "--step", "1",
                    "--s3-endpoint", endpoint);
            assertEquals(0, big.status(), big.out() + big.err());
            proxy.inject(head -> head.startsWith("GET "), Fault.RESET, 2);
            Run verify = cairn("verify", "20", "--store", uri, "--run", Checkpoints.RUN, "--s3-endpoint", endpoint);
            assertEquals(0, verify.status(), verify.out() + verify.err());
            assertTrue(proxy.injected() >= 10, "faults injected: " + proxy.injected());

            // What the SDK's Netty client logs when it happens (it does under random faults, not on every run), and
            // a library warning quoting a key with a control character.
            LoggerFactory.getLogger("io.netty.channel.AbstractChannelHandlerContext").warn("Failed to mark a promise as"
                    + " failure because it has failed already", new io.netty.util.IllegalReferenceCountException(0, -1));
            LoggerFactory.getLogger("software.amazon.awssdk.core").warn("odd key 'a\u001b[2Jb'", new java.io.IOException("x"));

            String all = up.err() + big.err() + verify.err() + logged.toString(StandardCharsets.UTF_8);
            assertTrue(all.contains("cairn: WARN: core: odd key 'a?[2Jb'"), all);
            assertFalse(all.contains("IllegalReferenceCountException"), all);
            assertFalse(all.contains("\tat "), "no stack trace without --verbose: " + all);
        } finally {
            System.setErr(stderr);
            PROPERTIES.forEach(p -> {
                if (saved.get(p) == null) {
                    System.clearProperty(p);
                } else {
                    System.setProperty(p, saved.get(p));
                }
            });
            logging.reset();
            new ContextInitializer(logging).autoConfig();
        }
    }

    /** One F32 tensor of 24 MiB of random bytes (incompressible: chunks are stored whole). */
    private Path largeSafetensors() throws java.io.IOException {
        int bytes = 24 << 20;
        java.nio.ByteBuffer header = dev.cairn.cli.safetensors.SafetensorsFormat.encodeHeader(List.of(
                new dev.cairn.cli.safetensors.SafetensorsFormat.TensorInfo("w", dev.cairn.DType.F32, new long[] {bytes / 4}, 0, bytes)),
                Map.of());
        byte[] data = new byte[bytes];
        new java.util.Random(7).nextBytes(data);
        Path file = tmp.resolve("big.safetensors");
        try (java.nio.channels.FileChannel out = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            out.write(header);
            out.write(java.nio.ByteBuffer.wrap(data));
        }
        return file;
    }

    /** Logback as the program configures it in main (the test class path has no logback.xml to compete). */
    private static void configure(LoggerContext logging, String resource) throws Exception {
        logging.reset();
        JoranConfigurator joran = new JoranConfigurator();
        joran.setContext(logging);
        joran.doConfigure(S3FaultsOutputTest.class.getClassLoader().getResource(resource));
    }
}
