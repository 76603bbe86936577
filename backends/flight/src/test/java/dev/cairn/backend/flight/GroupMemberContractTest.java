package dev.cairn.backend.flight;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.IOException;

/**
 * The contract through one member of a group of three on loopback, replicating to the next one (k=1): the
 * member's own objects are local, and every read miss, listing, delete and create-if-absent asks the others.
 */
class GroupMemberContractTest extends ObjectStoreContract {
    @Override
    protected ObjectStore newStore() throws Exception {
        PeerGroup group = PeerGroup.start(3);
        return new ForwardingObjectStore(group.peer(0)) {
            @Override
            public void close() throws IOException {
                group.close();
            }
        };
    }
}
