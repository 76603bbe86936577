package dev.cairn.tiers;

import static dev.cairn.tiers.Fixtures.assertSameState;
import static dev.cairn.tiers.Fixtures.randomTensor;
import static dev.cairn.tiers.Fixtures.smallConfig;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A power cut keeps what the store made durable, which a killed process cannot show (the page cache outlives it): the
 * disk tier writes a chunk's bytes durably but leaves its name to the commit ({@code putSyncingNameLater}, then one
 * {@code syncNames} for the step's chunks). A model of the store in front of the real file-system store keeps the names
 * a power cut could still lose, and every MANIFEST created (the commit point) must name none of them: otherwise a power
 * cut right after the commit would leave a committed step with a chunk missing.
 */
class NamesDurableBeforeCommitTest {
    private static final String RUN = "run1";

    @TempDir
    Path dir;

    /**
     * The file-system store behind a record of names not yet durable: those put with {@code putSyncingNameLater} or
     * created with {@code putIfAbsentSyncingNameLater} and not yet passed to {@code syncNames}. Each MANIFEST created
     * is checked against it before it is created.
     */
    static final class PowerCutModel extends ForwardingObjectStore {
        final Set<String> namesAPowerCutLoses = ConcurrentHashMap.newKeySet();
        final List<String> violations = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger namesLeftForLater = new AtomicInteger();
        final AtomicInteger namesSynced = new AtomicInteger();
        final AtomicInteger manifestsChecked = new AtomicInteger();
        private final StoreLayout layout = new StoreLayout(RUN);
        private final RootAllocator allocator = new RootAllocator();

        PowerCutModel(FileSystemObjectStore disk) {
            super(disk);
        }

        @Override
        public void putSyncingNameLater(String key, ByteBuffer data) throws IOException {
            delegate.putSyncingNameLater(key, data);
            namesAPowerCutLoses.add(key);
            namesLeftForLater.incrementAndGet();
        }

        @Override
        public boolean putIfAbsentSyncingNameLater(String key, ByteBuffer data) throws IOException {
            boolean created = delegate.putIfAbsentSyncingNameLater(key, data);
            if (created) {
                namesAPowerCutLoses.add(key);
                namesLeftForLater.incrementAndGet();
            }
            return created;
        }

        @Override
        public void syncNames(Collection<String> keys) throws IOException {
            delegate.syncNames(keys);
            for (String key : keys) {
                if (namesAPowerCutLoses.remove(key)) {
                    namesSynced.incrementAndGet();
                }
            }
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            delegate.put(key, data);
            namesAPowerCutLoses.remove(key); // durable, name and all
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            if (layout.isManifestKey(key)) {
                Manifest m = ManifestFormat.read(data.duplicate(), key, allocator);
                for (String hash : m.referencedHashes()) {
                    String chunk = layout.chunkKey(hash);
                    if (namesAPowerCutLoses.contains(chunk)) {
                        violations.add("step " + m.step() + " committed naming " + chunk + ", whose name a power cut loses");
                    }
                }
                manifestsChecked.incrementAndGet();
            }
            return delegate.putIfAbsent(key, data);
        }

        @Override
        public void delete(String key) throws IOException {
            delegate.delete(key);
            namesAPowerCutLoses.remove(key);
        }

        @Override
        public String describe() {
            return "power-cut model of " + delegate.describe();
        }

        @Override
        public void close() throws IOException {
            allocator.close();
            super.close();
        }
    }

    private static TrainingState state(long seed) {
        return TrainingState.builder()
                .add(randomTensor("w", DType.F32, 300_000, seed))
                .add(randomTensor("b", DType.F32, 70_000, seed + 1))
                .build();
    }

    @Test
    void everyChunkASaveToDiskNamesHasADurableNameBeforeItsManifestIsCreated() throws Exception {
        try (PowerCutModel disk = new PowerCutModel(new FileSystemObjectStore(dir.resolve("disk")));
             Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk).keepLast(2)).build())) {
            // Step 3 saves step 2's contents again: every chunk is found stored, none written, and still checked.
            long[] seeds = {1, 2, 2, 3, 4};
            for (int i = 0; i < seeds.length; i++) {
                cp.save(i + 1, state(seeds[i])).done().get(60, TimeUnit.SECONDS);
            }
            assertEquals(List.of(), disk.violations);
            assertEquals(seeds.length, disk.manifestsChecked.get());
            assertTrue(disk.namesLeftForLater.get() > 0, "the chunks are written with their names left for the commit");
            assertEquals(Set.of(), disk.namesAPowerCutLoses, "every chunk name made durable by its step's commit");
            assertSameState(state(4), cp.restore(RestoreRequest.latest()).state());
        }
    }

    @Test
    void everyChunkAPromotionToDiskNamesHasADurableNameBeforeItsManifestIsCreated() throws Exception {
        try (MemoryObjectStore memory = new MemoryObjectStore(256L << 20);
             PowerCutModel disk = new PowerCutModel(new FileSystemObjectStore(dir.resolve("disk")))) {
            try (Checkpointer cp = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("memory", memory))
                    .tier(TierConfig.of("disk", disk).keepLast(2)).build())) {
                for (int step = 1; step <= 4; step++) {
                    cp.save(step, state(10 + step)).done().get(60, TimeUnit.SECONDS);
                }
            }
            assertEquals(List.of(), disk.violations);
            assertEquals(4, disk.manifestsChecked.get());
            assertTrue(disk.namesSynced.get() > 0, "promoted chunks are written with their names left for the commit");
            assertEquals(Set.of(), disk.namesAPowerCutLoses);
            try (Checkpointer fromDisk = Checkpointer.open(smallConfig(RUN).tier(TierConfig.of("disk", disk)).build())) {
                assertSameState(state(14), fromDisk.restore(RestoreRequest.latest()).state());
            }
        }
    }
}
