package dev.cairn.tiers;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;

/**
 * A store in this process's memory that the engine takes for a shared one ({@link #inMemory} false), so that a
 * large world's metadata reads and looks are paced as against S3; closing it leaves the wrapped store to the test.
 * Tests extend it to count or watch requests.
 */
class SharedMemoryStore extends ForwardingObjectStore {
    SharedMemoryStore(ObjectStore store) {
        super(store);
    }

    @Override
    public boolean inMemory() {
        return false;
    }

    @Override
    public void close() {
        // the wrapped store is closed by the test
    }
}
