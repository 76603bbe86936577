package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.CairnConfig;
import dev.cairn.TierConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * A configuration built with the builders, written as properties and read back, from the properties or from the file
 * {@link Properties#store} writes of them, is the same configuration.
 */
class ConfigFileProperties {
    private static Path root;

    @BeforeContainer
    static void folder() throws IOException {
        root = Files.createTempDirectory("cairn-config");
    }

    @AfterContainer
    static void clean() throws IOException {
        try (var walk = Files.walk(root)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    record TierSpec(String name, long every, int keep, Integer level, boolean asUri) {
    }

    record Spec(String run, int chunkKiB, long stagingMiB, int threads, int level, Duration grace, Duration deadline,
                int fullEvery, boolean lossy, int lossyBits, int rank, int world, List<TierSpec> tiers,
                dev.cairn.WhenBusy whenBusy) {
    }

    @Provide
    Arbitrary<Spec> specs() {
        Arbitrary<TierSpec> tier = Combinators.combine(Arbitraries.strings().withCharRange('a', 'z').ofMinLength(1).ofMaxLength(6),
                Arbitraries.longs().between(1, 1000), Arbitraries.integers().between(1, 50),
                Arbitraries.integers().between(-7, 22).injectNull(0.5), Arbitraries.of(true, false)).as(TierSpec::new);
        Arbitrary<List<TierSpec>> tiers = tier.list().ofMinSize(1).ofMaxSize(4).uniqueElements(TierSpec::name);
        Arbitrary<Duration> durations = Arbitraries.longs().between(1, 100_000).map(Duration::ofMillis);
        return Combinators.combine(Arbitraries.strings().withCharRange('a', 'z').numeric().withChars('-', '_').ofMinLength(1)
                                .ofMaxLength(12).filter(s -> !s.startsWith(".")),
                        Arbitraries.integers().between(4, 1024), Arbitraries.longs().between(64, 4096),
                        Arbitraries.integers().between(1, 8), Arbitraries.integers().between(-7, 22), durations, durations,
                        Arbitraries.integers().between(1, 64))
                .flatAs((run, chunk, staging, threads, level, grace, deadline, full) -> Combinators.combine(
                        Arbitraries.of(true, false), Arbitraries.integers().between(1, 51), Arbitraries.integers().between(1, 8),
                        tiers, Arbitraries.of(dev.cairn.WhenBusy.values())).flatAs((lossy, bits, world, ts, busy) ->
                        Arbitraries.integers().between(0, world - 1).map(rank ->
                        new Spec(run, chunk, staging, threads, level, grace, deadline,
                                full, lossy, bits, rank, world, ts, busy))));
    }

    private static CairnConfig build(Spec s) throws IOException {
        CairnConfig.Builder b = CairnConfig.builder(s.run()).chunkBytes(s.chunkKiB() << 10).stagingBytes(s.stagingMiB() << 20)
                .encoderThreads(s.threads()).compressionLevel(s.level()).deadline(s.deadline())
                .gcGrace(s.world() > 1 ? s.grace().plus(s.deadline().multipliedBy(2)) : s.grace()).differential(s.fullEvery())
                .rank(s.rank(), s.world()).whenBusy(s.whenBusy())
                .readRowsAhead(s.threads() % 2 == 0) // both values, from a drawn number not otherwise tied to it
                .prepareFirstSave(s.level() % 2 == 0)
                .prefaultStaging(s.fullEvery() % 2 == 0);
        if (s.lossy()) {
            b.lossy("optim/.*\\.exp_avg(_sq)?", s.lossyBits());
        }
        for (TierSpec t : s.tiers()) {
            Path folder = root.resolve(t.name());
            String location = t.asUri() ? folder.toUri().toString() : folder.toString();
            TierConfig c = TierConfig.at(t.name(), location, Map.of()).everySteps(t.every()).keepLast(t.keep());
            b.tier(t.level() == null ? c : c.compressionLevel(t.level()));
        }
        return b.build();
    }

    @Property(tries = 200)
    void builderConfigWrittenAsPropertiesReadsBackEqual(@ForAll("specs") Spec spec) throws Exception {
        CairnConfig original;
        try {
            original = build(spec);
        } catch (dev.cairn.CheckpointException e) {
            return; // a combination the builder refuses (staging below the minimum for the chunk size and threads)
        }
        Properties written = original.toProperties();
        CairnConfig read = CairnConfig.fromProperties(written);
        Path file = root.resolve("cairn.properties");
        try (var out = Files.newOutputStream(file)) {
            written.store(out, null);
        }
        CairnConfig loaded = CairnConfig.load(file);
        try {
            assertEquals(written, read.toProperties(), "written twice, the same keys and values");
            assertEquals(written, loaded.toProperties(), "through a file Properties.store wrote, the same keys and values");
            assertEquals(original.run(), read.run());
            assertEquals(original.chunkBytes(), read.chunkBytes());
            assertEquals(original.stagingBytes(), read.stagingBytes());
            assertEquals(original.encoderThreads(), read.encoderThreads());
            assertEquals(original.compressionLevel(), read.compressionLevel());
            assertEquals(original.gcGrace(), read.gcGrace());
            assertEquals(original.deadline(), read.deadline());
            assertEquals(original.whenBusy(), read.whenBusy());
            assertEquals(original.readRowsAhead(), read.readRowsAhead());
            assertEquals(original.prepareFirstSave(), read.prepareFirstSave());
            assertEquals(original.prefaultStaging(), read.prefaultStaging());
            assertEquals(original.differentialFullEvery(), read.differentialFullEvery());
            assertEquals(original.lossyEntries().map(p -> p.pattern()), read.lossyEntries().map(p -> p.pattern()));
            assertEquals(original.lossyMantissaBits(), read.lossyMantissaBits());
            assertEquals(original.rank(), read.rank());
            assertEquals(original.worldSize(), read.worldSize());
            assertEquals(original.tiers().size(), read.tiers().size());
            for (int i = 0; i < original.tiers().size(); i++) {
                TierConfig a = original.tiers().get(i);
                TierConfig b = read.tiers().get(i);
                assertEquals(a.name(), b.name());
                assertEquals(a.location(), b.location());
                assertEquals(a.everySteps(), b.everySteps());
                assertEquals(a.keepLast(), b.keepLast());
                assertEquals(a.compressionLevel(), b.compressionLevel());
                assertEquals(a.store().describe(), b.store().describe());
            }
        } finally {
            closeStores(original);
            closeStores(read);
            closeStores(loaded);
        }
    }

    private static void closeStores(CairnConfig c) {
        for (TierConfig t : c.tiers()) {
            try {
                t.store().close();
            } catch (Exception e) {
                throw new UncheckedIOException(new IOException(e));
            }
        }
    }
}
