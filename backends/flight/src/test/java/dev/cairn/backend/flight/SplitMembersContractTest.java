package dev.cairn.backend.flight;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.ForwardingObjectStore;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * The contract with writes through one member of a group of three and reads, stats and listings through another
 * that is not its replica target, so every read is served over Flight by the writer. A write returns once the
 * writer's replication is idle, so that a replaced object reads as its newest version everywhere (replication is
 * asynchronous by design; a reader elsewhere sees a replacement once it has arrived).
 */
class SplitMembersContractTest extends ObjectStoreContract {
    @Override
    protected ObjectStore newStore() throws Exception {
        PeerGroup group = PeerGroup.start(3);
        return new Split(group, group.peer(0), group.peer(2));
    }

    /** Writes to {@code writer}; reads, stats and listings go to {@code reader}, the forwarded delegate. */
    private static final class Split extends ForwardingObjectStore {
        private final PeerGroup group;
        private final PeerMemoryStore writer;

        Split(PeerGroup group, PeerMemoryStore writer, PeerMemoryStore reader) {
            super(reader);
            this.group = group;
            this.writer = writer;
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            writer.put(key, data);
            replicated();
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            boolean created = writer.putIfAbsent(key, data);
            replicated();
            return created;
        }

        @Override
        public void delete(String key) throws IOException {
            writer.delete(key);
        }

        @Override
        public String describe() {
            return "writes to " + writer.describe() + ", reads from " + delegate.describe();
        }

        @Override
        public void close() throws IOException {
            group.close();
        }

        private void replicated() throws IOException {
            try {
                if (!writer.awaitReplication(Duration.ofSeconds(30))) {
                    throw new IOException("replication did not finish: " + writer.metrics());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException();
            }
        }
    }
}
