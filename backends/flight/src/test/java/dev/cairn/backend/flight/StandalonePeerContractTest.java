package dev.cairn.backend.flight;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.ObjectStoreContract;

/** The contract for a group of one: a peer that serves its memory and has nobody to replicate to. */
class StandalonePeerContractTest extends ObjectStoreContract {
    @Override
    protected ObjectStore newStore() throws Exception {
        return PeerMemoryStore.start(PeerGroup.defaults(0, 1).build());
    }
}
