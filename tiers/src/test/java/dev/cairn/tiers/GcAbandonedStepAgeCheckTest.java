package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointAdmin;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.StoreRef;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * The files of a step that never committed (no MANIFEST) are deleted only if they are still old just before the delete,
 * as chunks are: a rank index written again under the same key after the collection listed the steps belongs to a save
 * that goes on. Before, they were deleted by the keys listed, with the ages the listing gave.
 */
class GcAbandonedStepAgeCheckTest {
    private static final String RUN = "abandoned-age";
    private static final StoreLayout LAYOUT = new StoreLayout(RUN);

    /**
     * Says every object was written long ago (no test waits out a grace period), except those written again during the
     * collection, which it says were written in the future. Right after the collection lists the steps, a writer writes
     * the partial step's rank index again.
     */
    private static final class RewritingWriter extends ForwardingObjectStore {
        final Set<String> rewritten = ConcurrentHashMap.newKeySet();
        final String index = LAYOUT.indexKey(5, 0);

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
            if (prefix.equals(LAYOUT.stepsPrefix()) && rewritten.add(index)) {
                delegate.put(index, ByteBuffer.wrap(new byte[] {4, 5, 6})); // after the listing, before any delete
            }
            return out;
        }
    }

    @Test
    void aPartialStepsIndexWrittenAgainAfterTheListingIsKept() throws Exception {
        try (MemoryObjectStore mem = new MemoryObjectStore(64L << 20)) {
            RewritingWriter store = new RewritingWriter(mem);
            mem.put(store.index, ByteBuffer.wrap(new byte[] {1, 2, 3}));
            StoreRef ref = new StoreRef("mem", "mem", store);
            try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(ref))) {
                GcReport report = admin.gc(ref, RUN, 2, Duration.ofMinutes(10), false);
                assertTrue(store.rewritten.contains(store.index), "the index was written again after the listing");
                assertEquals(3, mem.stat(store.index).size(), "the index written again is kept");
                assertEquals(List.of(), report.stepsAbandoned());
            }
        }
    }
}
