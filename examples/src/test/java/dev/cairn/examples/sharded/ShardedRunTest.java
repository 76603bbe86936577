package dev.cairn.examples.sharded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.testkit.EmbeddedS3;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ranks of one run in separate JVMs on loopback: the peer-memory tier over Arrow Flight, a shared disk or S3 tier
 * (S3Proxy in this JVM), SIGKILLs, replacements, and restarts on other rank counts. Every figure of state is checked
 * against {@link ShardedModel#reference}, the same training computed in one process without any checkpoint.
 */
class ShardedRunTest {
    private static final Duration WAIT = Duration.ofMinutes(3);
    private static final Pattern RESTORED = Pattern.compile("restored (\\d+) tier=(\\S+) bytes=(\\S+) ms=(\\d+)");
    private final List<RankProcess> processes = new ArrayList<>();
    @TempDir
    Path dir;

    @AfterEach
    void killAll() throws InterruptedException {
        for (RankProcess p : processes) {
            p.close();
        }
    }

    @Test
    void fourRanksSurviveALostRankThenLostMemoryThenRestartOnTwoAndEightRanks() throws Exception {
        try (EmbeddedS3 s3 = EmbeddedS3.start()) {
            Map<String, String> env = Map.of("AWS_ACCESS_KEY_ID", s3.accessKey(), "AWS_SECRET_ACCESS_KEY", s3.secretKey());
            List<String> common = List.of("--run", "job", "--s3-endpoint", s3.endpoint().toString(), "--s3-bucket", s3.bucket(),
                    "--s3-every", "4");

            // Phase 1: four ranks train to step 8 and pause; rank 2 is killed; its replacement restores from peer memory.
            String peers = peers(4);
            List<RankProcess> ranks = new ArrayList<>();
            for (int r = 0; r < 4; r++) {
                ranks.add(start(common, "p1-rank" + r, env, "--rank", r, "--world", 4, "--peers", peers, "--steps", 12, "--pause-at", 8));
            }
            for (RankProcess p : ranks) {
                assertTrue(p.awaitLine("paused 8", WAIT).isPresent(), () -> "rank did not reach step 8: " + p.lines());
            }
            ranks.get(2).kill();
            RankProcess replacement = start(common, "p1-rank2-replacement", env, "--rank", 2, "--world", 4, "--peers", peers,
                    "--steps", 12, "--restore");
            Matcher restored = restored(replacement);
            assertEquals(8, Long.parseLong(restored.group(1)));
            assertEquals("peer", restored.group(2), "the lost rank's shard comes from its peers' memory");
            assertFalse(restored.group(3).contains("s3="), "nothing read from S3: " + restored.group(3));
            ranks.set(2, replacement);
            for (int r : new int[] {0, 1, 3}) {
                ranks.get(r).send("go");
            }
            expectDigests(ranks, 4, 12, 4);

            // Phase 2: every process is gone (all memory lost): four new ranks restore from S3 and go on.
            for (RankProcess p : ranks) {
                assertEquals(0, p.await(WAIT), () -> "rank failed: " + p.lines());
            }
            peers = peers(4);
            ranks.clear();
            for (int r = 0; r < 4; r++) {
                ranks.add(start(common, "p2-rank" + r, env, "--rank", r, "--world", 4, "--peers", peers, "--steps", 16, "--restore",
                        "--together"));
            }
            for (RankProcess p : ranks) {
                Matcher m = restored(p);
                assertEquals(12, Long.parseLong(m.group(1)));
                assertEquals("s3", m.group(2), "memory is gone: " + m.group(0));
            }
            expectDigests(ranks, 4, 16, 4);
            for (RankProcess p : ranks) {
                assertEquals(0, p.await(WAIT), () -> "rank failed: " + p.lines());
            }

            // Phase 3: the same checkpoint on 2 and on 8 ranks: every slice equals the global original.
            for (int world : new int[] {2, 8}) {
                peers = peers(world);
                ranks.clear();
                for (int r = 0; r < world; r++) {
                    ranks.add(start(common, "p3-w" + world + "-rank" + r, env, "--rank", r, "--world", world, "--peers", peers, "--verify",
                            "--together"));
                }
                for (RankProcess p : ranks) {
                    assertEquals(16, Long.parseLong(restored(p).group(1)));
                }
                expectDigests(ranks, world, 16, 4);
                for (RankProcess p : ranks) {
                    assertEquals(0, p.await(WAIT), () -> "rank failed: " + p.lines());
                }
            }
        }
    }

    @Test
    void aRankKilledInTheMiddleOfASaveNeverLeavesACommittedPartialCheckpoint() throws Exception {
        Random random = new Random();
        for (int round = 0; round < 3; round++) {
            String run = "partial" + round;
            Path disk = Files.createDirectories(dir.resolve("disk"));
            String peers = peers(2);
            // The deadline bounds how long rank 0 waits for the killed rank (each round pays it once); it must also cover
            // a cold first save of two JVMs on a busy 2-core machine: 3.6 s seen in CI failed this test at 4 s, and at a
            // load of 16-36 (other builds beside the suite) step 1 took over 10 s. 30 s leaves room for a machine
            // 3x slower than that; the assertions wait on events, never on it.
            List<String> common = List.of("--run", run, "--disk", disk.toString(), "--scale", "8", "--deadline-seconds", "30");
            RankProcess r0 = start(common, run + "-rank0", Map.of(), "--rank", 0, "--world", 2, "--peers", peers, "--steps", 40);
            RankProcess r1 = start(common, run + "-rank1", Map.of(), "--rank", 1, "--world", 2, "--peers", peers, "--steps", 40);
            assertTrue(r1.awaitLine("committed 2 ", WAIT).isPresent(), () -> "no commit: " + r1.lines());
            Thread.sleep(random.nextInt(400));
            r1.kill();
            r0.await(WAIT); // rank 0 gives up on the steps rank 1 never finished
            // Whatever is committed restores whole and equals the reference: no step is committed with a part missing.
            RankProcess check = start(List.of("--run", run, "--disk", disk.toString(), "--scale", "8"), run + "-check", Map.of(),
                    "--rank", 0, "--world", 1, "--peers", peers(1), "--verify");
            Matcher m = restored(check);
            long step = Long.parseLong(m.group(1));
            assertEquals("disk", m.group(2));
            assertTrue(step >= 2, m.group(0));
            ShardedModel reference = ShardedModel.reference(2, 8, step);
            for (String name : reference.tensorNames()) {
                String line = check.awaitLine("digest " + name + " ", WAIT).orElseThrow();
                assertEquals("digest " + name + " " + reference.digestOfSlice(name, reference.shardOf(name, 0, 1)), line,
                        "step " + step + " of round " + round);
            }
            assertEquals(0, check.await(WAIT));
        }
    }

    private void expectDigests(List<RankProcess> ranks, int world, long step, int savedWorld) throws Exception {
        ShardedModel reference = ShardedModel.reference(savedWorld, 1, step);
        for (int r = 0; r < world; r++) {
            RankProcess p = ranks.get(r);
            // Every rank's output on failure: a step one rank gives up on is decided by rank 0, whose reason is in its lines.
            assertTrue(p.awaitLine("done", WAIT).isPresent(), () -> "rank " + ranks.indexOf(p) + " did not finish: " + p.lines()
                    + "; every rank's last lines: " + ranks.stream().map(o -> o.lines().subList(Math.max(0, o.lines().size() - 12),
                    o.lines().size())).toList());
            for (String name : reference.tensorNames()) {
                String expected = "digest " + name + " " + reference.digestOfSlice(name, reference.shardOf(name, r, world));
                assertEquals(expected, p.awaitLine("digest " + name + " ", WAIT).orElseThrow(),
                        "rank " + r + " of " + world + " at step " + step);
            }
        }
    }

    private Matcher restored(RankProcess p) throws InterruptedException {
        String line = p.awaitLine("restored ", WAIT).orElseThrow(() -> new AssertionError("no restore: " + p.lines()));
        Matcher m = RESTORED.matcher(line);
        assertTrue(m.matches(), line);
        return m;
    }

    private RankProcess start(List<String> common, String name, Map<String, String> env, Object... args) throws IOException {
        List<String> all = new ArrayList<>(common);
        for (Object a : args) {
            all.add(String.valueOf(a));
        }
        Path logs = Files.createDirectories(Path.of("target", "sharded-logs"));
        RankProcess p = RankProcess.start(all, logs.resolve(name + ".log"), env);
        processes.add(p);
        return p;
    }

    private static String peers(int n) throws IOException {
        return RankProcess.peersArgument(RankProcess.freeLoopbackAddresses(n));
    }
}
