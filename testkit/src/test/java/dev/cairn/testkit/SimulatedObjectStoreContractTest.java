package dev.cairn.testkit;

import dev.cairn.ObjectStore;

/** The simulated store with every payload kept, S3's rates and its typical latencies passes the whole contract. */
class SimulatedObjectStoreContractTest extends ObjectStoreContract {

    @Override
    protected ObjectStore newStore() {
        return SimulatedObjectStore.builder().build();
    }
}
