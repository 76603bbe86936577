package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run configured by a file: every setting the builders take, and an error naming the key and line of a bad one. */
class ConfigFileTest {
    @TempDir
    Path dir;

    private Path file(String... lines) throws Exception {
        Path f = dir.resolve("cairn.properties");
        Files.write(f, List.of(lines));
        return f;
    }

    @Test
    void aFileConfiguresEverySettingAndTheRunSavesAndRestoresWithIt() throws Exception {
        Path f = file("# two disk tiers",
                "run = trial-7",
                "tiers = fast, slow",
                "tier.fast.store = " + dir.resolve("fast"),
                "tier.fast.keep.last = 1",
                "tier.slow.store = file:" + dir.resolve("slow"),
                "tier.slow.every.steps = 2",
                "tier.slow.keep.last = 4",
                "tier.slow.compression.level = 5",
                "chunk.bytes = 64KiB",
                "staging.bytes = 16 MiB",
                "encoder.threads = 2",
                "compression.level = 2",
                "gc.grace = 0s",
                "gc.sweep.every = 50",
                "deadline = 90s",
                "differential.full.every = 4",
                "lossy.pattern = optim/.*",
                "lossy.mantissa.bits = 10");
        CairnConfig c = CairnConfig.load(f);
        assertEquals("trial-7", c.run());
        assertEquals(List.of("fast", "slow"), c.tiers().stream().map(TierConfig::name).toList());
        assertEquals(1, c.tier("fast").keepLast());
        assertEquals(2, c.tier("slow").everySteps());
        assertEquals(4, c.tier("slow").keepLast());
        assertEquals(OptionalInt.of(5), c.tier("slow").compressionLevel());
        assertEquals(Optional.of(dir.resolve("fast").toString()), c.tier("fast").location());
        assertEquals(64 << 10, c.chunkBytes());
        assertEquals(16L << 20, c.stagingBytes());
        assertEquals(2, c.encoderThreads());
        assertEquals(2, c.compressionLevel());
        assertEquals(Duration.ZERO, c.gcGrace());
        assertEquals(50, c.gcSweepEvery());
        assertEquals(Duration.ofSeconds(90), c.deadline());
        assertEquals(4, c.differentialFullEvery());
        assertEquals("optim/.*", c.lossyEntries().orElseThrow().pattern());
        assertEquals(10, c.lossyMantissaBits());
        TrainingState state = TrainingState.builder().add(Fixtures.randomTensor("w", DType.F32, 40_000, 3)).build();
        try (Checkpointer cp = Checkpointer.open(c)) {
            cp.save(2, state).done().get(30, TimeUnit.SECONDS);
            Fixtures.assertSameState(state, cp.restore(RestoreRequest.latest()).state());
        } finally {
            for (TierConfig t : c.tiers()) {
                t.store().close();
            }
        }
        assertTrue(Files.isDirectory(dir.resolve("slow").resolve("trial-7")), "the slow tier took step 2");
    }

    private String errorOf(String... lines) throws Exception {
        Path f = file(lines);
        CheckpointException e = assertThrows(CheckpointException.class, () -> CairnConfig.load(f));
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason(), e.getMessage());
        return e.getMessage();
    }

    @Test
    void everyBadValueIsRefusedNamingItsKeyAndLine() throws Exception {
        String store = "tier.d.store = " + dir.resolve("d");
        String m = errorOf("run = r", "tiers = d", store, "chunk.bytes = 12 MiBs");
        assertTrue(m.contains("line 4") && m.contains("'chunk.bytes'") && m.contains("12 MiBs"), m);
        m = errorOf("run = r", "tiers = d", store, "chunk.bytes = 1KiB");
        assertTrue(m.contains("line 4") && m.contains("chunkBytes must be in"), m);
        m = errorOf("run = r", "tiers = d", store, "", "deadline = soon");
        assertTrue(m.contains("line 5") && m.contains("'deadline'"), m);
        m = errorOf("run = r", "tiers = d", store, "gc.sweep.every = -1");
        assertTrue(m.contains("line 4") && m.contains("gcSweepEvery must be zero"), m);
        m = errorOf("run = r", "tiers = d", store, "tier.d.every.steps = 0");
        assertTrue(m.contains("line 4") && m.contains("'tier.d.every.steps'") && m.contains("everySteps must be at least 1"), m);
        m = errorOf("run = r", "tiers = d", store, "chunk.byte = 65536");
        assertTrue(m.contains("line 4") && m.contains("'chunk.byte'") && m.contains("unknown key"), m);
        m = errorOf("run = r", "tiers = d", store, "tier.e.keep.last = 2");
        assertTrue(m.contains("line 4") && m.contains("'tier.e.keep.last'"), m);
        m = errorOf("run = r", "tiers = d, e", store);
        assertTrue(m.contains("'tier.e.store'"), m);
        m = errorOf("run = r", store);
        assertTrue(m.contains("missing key 'tiers'"), m);
        m = errorOf("run = ../up", "tiers = d", store);
        assertTrue(m.contains("line 1") && m.contains("'run'"), m);
        m = errorOf("run = r", "tiers = d", store, "encoder.threads = 2", "encoder.threads = 3");
        assertTrue(m.contains("line 5") && m.contains("set twice") && m.contains("line 4"), m);
        m = errorOf("run = r", "tiers = d", "tier.d.store = ftp://host/x");
        assertTrue(m.contains("line 3") && m.contains("'tier.d.store'") && m.contains("unknown store scheme"), m);
        m = errorOf("run = r", "tiers = d", store, "lossy.pattern = optim/.*");
        assertTrue(m.contains("lossy.mantissa.bits"), m);
        m = errorOf("run = r", "tiers = d", store, "rank = 2", "world.size = 2");
        assertTrue(m.contains("line 4") && m.contains("'rank'") && m.contains("rank must be in [0, 2)"), m);
        m = errorOf("run = r", "tiers = d", store, "this line has no separator");
        assertTrue(m.contains("line 4") && m.contains("key = value"), m);
    }

    @Test
    void aTierWhoseCompressionLevelIsNoneIsUncompressedAndWritesBackAsNone() throws Exception {
        Path f = file("run = r", "tiers = plain, packed",
                "tier.plain.store = " + dir.resolve("plain"),
                "tier.plain.compression.level = None",
                "tier.packed.store = " + dir.resolve("packed"),
                "tier.packed.compression.level = 3");
        CairnConfig c = CairnConfig.load(f);
        try {
            assertTrue(c.tier("plain").isUncompressed());
            assertEquals(OptionalInt.empty(), c.tier("plain").compressionLevel());
            assertTrue(!c.tier("packed").isUncompressed());
            java.util.Properties written = c.toProperties();
            assertEquals("none", written.getProperty("tier.plain.compression.level"));
            assertEquals("3", written.getProperty("tier.packed.compression.level"));
            CairnConfig back = CairnConfig.fromProperties(written);
            try {
                assertTrue(back.tier("plain").isUncompressed());
                assertEquals(OptionalInt.of(3), back.tier("packed").compressionLevel());
                assertEquals(written, back.toProperties());
            } finally {
                for (TierConfig t : back.tiers()) {
                    t.store().close();
                }
            }
        } finally {
            for (TierConfig t : c.tiers()) {
                t.store().close();
            }
        }
    }

    @Test
    void aTierCompressionLevelThatIsNeitherALevelNorNoneIsRefused() throws Exception {
        String store = "tier.d.store = " + dir.resolve("d");
        String m = errorOf("run = r", "tiers = d", store, "tier.d.compression.level = off");
        assertTrue(m.contains("line 4") && m.contains("'tier.d.compression.level'") && m.contains("'off'")
                && m.contains("none"), m);
        m = errorOf("run = r", "tiers = d", store, "tier.d.compression.level = 23");
        assertTrue(m.contains("line 4") && m.contains("compressionLevel must be a zstd level"), m);
        // The run's own level is a zstd level only: "none" is per tier.
        m = errorOf("run = r", "tiers = d", store, "compression.level = none");
        assertTrue(m.contains("line 4") && m.contains("'compression.level'"), m);
    }

    @Test
    void aFileWrittenByPropertiesStoreLoadsBackWithTheSameStoresAndLossyPattern() throws Exception {
        // Properties.store escapes colons and backslashes (s3\://bucket, optim/.*\\.exp_avg); a reader that took the
        // text as it stands opened the S3 tier as a directory named s3\: under the working directory.
        CairnConfig original = CairnConfig.builder("r")
                .tier(TierConfig.at("disk", dir.resolve("disk").toString(), Map.of()))
                .tier(TierConfig.at("s3", "s3://bucket/ckpt", Map.of("s3.endpoint", "http://127.0.0.1:9000",
                        "s3.region", "us-east-1")).everySteps(10))
                .lossy("optim/.*\\.exp_avg(_sq)?", 10)
                .build();
        Path f = dir.resolve("written.properties");
        try (var out = Files.newOutputStream(f)) {
            original.toProperties().store(out, "written by Properties.store");
        }
        assertTrue(Files.readString(f).contains("s3\\://bucket"), "the file holds the escaped form");
        CairnConfig back = CairnConfig.load(f);
        try {
            for (TierConfig t : original.tiers()) {
                assertEquals(t.store().describe(), back.tier(t.name()).store().describe());
                assertEquals(t.location(), back.tier(t.name()).location());
                assertEquals(t.settings(), back.tier(t.name()).settings());
            }
            assertEquals("optim/.*\\.exp_avg(_sq)?", back.lossyEntries().orElseThrow().pattern());
        } finally {
            closeStores(original);
            closeStores(back);
        }
    }

    @Test
    void escapesAndContinuationLinesReadAsPropertiesReadThem() throws Exception {
        Path f = file("run = r",
                "tiers = d",
                "tier.d.store = " + dir.resolve("d"),
                "tier.d.keep.last = \\u0033",
                "lossy.pattern = optim/\\",
                "    .*",
                "lossy.mantissa.bits = 10");
        CairnConfig c = CairnConfig.load(f);
        try {
            assertEquals(3, c.tier("d").keepLast());
            assertEquals("optim/.*", c.lossyEntries().orElseThrow().pattern());
        } finally {
            closeStores(c);
        }
        String m = errorOf("run = r", "tiers = d", "tier.d.store = " + dir.resolve("d"), "tier.d.keep.last = \\u00x3");
        assertTrue(m.contains("line 4") && m.contains("'tier.d.keep.last'"), m);
        // A backslash that escapes nothing Properties knows is refused: Properties would drop it, and a pattern's \d
        // would silently become d (the lossy rounding then applies to other tensors, or to none).
        String regex = errorOf("run = r", "tiers = d", "tier.d.store = " + dir.resolve("d"), "lossy.pattern = layers\\.\\d+");
        assertTrue(regex.contains("line 4") && regex.contains("'\\.' is not an escape"), regex);
        CairnConfig doubled = CairnConfig.load(file("run = r", "tiers = d", "tier.d.store = " + dir.resolve("d"),
                "lossy.pattern = layers\\\\.\\\\d+", "lossy.mantissa.bits = 10"));
        try {
            assertEquals("layers\\.\\d+", doubled.lossyEntries().orElseThrow().pattern());
        } finally {
            closeStores(doubled);
        }
    }

    private static void closeStores(CairnConfig c) throws Exception {
        for (TierConfig t : c.tiers()) {
            t.store().close();
        }
    }

    @Test
    void aTierWhoseNameStartsWithAnotherTiersNameKeepsItsKeys() throws Exception {
        // tier.disk.fast.store is also "tier.disk." followed by an unknown "fast.store"; the listed order must not matter.
        for (String tiers : List.of("disk.fast, disk", "disk, disk.fast")) {
            CairnConfig c = CairnConfig.load(file("run = r", "tiers = " + tiers,
                    "tier.disk.fast.store = " + dir.resolve("fast"),
                    "tier.disk.fast.keep.last = 3",
                    "tier.disk.store = " + dir.resolve("disk")));
            try {
                assertEquals(3, c.tier("disk.fast").keepLast(), tiers);
            } finally {
                closeStores(c);
            }
        }
    }

    @Test
    void aRefusedConfigurationCreatesNoStoreDirectory() throws Exception {
        Path first = dir.resolve("first");
        Path second = dir.resolve("second");
        String run = "run = r";
        String tiers = "tiers = first, second";
        String stores = "tier.first.store = " + first + "\ntier.second.store = " + second;
        // A bad value of the last tier, a combination build() refuses, a tier name no store may be opened under.
        String m = errorOf(run, tiers, stores, "tier.second.keep.last = 0");
        assertTrue(m.contains("line 5") && m.contains("'tier.second.keep.last'"), m);
        assertTrue(Files.notExists(first) && Files.notExists(second), m);
        m = errorOf(run, tiers, stores, "chunk.bytes = 4MiB", "staging.bytes = 4MiB");
        assertTrue(m.contains("stagingBytes"), m);
        assertTrue(Files.notExists(first) && Files.notExists(second), m);
        m = errorOf(run, "tiers = first, sec@nd", "tier.first.store = " + first, "tier.sec@nd.store = " + second);
        assertTrue(m.contains("line 4") && m.contains("'tier.sec@nd.store'"), m);
        assertTrue(Files.notExists(first) && Files.notExists(second), m);
        // A scheme no backend serves: found before the first tier's directory is made.
        m = errorOf(run, tiers, "tier.first.store = " + first, "tier.second.store = nosuch://bucket/x");
        assertTrue(m.contains("line 4") && m.contains("unknown store scheme 'nosuch'"), m);
        assertTrue(Files.notExists(first), m);
    }

    @Test
    void aCommentAfterAStoreLocationIsRefusedAndAnEscapedHashIsKept() throws Exception {
        String m = errorOf("run = r", "tiers = d", "tier.d.store = " + dir.resolve("d") + "  # fast disk");
        assertTrue(m.contains("line 3") && m.contains("'tier.d.store'") && m.contains("comment"), m);
        assertTrue(Files.notExists(dir.resolve("d  # fast disk")) && Files.notExists(dir.resolve("d")), m);
        CairnConfig c = CairnConfig.load(file("run = r", "tiers = d", "tier.d.store = " + dir.resolve("d") + " \\#2"));
        try {
            assertEquals(Optional.of(dir.resolve("d #2").toString()), c.tier("d").location());
        } finally {
            closeStores(c);
        }
    }

    @Test
    void aMissingFileIsAConfigurationError() {
        CheckpointException e = assertThrows(CheckpointException.class, () -> CairnConfig.load(dir.resolve("absent.properties")));
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason());
        assertTrue(e.getMessage().contains("absent.properties"), e.getMessage());
    }

    @Test
    void aTierGivenAsAStoreObjectCannotBeWrittenOut() throws Exception {
        try (var mem = new dev.cairn.backend.memory.MemoryObjectStore(1 << 20)) {
            CairnConfig c = CairnConfig.builder("r").tier(TierConfig.of("m", mem)).build();
            CheckpointException e = assertThrows(CheckpointException.class, c::toProperties);
            assertTrue(e.getMessage().contains("tier 'm'"), e.getMessage());
        }
    }
}
