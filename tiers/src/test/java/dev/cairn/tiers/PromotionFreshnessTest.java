package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.ObjectInfo;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A promotion that names a chunk the target tier already holds, old and named by no newest step there, writes it again,
 * as a save does: a collector in another process ({@code cairn gc}) deletes unreferenced chunks older than its grace,
 * and would otherwise delete it right under the step the promotion commits. Here: a chunk of step 1, not named by
 * step 2, aged an hour on disk, then named again by step 3 of a new process.
 */
class PromotionFreshnessTest {
    private static final String RUN = "fresh";

    @TempDir
    Path dir;

    private static TrainingState state(long seed) {
        return TrainingState.builder().add(randomTensor("w", DType.F32, 16 << 10, seed)).build();
    }

    private CairnConfig config(MemoryObjectStore memory, FileSystemObjectStore disk) {
        return smallConfig(RUN).gcGrace(Duration.ofMinutes(10))
                .tier(TierConfig.of("memory", memory).keepLast(2))
                .tier(TierConfig.of("disk", disk).keepLast(3)).build();
    }

    @Test
    void anOldChunkThePromotionNamesAgainIsWrittenAgain() throws Exception {
        TrainingState a = state(1);
        Set<String> chunksOfA;
        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(config(memory, disk))) {
            cp.save(1, a).done().get(60, TimeUnit.SECONDS);
            chunksOfA = keys(disk);
            cp.save(2, state(2)).done().get(60, TimeUnit.SECONDS);
        }
        assertEquals(1, chunksOfA.size(), "one chunk: " + chunksOfA);
        Path x = dir.resolve("disk").resolve(chunksOfA.iterator().next());
        Instant anHourAgo = Instant.now().minus(Duration.ofHours(1));
        Files.setLastModifiedTime(x, FileTime.from(anHourAgo));

        try (MemoryObjectStore memory = new MemoryObjectStore(64L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(config(memory, disk))) {
            cp.save(3, a).done().get(60, TimeUnit.SECONDS);
            Instant written = Files.getLastModifiedTime(x).toInstant();
            assertTrue(written.isAfter(Instant.now().minus(Duration.ofMinutes(5))),
                    "the chunk step 3 names in the disk tier was written again, not left an hour old: " + written);
        }
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir.resolve("disk"));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).gcGrace(Duration.ofMinutes(10))
                     .tier(TierConfig.of("disk", disk).keepLast(3)).build())) {
            TrainingState into = state(9);
            RestoreResult r = cp.restore(RestoreRequest.latest().into(into));
            assertEquals(3, r.step());
            assertSameState(a, into);
        }
    }

    private static Set<String> keys(FileSystemObjectStore disk) throws java.io.IOException {
        Set<String> out = new TreeSet<>();
        for (ObjectInfo o : disk.list(RUN + "/chunks/")) {
            out.add(o.key());
        }
        return out;
    }
}
