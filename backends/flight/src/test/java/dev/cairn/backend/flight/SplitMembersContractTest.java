package dev.cairn.backend.flight;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;

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

    /** Writes to {@code writer}, reads from {@code reader}. */
    private static final class Split implements ObjectStore {
        private final PeerGroup group;
        private final PeerMemoryStore writer;
        private final PeerMemoryStore reader;

        Split(PeerGroup group, PeerMemoryStore writer, PeerMemoryStore reader) {
            this.group = group;
            this.writer = writer;
            this.reader = reader;
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
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            return reader.read(key, offset, dst);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            return reader.stat(key);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            return reader.list(prefix);
        }

        @Override
        public void delete(String key) throws IOException {
            writer.delete(key);
        }

        @Override
        public String describe() {
            return "writes to " + writer.describe() + ", reads from " + reader.describe();
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
