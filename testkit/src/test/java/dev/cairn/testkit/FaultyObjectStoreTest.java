package dev.cairn.testkit;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.testkit.FaultyObjectStore.Faults;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class FaultyObjectStoreTest {

    @Test
    void withoutFaultsItPassesEveryCallThrough() throws IOException {
        try (FaultyObjectStore store = new FaultyObjectStore(new HeapStore(), Faults.none(1))) {
            store.put("a", bytes("alpha"));
            assertTrue(store.putIfAbsent("b", bytes("beta")));
            assertFalse(store.putIfAbsent("b", bytes("other")));
            assertEquals("alpha", string(store.readAll("a")));
            assertEquals(List.of("a", "b"), store.list("").stream().map(ObjectInfo::key).toList());
            store.delete("a");
            assertThrows(NoSuchFileException.class, () -> store.stat("a"));
            assertEquals(0, store.errors() + store.throttles() + store.truncations() + store.lostAcknowledgements());
        }
    }

    @Test
    void aLostAcknowledgementAppliesTheWriteAndThenFails() throws IOException {
        HeapStore real = new HeapStore();
        try (FaultyObjectStore store = new FaultyObjectStore(real, Faults.none(2).withLostAcknowledgements(1))) {
            assertThrows(FaultyObjectStore.LostAcknowledgementException.class, () -> store.put("k", bytes("v")));
            assertThrows(FaultyObjectStore.LostAcknowledgementException.class, () -> store.putIfAbsent("m", bytes("w")));
            assertEquals("v", string(real.readAll("k")));
            assertEquals("w", string(real.readAll("m")));
            assertEquals(2, store.lostAcknowledgements());
        }
    }

    @Test
    void injectedErrorsAndThrottlingNeverReachTheStore() throws IOException {
        HeapStore real = new HeapStore();
        try (FaultyObjectStore errors = new FaultyObjectStore(real, Faults.none(3).withErrors(1));
             FaultyObjectStore throttled = new FaultyObjectStore(real, Faults.none(3).withThrottling(1))) {
            assertThrows(FaultyObjectStore.InjectedFailureException.class, () -> errors.put("k", bytes("v")));
            assertThrows(FaultyObjectStore.ThrottledException.class, () -> throttled.put("k", bytes("v")));
            assertEquals(List.of(), real.list(""));
            errors.setEnabled(false);
            errors.put("k", bytes("v"));
            assertEquals("v", string(real.readAll("k")));
        }
    }

    @Test
    void truncatedReadsReturnAtLeastOneByteAndLeaveTheLimitAlone() throws IOException {
        try (FaultyObjectStore store = new FaultyObjectStore(new HeapStore(), Faults.none(4).withTruncatedReads(1))) {
            store.put("k", ByteBuffer.wrap(new byte[1000]));
            ByteBuffer dst = ByteBuffer.allocate(1000);
            int n = store.read("k", 0, dst);
            assertTrue(n >= 1 && n < 1000, "read " + n);
            assertEquals(n, dst.position());
            assertEquals(1000, dst.limit());
            assertEquals(1, store.truncations());
        }
    }

    @Test
    void theSameSeedGivesTheSameFaults() throws IOException {
        assertEquals(outcomes(42), outcomes(42));
        assertFalse(outcomes(42).equals(outcomes(43)), "another seed, other faults");
    }

    @Test
    void latencyIsAddedUpToItsBound() throws IOException {
        try (FaultyObjectStore store = new FaultyObjectStore(new HeapStore(), Faults.none(5).withLatency(Duration.ofMillis(20)))) {
            long start = System.nanoTime();
            for (int i = 0; i < 10; i++) {
                store.put("k" + i, bytes("v"));
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            // the upper bound only shows the latency is bounded; it leaves a busy machine 50x the injected 200 ms
            assertTrue(millis >= 20 && millis < 10_000, millis + " ms for 10 puts of up to 20 ms");
        }
    }

    @Test
    void ratesOutsideZeroToOneAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Faults.none(1).withErrors(1.5));
        assertThrows(IllegalArgumentException.class, () -> Faults.none(1).withThrottling(-0.1));
        assertThrows(IllegalArgumentException.class, () -> Faults.none(1).withLatency(Duration.ofMillis(-1)));
    }

    private static List<String> outcomes(long seed) throws IOException {
        List<String> outcomes = new ArrayList<>();
        try (FaultyObjectStore store = new FaultyObjectStore(new HeapStore(),
                Faults.none(seed).withErrors(0.3).withThrottling(0.2).withLostAcknowledgements(0.2))) {
            for (int i = 0; i < 100; i++) {
                try {
                    store.put("k" + i, bytes("v"));
                    outcomes.add("ok");
                } catch (IOException e) {
                    outcomes.add(e.getClass().getSimpleName());
                }
            }
        }
        return outcomes;
    }

    private static ByteBuffer bytes(String s) {
        return ByteBuffer.wrap(s.getBytes(UTF_8));
    }

    private static String string(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.duplicate().get(bytes);
        return new String(bytes, UTF_8);
    }

    /** The smallest correct store, to wrap. */
    private static final class HeapStore implements ObjectStore {
        private final Map<String, byte[]> objects = new TreeMap<>();

        @Override
        public synchronized void put(String key, ByteBuffer data) {
            byte[] copy = new byte[data.remaining()];
            data.duplicate().get(copy);
            objects.put(key, copy);
        }

        @Override
        public synchronized boolean putIfAbsent(String key, ByteBuffer data) {
            if (objects.containsKey(key)) {
                return false;
            }
            put(key, data);
            return true;
        }

        @Override
        public synchronized int read(String key, long offset, ByteBuffer dst) throws IOException {
            byte[] object = object(key);
            if (offset >= object.length) {
                return 0;
            }
            int n = (int) Math.min(dst.remaining(), object.length - offset);
            dst.put(object, (int) offset, n);
            return n;
        }

        @Override
        public synchronized ObjectInfo stat(String key) throws IOException {
            return new ObjectInfo(key, object(key).length, Instant.EPOCH);
        }

        @Override
        public synchronized List<ObjectInfo> list(String prefix) {
            List<ObjectInfo> found = new ArrayList<>();
            objects.forEach((key, value) -> {
                if (key.startsWith(prefix)) {
                    found.add(new ObjectInfo(key, value.length, Instant.EPOCH));
                }
            });
            return found;
        }

        @Override
        public synchronized void delete(String key) {
            objects.remove(key);
        }

        @Override
        public String describe() {
            return "heap";
        }

        @Override
        public void close() {
        }

        private byte[] object(String key) throws NoSuchFileException {
            byte[] object = objects.get(key);
            if (object == null) {
                throw new NoSuchFileException(key);
            }
            return object;
        }
    }
}
