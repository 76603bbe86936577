package dev.cairn.cli.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.testkit.HostileSafetensors;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsHeaderTest {
    @TempDir
    Path tmp;

    /**
     * Defect 9: a header of a million empty tensors (64 MB) took 4.8 GB to import, most of it a JSON tree of the
     * whole header. Read as a stream, what is kept per tensor is its name, shape and offsets: 300,000 of them (an 18
     * MB header, which as a tree needed well over 256 MiB) are read here in a JVM of 96 MiB. Memory, not time, is
     * what this checks: the limit below only turns a hang into a failure.
     */
    @Test
    void aHeaderOfManyEmptyTensorsIsReadInMemoryProportionalToWhatIsKept() throws Exception {
        Path file = Files.write(tmp.resolve("many.safetensors"), HostileSafetensors.manyEmptyTensors(300_000));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx96m", "-XX:+UseSerialGC", "-cp", System.getProperty("java.class.path"),
                HeaderChild.class.getName(), file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the child did not finish: " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("tensors 300000"), out);
    }

    @Test
    void eachTensorKeepsItsNameShapeAndOffsetsInHeaderOrder() throws Exception {
        Path file = Files.write(tmp.resolve("two.safetensors"), HostileSafetensors.file(
                "{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32],\"x\":{\"y\":[1]}},"
                        + "\"a\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}", 32));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            SafetensorsFormat.Header h = SafetensorsFormat.readHeader(ch, "two");
            assertEquals(java.util.Map.of("k", "v"), h.metadata());
            assertEquals(2, h.tensors().size());
            assertEquals("b", h.tensors().get(0).name());
            assertEquals(java.util.List.of(2L, 2L), java.util.Arrays.stream(h.tensors().get(0).shape()).boxed().toList());
            assertEquals(16, h.tensors().get(0).begin());
            assertEquals(0, h.tensors().get(1).shape().length);
            assertEquals(8, h.tensors().get(1).end());
        }
    }
}
