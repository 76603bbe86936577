package dev.cairn.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A million chunks without payloads fit in a small heap. Memory, not time, is what this checks: the child JVM's
 * limit is the assertion, and the wait below only turns a hang into a failure.
 */
class SimulatedObjectStoreMemoryTest {
    private static final int RANKS = 1000;
    private static final int CHUNKS_PER_RANK = 1000;

    @Test
    void aMillionChunksWithoutPayloadsFitInHalfAGigabyteOfHeap() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx512m", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), Child.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the child did not finish: " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("objects 1000000 heads 1000000 puts 1000000 slowdowns 0"), out);
        System.out.println(out.strip());
    }

    /**
     * A thousand ranks side by side in simulated time, played one after another, each asking which of its thousand
     * chunks the store holds (statAll: none) and then writing them. The chunks are a few hundred bytes with a payload
     * limit below that: what a dropped payload leaves behind does not depend on its size, and hashing 4 MiB a chunk
     * would only make the test slow.
     */
    public static final class Child {
        public static void main(String[] args) throws IOException {
            ByteBuffer chunk = ByteBuffer.allocateDirect(300);
            try (SimulatedObjectStore store = SimulatedObjectStore.builder().dropPayloadsAbove(256).build()) {
                SimulatedClock clock = store.clock();
                List<String> keys = new ArrayList<>(CHUNKS_PER_RANK);
                for (int rank = 0; rank < RANKS; rank++) {
                    clock.setNow(0);
                    keys.clear();
                    for (int c = 0; c < CHUNKS_PER_RANK; c++) {
                        keys.add(chunkKey((long) rank * CHUNKS_PER_RANK + c));
                    }
                    if (!store.statAll(keys).isEmpty()) {
                        throw new IllegalStateException("rank " + rank + " found chunks it had not written");
                    }
                    for (int c = 0; c < CHUNKS_PER_RANK; c++) {
                        chunk.putLong(0, (long) rank * CHUNKS_PER_RANK + c);
                        store.put(keys.get(c), chunk);
                    }
                }
                RequestStats stats = store.stats();
                Runtime runtime = Runtime.getRuntime();
                System.gc();
                long used = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
                System.out.printf("objects %d heads %d puts %d slowdowns %d%n", store.objectCount(),
                        stats.requests(RequestKind.HEAD), stats.requests(RequestKind.PUT), stats.totalSlowDowns());
                System.out.printf("heap used after GC %d MiB of at most %d MiB: %d bytes an object; simulated %.1f s%n",
                        used >> 20, runtime.maxMemory() >> 20, used / store.objectCount(), clock.latest() / 1e9);
            }
        }

        /** A key as the engine names a chunk: {@code run/chunks/<2 hex>/<32 hex>}. */
        private static String chunkKey(long id) {
            String hash = hex(ContentHash.finish(id)) + hex(ContentHash.finish(~id));
            return "run/chunks/" + hash.substring(0, 2) + "/" + hash;
        }

        private static String hex(long value) {
            String digits = Long.toHexString(value);
            return "0".repeat(16 - digits.length()) + digits;
        }
    }
}
