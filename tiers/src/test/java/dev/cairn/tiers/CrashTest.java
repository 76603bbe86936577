package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 at random moments: a child JVM saves in a loop (capture, encode, write, commit, GC) and is killed with
 * SIGKILL; after each kill the newest committed step restores bit-exact and no partial checkpoint is listed. The
 * next child continues on the same directory, over whatever the dead one left behind.
 */
class CrashTest {
    static final int TRIALS = Integer.getInteger("crash.trials", 50);

    @TempDir
    Path dir;

    @Test
    void restoresNewestCommittedStepAfterSigkillAtRandomMoments() throws Exception {
        Random random = new Random(42);
        Map<String, Integer> killedDuring = new TreeMap<>();
        long lastReported = 0;
        for (int trial = 0; trial < TRIALS; trial++) {
            Process child = start();
            AtomicReference<String> lastLine = new AtomicReference<>("starting");
            java.util.concurrent.CountDownLatch ready = new java.util.concurrent.CountDownLatch(1);
            // Kill after a random number of commits of this child, then a random moment into the next save: driven
            // by the child's progress, not by wall time, so a loaded machine shifts nothing.
            int commitsBeforeKill = random.nextInt(3);
            java.util.concurrent.CountDownLatch committedEnough = new java.util.concurrent.CountDownLatch(commitsBeforeKill);
            List<String> reported = new ArrayList<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        lastLine.set(line);
                        if (line.startsWith("ready")) {
                            ready.countDown();
                        }
                        if (line.startsWith("committed")) {
                            committedEnough.countDown();
                        }
                        synchronized (reported) {
                            reported.add(line);
                        }
                    }
                } catch (java.io.IOException ignored) {
                    // the child died
                }
            });
            reader.start();
            // Wait until the child has opened its stores, then let it run a random while before the kill.
            ready.await(30, TimeUnit.SECONDS);
            if (!child.isAlive()) {
                throw new AssertionError("child died by itself: " + new String(child.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
            }
            committedEnough.await(60, TimeUnit.SECONDS);
            Thread.sleep(random.nextInt(150));
            String phase = lastLine.get().split(" ")[0];
            child.destroyForcibly();
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));
            reader.join(10_000);
            killedDuring.merge(phase, 1, Integer::sum);
            synchronized (reported) {
                for (String line : reported) {
                    if (line.startsWith("committed ")) {
                        lastReported = Math.max(lastReported, Long.parseLong(line.substring(10)));
                    }
                }
            }
            verify(lastReported);
        }
        System.out.println("CrashTest: " + TRIALS + " kills, last line seen before each kill: " + killedDuring);
        assertTrue(killedDuring.getOrDefault("saving", 0) + killedDuring.getOrDefault("captured", 0) > 5,
                "kills landed while saves were in flight: " + killedDuring);
        assertTrue(killedDuring.size() >= 2, "kills landed in several phases: " + killedDuring);
    }

    private void verify(long lastReported) throws Exception {
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(CrashChild.config(dir, disk, null))) {
            List<CheckpointInfo> listed = cp.list();
            if (lastReported == 0 && listed.isEmpty()) {
                return;
            }
            assertTrue(!listed.isEmpty(), "a step was reported committed but none is listed");
            for (CheckpointInfo info : listed) {
                RestoreResult r = cp.restore(RestoreRequest.step(info.step()));
                Fixtures.assertSameState(CrashChild.state(info.step()), r.state());
            }
            long newest = listed.get(0).step();
            assertTrue(newest >= lastReported, "newest listed " + newest + " is older than reported commit " + lastReported);
            RestoreResult latest = cp.restore(RestoreRequest.latest());
            assertEquals(newest, latest.step());
        }
    }

    private Process start() throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        return new ProcessBuilder(java, "--add-opens=java.base/java.nio=ALL-UNNAMED", "-Xmx512m", "-XX:MaxDirectMemorySize=1g", "-XX:+UseSerialGC",
                "-cp", System.getProperty("java.class.path"), CrashChild.class.getName(), dir.toString())
                .redirectErrorStream(false).start();
    }
}
