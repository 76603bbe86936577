package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.cairn.CheckpointAdmin;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.StoreRef;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * A collector that cannot see the writers' pins (the command line's, or rank 0 of a multi-rank run) deletes an old
 * chunk only if it is still old just before it deletes it: a writer that counts on an old chunk writes it again first.
 * With more candidates than one batch delete takes, the age is checked per batch, right before that batch's delete,
 * not once for all of them before the first.
 */
class GcAgeCheckPerBatchTest {
    private static final String RUN = "aged";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    /**
     * Says every chunk was written long ago (so no test waits out a grace period), except those written again during
     * the collection, which it says were written in the future (young whatever the clock says). At the first batch
     * delete, a writer writes again one candidate that batch does not hold.
     */
    private static final class RewritingWriter extends ForwardingObjectStore {
        final Set<String> rewritten = ConcurrentHashMap.newKeySet();
        final AtomicReference<String> target = new AtomicReference<>();

        RewritingWriter(MemoryObjectStore delegate) {
            super(delegate);
        }

        private ObjectInfo aged(ObjectInfo o) {
            Instant when = rewritten.contains(o.key()) ? Instant.now().plus(Duration.ofDays(1)) : Instant.EPOCH;
            return new ObjectInfo(o.key(), o.size(), when);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            return aged(delegate.stat(key));
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            List<ObjectInfo> out = new ArrayList<>();
            for (ObjectInfo o : delegate.list(prefix)) {
                out.add(aged(o));
            }
            return out;
        }

        @Override
        public void deleteAll(Collection<String> keys) throws IOException {
            if (target.get() == null) {
                Set<String> batch = new HashSet<>(keys);
                for (ObjectInfo o : delegate.list(LAYOUT.chunksPrefix())) {
                    if (!batch.contains(o.key())) {
                        target.set(o.key());
                        delegate.put(o.key(), ByteBuffer.wrap(new byte[] {1, 2, 3}));
                        rewritten.add(o.key());
                        break;
                    }
                }
            }
            for (String key : keys) {
                delegate.delete(key);
            }
        }
    }

    @Test
    void aChunkWrittenAgainWhileEarlierBatchesAreDeletedIsKept() throws Exception {
        int orphans = ChunkCatalog.DELETE_BATCH + ChunkCatalog.DELETE_BATCH / 2;
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            for (int i = 0; i < orphans; i++) {
                mem.put(LAYOUT.chunkKey(String.format(Locale.ROOT, "%032x", i + 1)), ByteBuffer.wrap(new byte[] {1, 2, 3}));
            }
            RewritingWriter store = new RewritingWriter(mem);
            StoreRef ref = new StoreRef("mem", "mem", store);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                GcReport report = admin.gc(ref, RUN, 2, Duration.ofMinutes(10), false);
                String kept = store.target.get();
                assertNotNull(kept, "the collection deleted in batches");
                assertEquals(List.of(kept), mem.list(LAYOUT.chunksPrefix()).stream().map(ObjectInfo::key).toList(),
                        "only the chunk written again during the collection is left");
                assertEquals(orphans - 1, report.chunksDeleted());
            }
        }
    }
}
