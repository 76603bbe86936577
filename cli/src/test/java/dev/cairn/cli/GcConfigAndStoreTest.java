package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.cli.store.StoreUris;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gc --config FILE --store URI}: the store named is collected with the keep.last of the file's tier on it and
 * the run's gc.grace, unless the command line gives them. Before, both were taken from the file only when it named the
 * stores, and a {@code --store} beside it got the defaults (keep 2, grace 10m): collecting one tier of a job that keeps
 * 3 retired a step the job keeps.
 */
class GcConfigAndStoreTest {
    @TempDir
    Path tmp;

    /** Steps 10, 20 and 30 of {@link Checkpoints#RUN} in a new directory store; each step has a chunk of its own. */
    private Path storeWithThreeSteps(String name) throws Exception {
        Path dir = tmp.resolve(name);
        try (FileSystemObjectStore store = new FileSystemObjectStore(dir)) {
            Checkpoints.save(store, Checkpoints.RUN, 10, 20, 30);
        }
        return dir;
    }

    private Path config(String... lines) throws Exception {
        Path config = tmp.resolve("cairn.properties");
        Files.write(config, List.of(lines));
        return config;
    }

    @Test
    void theStoreNamedKeepsWhatTheFileKeepsOnIt() throws Exception {
        Path disk = storeWithThreeSteps("disk");
        Path config = config("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk,
                "tier.disk.keep.last = 3");

        // Spelled otherwise than in the file (a file: URI with a trailing '/'): the same store.
        Run gc = cairn("gc", "--config", config.toString(), "--store", disk.toUri().toString());
        assertEquals(0, gc.status(), gc.err());
        assertTrue(gc.out().contains("retired steps [] (beyond --keep-last 3)"), gc.out());
        assertEquals(3, steps(disk), "the file keeps 3 on this store; gc said: " + gc.out());
    }

    @Test
    void theStoreNamedIsCollectedWithTheFilesGrace() throws Exception {
        Path disk = storeWithThreeSteps("disk");
        Path config = config("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk,
                "tier.disk.keep.last = 1", "gc.grace = 0s");

        JsonNode report = gcJson("--config", config.toString(), "--store", disk.toString());
        assertEquals(1, report.get("keepLast").asInt(), report.toString());
        assertEquals(List.of(10L, 20L), retired(report));
        // With the default grace (10m) the chunks of steps 10 and 20, written just now, would be left.
        assertEquals(2, report.get("report").get("chunksDeleted").asLong(), "gc.grace 0s: " + report);
        assertEquals(1, steps(disk));
    }

    /** A store that is no tier of the file has no keep.last there: refused before any store is collected. */
    @Test
    void aStoreThatIsNoTierOfTheFileIsRefusedWithoutKeepLast() throws Exception {
        Path disk = storeWithThreeSteps("disk");
        Path other = storeWithThreeSteps("other");
        Path config = config("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk,
                "tier.disk.keep.last = 1", "gc.grace = 0s");

        // disk comes first and is in the file: it is not collected either.
        Run gc = cairn("gc", "--config", config.toString(), "--store", disk.toString(), "--store", other.toString());
        assertEquals(CairnCli.USAGE, gc.status(), gc.out() + gc.err());
        assertTrue(gc.err().contains(other.toString()) && gc.err().contains("--keep-last"), gc.err());
        assertEquals(3, steps(disk), "nothing is deleted");
        assertEquals(3, steps(other), "nothing is deleted");

        Run graceOnly = cairn("gc", "--config", config.toString(), "--store", other.toString(), "--grace", "1h");
        assertEquals(CairnCli.USAGE, graceOnly.status(), graceOnly.out() + graceOnly.err());
        assertEquals(3, steps(other), "nothing is deleted");
    }

    @Test
    void keepLastAndGraceGivenHereWinOverTheFile() throws Exception {
        Path disk = storeWithThreeSteps("disk");
        Path other = storeWithThreeSteps("other");
        Path config = config("run = " + Checkpoints.RUN, "tiers = disk", "tier.disk.store = " + disk,
                "tier.disk.keep.last = 3", "gc.grace = 0s");

        // --keep-last wins over the file's 3; the grace is still the file's.
        JsonNode one = gcJson("--config", config.toString(), "--store", disk.toString(), "--keep-last", "1");
        assertEquals(List.of(10L, 20L), retired(one));
        assertEquals(2, one.get("report").get("chunksDeleted").asLong(), "gc.grace 0s: " + one);
        assertEquals(1, steps(disk));

        // A store that is no tier of the file is collected with the --keep-last given (and the run's gc.grace).
        JsonNode given = gcJson("--config", config.toString(), "--store", other.toString(), "--keep-last", "2",
                "--grace", "1h", "--dry-run");
        assertEquals(List.of(10L), retired(given));
        assertEquals(0, given.get("report").get("chunksDeleted").asLong(), "--grace 1h: " + given);
        JsonNode fileGrace = gcJson("--config", config.toString(), "--store", other.toString(), "--keep-last", "2");
        assertEquals(List.of(10L), retired(fileGrace));
        assertEquals(1, fileGrace.get("report").get("chunksDeleted").asLong(), "gc.grace 0s: " + fileGrace);
        assertEquals(2, steps(other));
    }

    /** How {@code --store} is matched with a tier of the file: one spelling per store. */
    @Test
    void aStoreIsMatchedWithItsTierHoweverItIsSpelled() {
        Path disk = tmp.resolve("disk");
        assertEquals(StoreUris.normalised(disk.toString()), StoreUris.normalised(disk.toUri().toString()));
        assertEquals(StoreUris.normalised(disk.toString()), StoreUris.normalised(disk.resolve("x/..").toString()));
        assertEquals(StoreUris.normalised("s3://bucket/ckpt"), StoreUris.normalised("S3://bucket/ckpt/"));
        assertNotEquals(StoreUris.normalised("s3://bucket/ckpt"), StoreUris.normalised("s3://bucket/ckpt2"));
    }

    /** The one store's report of {@code gc ARGS --json}. */
    private static JsonNode gcJson(String... args) throws Exception {
        String[] all = new String[args.length + 2];
        all[0] = "gc";
        System.arraycopy(args, 0, all, 1, args.length);
        all[all.length - 1] = "--json";
        Run gc = cairn(all);
        assertEquals(0, gc.status(), gc.err());
        JsonNode reports = new ObjectMapper().readTree(gc.out());
        assertEquals(1, reports.size(), gc.out());
        return reports.get(0);
    }

    /** The steps {@code report} retired, in ascending order. */
    private static List<Long> retired(JsonNode report) {
        List<Long> steps = new java.util.ArrayList<>();
        report.get("report").get("stepsRetired").forEach(s -> steps.add(s.asLong()));
        steps.sort(null);
        return steps;
    }

    private static int steps(Path store) throws Exception {
        Run ls = cairn("ls", "--store", store.toString(), "--json");
        assertEquals(0, ls.status(), ls.err());
        return new ObjectMapper().readTree(ls.out()).get("runs").get(0).get("steps").size();
    }
}
