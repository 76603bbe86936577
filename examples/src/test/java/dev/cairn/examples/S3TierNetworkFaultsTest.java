package dev.cairn.examples;

import dev.cairn.testkit.TestBytes;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.testkit.FaultyTcpProxy;
import dev.cairn.testkit.FaultyTcpProxy.Fault;
import dev.cairn.testkit.FaultyTcpProxy.Schedule;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

/**
 * The engine over an S3 tier whose every request goes through {@link FaultyTcpProxy} in front of a real S3 server
 * on loopback (all faults: resets, stalls, half-open connections, slow links, truncated and corrupted answers, lost
 * acknowledgements). Several steps are saved with faults on: each save commits or fails with a
 * {@link CheckpointException} within the configured deadline. Each step that committed is restored with faults still on:
 * bit-exact or a {@link CheckpointException}. Then faults go off, and a new checkpointer through the same proxy and
 * one straight to the server each list every committed step and restore it bit-exact; a step whose save failed may
 * have committed anyway (its MANIFEST created, the answer lost), and then restores bit-exact too.
 */
class S3TierNetworkFaultsTest {
    private static final String RUN = "faulty-network";
    private static final int STEPS = 4;
    private static final int CHUNK = 4096;
    /** The engine's deadline per save. Generous: a save of many chunks meets several faults, each retried. */
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    /**
     * What a save may take beyond its deadline before the test calls it hung: a loaded 2-core machine delays timers and
     * threads by seconds (GC, the server's threads, other builds).
     */
    private static final Duration SLACK = Duration.ofSeconds(20);

    @Test
    void everySaveCommitsOrFailsInTimeAndEveryCommittedStepRestoresBitExact() throws Exception {
        Schedule schedule = Schedule.seeded(4242)
                .with(Fault.RESET, 0.03).with(Fault.STALL, 0.005).with(Fault.HALF_OPEN, 0.005).with(Fault.SLOW, 0.05)
                .with(Fault.TRUNCATE, 0.03).with(Fault.FLIP, 0.05).with(Fault.LOSE_RESPONSE, 0.03)
                .withWindow(2 * 1024).withStall(Duration.ofSeconds(2)).withBandwidth(256 * 1024);
        Map<Long, Map<String, byte[]>> saved = new TreeMap<>();
        List<Long> committed = new ArrayList<>();
        List<Long> failed = new ArrayList<>();
        List<Long> millisPerSave = new ArrayList<>();
        try (EmbeddedS3 s3 = EmbeddedS3.start();
             FaultyTcpProxy proxy = FaultyTcpProxy.inFrontOf(s3.endpoint(), schedule)) {
            try (S3ObjectStore store = new S3ObjectStore(s3Config(s3, proxy.httpEndpoint())
                    .deadline(Duration.ofSeconds(8)).attemptTimeout(Duration.ofSeconds(1))
                    .retries(8, Duration.ofMillis(5), Duration.ofMillis(100)).build());
                 Checkpointer cp = Checkpointer.open(config(store))) {
                for (long step = 1; step <= STEPS; step++) {
                    Map<String, byte[]> state = state(step);
                    saved.put(step, state);
                    long start = System.nanoTime();
                    try {
                        cp.save(step, toState(state)).done().get(DEADLINE.plus(SLACK).toMillis(), TimeUnit.MILLISECONDS);
                        committed.add(step);
                    } catch (ExecutionException e) {
                        assertInstanceOf(CheckpointException.class, e.getCause(), "step " + step + ": " + e);
                        failed.add(step);
                    } catch (TimeoutException e) {
                        fail("the save of step " + step + " did not end within its deadline and " + SLACK + ": "
                                + proxy.summary());
                    }
                    long millis = (System.nanoTime() - start) / 1_000_000;
                    millisPerSave.add(millis);
                    assertTrue(millis <= DEADLINE.plus(SLACK).toMillis(), "step " + step + " took " + millis + " ms");
                }
                System.out.println("committed " + committed + ", failed " + failed + ", ms per save " + millisPerSave
                        + "; " + proxy.summary());
                assertTrue(proxy.injected() > 0, "faults struck: " + proxy.summary());

                long restoring = System.nanoTime();
                for (long step : committed) {
                    try {
                        assertSame(saved.get(step), restore(cp, step), "step " + step + " restored under faults");
                    } catch (CheckpointException e) {
                        // allowed: the network may refuse a restore; it must never return wrong bytes
                    }
                }
                System.out.println("restores under faults: " + (System.nanoTime() - restoring) / 1_000_000 + " ms; "
                        + proxy.summary());
            }

            proxy.setEnabled(false);
            for (URI endpoint : List.of(proxy.httpEndpoint(), s3.endpoint())) {
                try (S3ObjectStore store = new S3ObjectStore(s3Config(s3, endpoint).build());
                     Checkpointer cp = Checkpointer.open(config(store))) {
                    List<Long> listed = cp.list().stream().map(CheckpointInfo::step).toList();
                    assertTrue(listed.containsAll(committed), "every committed step is there: " + listed + " via "
                            + endpoint + "; committed " + committed);
                    for (long step : listed) {
                        assertTrue(saved.containsKey(step), "step " + step + " was never saved");
                        assertSame(saved.get(step), restore(cp, step), "step " + step + " via " + endpoint);
                    }
                }
            }
        }
    }

    private static void assertSame(Map<String, byte[]> expected, Map<String, byte[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        for (Map.Entry<String, byte[]> e : expected.entrySet()) {
            assertArrayEquals(e.getValue(), actual.get(e.getKey()), what + ": " + e.getKey());
        }
    }

    private static Map<String, byte[]> restore(Checkpointer cp, long step) {
        RestoreResult r = cp.restore(RestoreRequest.step(step));
        Map<String, byte[]> out = new LinkedHashMap<>();
        for (Entry e : r.state().entries()) {
            int n = e.buffers().stream().mapToInt(ByteBuffer::remaining).sum();
            ByteBuffer all = ByteBuffer.allocate(n);
            e.buffers().forEach(b -> all.put(b.duplicate()));
            out.put(e.name(), all.array());
        }
        return out;
    }

    private static CairnConfig config(S3ObjectStore store) {
        return CairnConfig.builder(RUN)
                .tier(TierConfig.of("s3", store).keepLast(100))
                .chunkBytes(CHUNK)
                .encoderThreads(2)
                .stagingBytes(16L << 20)
                .deadline(DEADLINE)
                .build();
    }

    private static S3StoreConfig.Builder s3Config(EmbeddedS3 s3, URI endpoint) {
        return S3StoreConfig.builder(s3.bucket()).prefix("faults").endpoint(endpoint).region(EmbeddedS3.REGION)
                .credentials(s3.accessKey(), s3.secretKey());
    }

    /**
     * The state of {@code step}: a 64 KiB weight of which each step changes a few chunks (so steps share chunks), a
     * bias, the step counter and a blob.
     */
    private static Map<String, byte[]> state(long step) {
        Map<String, byte[]> s = new LinkedHashMap<>();
        byte[] weight = TestBytes.random(new SplittableRandom(1), 64 * 256 * 4);
        SplittableRandom changes = new SplittableRandom(step);
        for (int i = 0; i < 4; i++) {
            weight[changes.nextInt(weight.length)] = (byte) step;
        }
        s.put("layer.weight", weight);
        s.put("layer.bias", TestBytes.random(new SplittableRandom(100 + step), 256 * 4));
        s.put("step", ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(step).array());
        s.put("rng", TestBytes.random(new SplittableRandom(200 + step), 300));
        return s;
    }

    private static TrainingState toState(Map<String, byte[]> s) {
        return TrainingState.builder()
                .tensor("layer.weight", DType.F32, new long[] {64, 256}, direct(s.get("layer.weight")))
                .tensor("layer.bias", DType.F32, new long[] {256}, direct(s.get("layer.bias")))
                .tensor("step", DType.I64, new long[] {1}, direct(s.get("step")))
                .blob("rng", s.get("rng"))
                .build();
    }


    private static ByteBuffer direct(byte[] b) {
        return ByteBuffer.allocateDirect(b.length).order(ByteOrder.LITTLE_ENDIAN).put(b).flip();
    }
}
