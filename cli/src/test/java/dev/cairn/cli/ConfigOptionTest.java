package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --config FILE} names the stores and the run of the commands that open stores, as the library reads it. */
class ConfigOptionTest {
    @TempDir
    Path tmp;

    @Test
    void theConfigurationFileStandsInForStoreAndRun() throws Exception {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 10, 20);
            Checkpoints.save(store, "other-run", 5);
        }
        Path config = tmp.resolve("cairn.properties");
        Files.write(config, List.of("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk, "tier.disk.keep.last = 3"));

        Run ls = cairn("ls", "--config", config.toString(), "--json");
        assertEquals(0, ls.status(), ls.err());
        JsonNode runs = new ObjectMapper().readTree(ls.out()).get("runs");
        assertEquals(1, runs.size(), "the file's run only: " + ls.out());
        assertEquals(Checkpoints.RUN, runs.get(0).get("run").asText());
        assertEquals(2, runs.get(0).get("steps").size());

        Run verify = cairn("verify", "20", "--config", config.toString());
        assertEquals(0, verify.status(), verify.err());

        Files.write(config, List.of("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk, "tier.disk.keep.last = none"));
        Run bad = cairn("ls", "--config", config.toString());
        assertEquals(CairnCli.FAILED, bad.status());
        assertTrue(bad.err().contains("line 4") && bad.err().contains("tier.disk.keep.last"), bad.err());

        Run neither = cairn("ls");
        assertEquals(CairnCli.USAGE, neither.status());
        assertTrue(neither.err().contains("--store") && neither.err().contains("--config"), neither.err());
    }

    /**
     * {@code gc --config} applies each tier's keep.last from the file; before, it applied --keep-last's default (2) to
     * every tier, and retired steps the file (and the training job) keeps.
     */
    @Test
    void gcWithAConfigurationFileKeepsWhatTheFileKeepsUnlessTheCommandLineSaysOtherwise() throws Exception {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 10, 20, 30);
        }
        Path config = tmp.resolve("cairn.properties");
        Files.write(config, List.of("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk,
                "tier.disk.keep.last = 3"));

        Run gc = cairn("gc", "--config", config.toString());
        assertEquals(0, gc.status(), gc.err());
        assertTrue(gc.out().contains("retired steps [] (beyond --keep-last 3)"), gc.out());
        assertEquals(3, steps(config), "the file keeps 3");

        Run one = cairn("gc", "--config", config.toString(), "--keep-last", "1");
        assertEquals(0, one.status(), one.err());
        assertEquals(1, steps(config), "the command line says 1");
    }

    /** The stores of a configuration file are read with one S3 endpoint: a file giving its S3 tiers two is refused. */
    @Test
    void aConfigurationFileWithTwoS3EndpointsIsRefusedForTheCommandLine() throws Exception {
        Path config = tmp.resolve("cairn.properties");
        Files.write(config, List.of("run = r", "tiers = a, b",
                "tier.a.store = s3://bucket-a/ckpt", "tier.a.s3.endpoint = http://127.0.0.1:9001",
                "tier.b.store = s3://bucket-b/ckpt", "tier.b.s3.endpoint = http://127.0.0.1:9002"));
        Run ls = cairn("ls", "--config", config.toString());
        assertEquals(CairnCli.USAGE, ls.status(), ls.out() + ls.err());
        assertTrue(ls.err().contains("two endpoints"), ls.err());

        // One named, the other the SDK's default (AWS): two servers as well.
        Files.write(config, List.of("run = r", "tiers = a, b",
                "tier.a.store = s3://bucket-a/ckpt", "tier.a.s3.endpoint = http://127.0.0.1:9001",
                "tier.b.store = s3://bucket-b/ckpt"));
        Run mixed = cairn("ls", "--config", config.toString());
        assertEquals(CairnCli.USAGE, mixed.status(), mixed.out() + mixed.err());
        assertTrue(mixed.err().contains("the AWS SDK's default"), mixed.err());
    }

    private static int steps(Path config) throws Exception {
        Run ls = cairn("ls", "--config", config.toString(), "--json");
        assertEquals(0, ls.status(), ls.err());
        return new ObjectMapper().readTree(ls.out()).get("runs").get(0).get("steps").size();
    }
}
