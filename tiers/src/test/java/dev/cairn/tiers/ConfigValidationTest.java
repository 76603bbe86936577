package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Configurations the builder refuses up front, and one it must not refuse. */
class ConfigValidationTest {
    @TempDir
    Path dir;

    /**
     * Two tiers of one run in one store share its keys: the faster tier's retention retired the steps the slower one
     * promised to keep, and the second tier added no copy. Refused, whether the same object or two stores on one
     * directory; two stores in memory are two places.
     */
    @Test
    void twoTiersOnOneStoreAreRefusedNamingBoth() throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("ckpt"));
             FileSystemObjectStore again = new FileSystemObjectStore(dir.resolve("ckpt"));
             MemoryObjectStore memory = new MemoryObjectStore(1 << 20);
             MemoryObjectStore other = new MemoryObjectStore(1 << 20)) {
            CheckpointException same = assertThrows(CheckpointException.class, () -> CairnConfig.builder("r")
                    .tier(TierConfig.of("fast", disk).keepLast(1)).tier(TierConfig.of("slow", disk).everySteps(10)).build());
            assertEquals(Reason.INVALID_CONFIG, same.reason());
            assertTrue(same.getMessage().contains("tiers 'fast' and 'slow' are the same store"), same.getMessage());
            CheckpointException oneDirectory = assertThrows(CheckpointException.class, () -> CairnConfig.builder("r")
                    .tier(TierConfig.of("fast", disk)).tier(TierConfig.of("slow", again)).build());
            assertTrue(oneDirectory.getMessage().contains("file system at"), oneDirectory.getMessage());
            assertThrows(CheckpointException.class, () -> CairnConfig.builder("r")
                    .tier(TierConfig.of("a", memory)).tier(TierConfig.of("b", memory)).build());
            CairnConfig.builder("r").tier(TierConfig.of("a", memory)).tier(TierConfig.of("b", other))
                    .tier(TierConfig.of("c", disk)).build();
        }
    }

    /**
     * A configuration file is checked with stand-in stores before any is opened: two S3 tiers on one bucket and prefix
     * but different endpoints (MinIO beside AWS) are two stores, not one; one location named twice is one.
     */
    @Test
    void aFileWithOneBucketOnTwoEndpointsIsTwoStoresAndOneLocationTwiceIsRefused() throws Exception {
        Path twoServers = dir.resolve("two.properties");
        Files.write(twoServers, java.util.List.of("run = r", "tiers = near, far",
                "tier.near.store = s3://ckpt/run", "tier.near.s3.endpoint = http://127.0.0.1:9",
                "tier.far.store = s3://ckpt/run", "tier.far.s3.endpoint = http://127.0.0.2:9"));
        CairnConfig two = CairnConfig.load(twoServers);
        assertEquals(2, two.tiers().size());
        for (TierConfig t : two.tiers()) {
            t.store().close();
        }
        Path twice = dir.resolve("twice.properties");
        Files.write(twice, java.util.List.of("run = r", "tiers = a, b", "tier.a.store = " + dir.resolve("d"),
                "tier.b.store = " + dir.resolve("d")));
        CheckpointException same = assertThrows(CheckpointException.class, () -> CairnConfig.load(twice));
        assertTrue(same.getMessage().contains("are the same store"), same.getMessage());
        assertTrue(Files.notExists(dir.resolve("d")), "refused before any store was opened");
    }

    /**
     * A directory named through a symbolic link is the store the link points to: two tiers on it are one store, whose
     * faster tier's retention would delete the steps the slower one keeps (the check compared the paths as written).
     */
    @Test
    void twoTiersOnOneDirectoryThroughASymbolicLinkAreOneStore(@TempDir Path dir) throws Exception {
        Path real = Files.createDirectories(dir.resolve("scratch"));
        Path link = Files.createSymbolicLink(dir.resolve("home-scratch"), real);
        try (FileSystemObjectStore fast = new FileSystemObjectStore(real.resolve("ckpt"));
             FileSystemObjectStore slow = new FileSystemObjectStore(link.resolve("ckpt"))) {
            CheckpointException same = assertThrows(CheckpointException.class, () -> CairnConfig.builder("r")
                    .tier(TierConfig.of("fast", fast).keepLast(2)).tier(TierConfig.of("slow", slow).keepLast(10)).build());
            assertEquals(Reason.INVALID_CONFIG, same.reason());
            assertTrue(same.getMessage().contains("tiers 'fast' and 'slow' are the same store"), same.getMessage());
        }
    }

    /**
     * A deadline or shutdown grace beyond 100 years ("no deadline") is refused by the builder; one beyond 292 years was
     * taken, then failed the open (or the hook) with an ArithmeticException (nanoseconds overflowing a long) after the
     * threads had started. The GC grace stays unbounded: cairn import sets 1,000 years.
     */
    @Test
    void aDeadlineOrShutdownGraceBeyondAHundredYearsIsRefusedByTheBuilder() {
        java.time.Duration centuries = java.time.Duration.ofDays(110_000);
        for (org.junit.jupiter.api.function.Executable e : java.util.List.<org.junit.jupiter.api.function.Executable>of(
                () -> CairnConfig.builder("r").deadline(centuries),
                () -> CairnConfig.builder("r").persistOnShutdown(centuries))) {
            CheckpointException refused = assertThrows(CheckpointException.class, e);
            assertEquals(Reason.INVALID_CONFIG, refused.reason());
            assertTrue(refused.getMessage().contains("at most 36500 days"), refused.getMessage());
        }
        CairnConfig.builder("r").deadline(java.time.Duration.ofDays(36_500)); // 100 years is taken
        CairnConfig.builder("r").gcGrace(java.time.Duration.ofDays(365_000)); // a GC grace is not counted in nanoseconds
    }

    /** A tier opened from a location with a name that is refused opened its store first: a directory was created. */
    @Test
    void aTierAtALocationWithARefusedNameOpensNoStore(@TempDir Path dir) {
        assertThrows(CheckpointException.class, () -> TierConfig.at("my tier", dir.resolve("ckpt").toString(), null));
        assertTrue(Files.notExists(dir.resolve("ckpt")), "refused before the store was opened");
    }

    /** A run or tier named "." passed the name check and failed at the store, with STORAGE, once opened. */
    @Test
    void aRunOrTierNamedDotIsRefused() {
        CheckpointException run = assertThrows(CheckpointException.class, () -> CairnConfig.builder("."));
        assertEquals(Reason.INVALID_INPUT, run.reason());
        assertTrue(run.getMessage().contains("run name '.'"), run.getMessage());
        try (MemoryObjectStore memory = new MemoryObjectStore(1 << 20)) {
            assertThrows(CheckpointException.class, () -> TierConfig.of(".", memory));
        }
        CairnConfig.builder("r.1"); // a dot within a name stays allowed
    }

    /**
     * The builder's defaults build on a node of many cores: one encoder per core needed more staging than the default
     * holds from 126 cores on, and a plain {@code builder(run).tier(...).build()} failed with INVALID_CONFIG about
     * settings its user never set. A JVM that sees 192 processors builds one.
     */
    @Test
    void theDefaultsBuildOnANodeOfManyCores() throws Exception {
        Path out = dir.resolve("stdout");
        Path err = dir.resolve("stderr");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process child = new ProcessBuilder(java, "-XX:ActiveProcessorCount=192", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx128m",
                "-cp", System.getProperty("java.class.path"), ManyCoresChild.class.getName())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        // 5 minutes: a JVM start and one builder; the bound only keeps a hung child from hanging the build.
        assertTrue(child.waitFor(5, TimeUnit.MINUTES), "child did not finish");
        assertEquals(0, child.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
        String[] seen = Files.readString(out, StandardCharsets.UTF_8).strip().split(" ");
        assertEquals("192", seen[0], "the child saw 192 processors");
        assertEquals(String.valueOf(CairnConfig.DEFAULT_MAX_ENCODERS), seen[1], "encoders");
    }

    /** Run by {@link #theDefaultsBuildOnANodeOfManyCores}: prints the processors it sees and the default encoders. */
    public static final class ManyCoresChild {
        public static void main(String[] args) {
            try (MemoryObjectStore memory = new MemoryObjectStore(1 << 20)) {
                CairnConfig c = CairnConfig.builder("r").tier(TierConfig.of("memory", memory)).build();
                System.out.println(Runtime.getRuntime().availableProcessors() + " " + c.encoderThreads());
            }
        }
    }
}
