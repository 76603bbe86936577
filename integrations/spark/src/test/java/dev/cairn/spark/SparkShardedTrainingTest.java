package dev.cairn.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.examples.sharded.ShardedModel;
import dev.cairn.testkit.EmbeddedS3;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The sharded model of the examples trained by the 4 tasks of a Spark barrier stage in {@code local[4]}, checkpointed
 * to a shared disk tier and to S3 (S3Proxy in this JVM) through {@link SparkBarrierCoordinator}. One task is lost in
 * the middle of a save; Spark retries the whole stage, whose tasks restore the newest committed step and finish with
 * exactly the parameters of the uninterrupted training ({@link ShardedModel#reference}, the same training computed
 * in one process without any checkpoint). The checkpoint then restores from S3 on a stage of 2 tasks.
 */
class SparkShardedTrainingTest {
    private static final int SCALE = 1;
    private static final long STEPS = 8;
    @TempDir
    Path dir;

    /**
     * The lost task's coordinator first: its save still waits at a barrier of the failed attempt that Spark will never
     * complete, and closing the coordinator ends that wait at once instead of at the Cairn deadline.
     */
    @AfterEach
    void closeAbandoned() {
        List<AutoCloseable> coordinatorsLast = new ArrayList<>();
        ShardedTrainingTask.ABANDONED.stream().filter(c -> !(c instanceof SparkBarrierCoordinator)).forEach(coordinatorsLast::add);
        ShardedTrainingTask.ABANDONED.stream().filter(c -> c instanceof SparkBarrierCoordinator).forEach(coordinatorsLast::add);
        ShardedTrainingTask.closeAll(coordinatorsLast); // closes from the end of the list
        ShardedTrainingTask.ABANDONED.clear();
    }

    @Test
    void aStageRetriedAfterALostTaskResumesFromTheNewestCommitAndTheCheckpointRestoresOnTwoTasks() throws Exception {
        long seed = Long.getLong("spark.test.seed", System.nanoTime());
        Random random = new Random(seed);
        int failingRank = random.nextInt(4);
        long failAt = 3 + random.nextInt((int) STEPS - 3); // 3..STEPS-1: steps committed before it, steps to train after
        String why = "seed " + seed + " (rank " + failingRank + " lost while saving step " + failAt + ")";

        SparkConf conf = new SparkConf().setMaster("local[4]").setAppName("cairn-spark-test")
                .set("spark.ui.enabled", "false")
                .set("spark.driver.host", "127.0.0.1")
                .set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.local.dir", dir.resolve("spark").toString())
                // A barrier stage that fails is retried whole, up to this many attempts in a row.
                .set("spark.stage.maxConsecutiveAttempts", "4")
                // Above the Cairn deadline: Cairn's own timeout is the one that names a rank that never came.
                .set("spark.barrier.sync.timeout", "600s");
        try (EmbeddedS3 s3 = EmbeddedS3.start(); JavaSparkContext spark = new JavaSparkContext(conf)) {
            spark.setLogLevel("WARN");
            String disk = dir.resolve("disk").toString();

            List<String> trained = runBarrierStage(spark, 4, new ShardedTrainingTask("job", disk, s3.endpoint().toString(),
                    s3.bucket(), s3.accessKey(), s3.secretKey(), SCALE, STEPS, failingRank, failAt, true));

            Map<Integer, List<String>> byRank = byRank(trained, 4);
            for (int r = 0; r < 4; r++) {
                List<String> lines = byRank.get(r);
                assertEquals(r + " attempt 1", line(lines, " attempt "), why + ": the stage ran again after the lost task");
                String restoredLine = line(lines, " restored ");
                long restored = Long.parseLong(restoredLine.split(" ")[2]);
                // failAt - 1 was committed on disk before the loss (every task waits for it); failAt may have been
                // committed too, by the tasks still there and the lost task's threads.
                assertTrue(restored == failAt - 1 || restored == failAt, why + ": rank " + r + " " + restoredLine);
                assertEquals(line(byRank.get(0), " restored ").split(" ")[2], restoredLine.split(" ")[2],
                        why + ": every rank restores one step");
            }
            System.out.println(why + ": the retried stage restored " + line(byRank.get(0), " restored "));
            ShardedModel reference = ShardedModel.reference(4, SCALE, STEPS);
            expectDigests(byRank, reference, 4, why);

            // The same checkpoint, from S3 alone, on 2 tasks: each gets its slices of the 4 tasks' model.
            List<String> resharded = runBarrierStage(spark, 2, new ShardedTrainingTask("job", disk, s3.endpoint().toString(),
                    s3.bucket(), s3.accessKey(), s3.secretKey(), SCALE, 0, -1, -1, false));
            Map<Integer, List<String>> two = byRank(resharded, 2);
            for (int r = 0; r < 2; r++) {
                assertEquals(r + " restored " + STEPS + " s3", line(two.get(r), " restored "), why);
            }
            expectDigests(two, reference, 2, why);
        }
    }

    /**
     * Runs {@code task} as a barrier stage of {@code tasks} tasks and collects its lines. A shuffle follows it, so that
     * it is a shuffle map stage: Spark retries a failed barrier stage of that kind whole, and aborts the job for a
     * failed barrier result stage.
     */
    private static List<String> runBarrierStage(JavaSparkContext spark, int tasks, ShardedTrainingTask task) {
        ClassTag<String> lines = ClassTag$.MODULE$.apply(String.class);
        JavaRDD<Integer> partitions = spark.parallelize(IntStream.range(0, tasks).boxed().toList(), tasks);
        RDD<String> trained = partitions.rdd().barrier().mapPartitions(task, false, lines);
        return new ArrayList<>(JavaRDD.fromRDD(trained, lines).repartition(1).collect());
    }

    private static String line(List<String> lines, String containing) {
        return lines.stream().filter(l -> l.contains(containing)).findFirst()
                .orElseThrow(() -> new AssertionError("no line with '" + containing + "' in " + lines));
    }

    private static Map<Integer, List<String>> byRank(List<String> lines, int world) {
        Map<Integer, List<String>> out = new TreeMap<>(lines.stream().collect(Collectors.groupingBy(
                l -> Integer.parseInt(l.substring(0, l.indexOf(' '))), Collectors.toList())));
        assertEquals(world, out.size(), "lines of every rank: " + lines);
        return out;
    }

    private static void expectDigests(Map<Integer, List<String>> byRank, ShardedModel reference, int world, String why) {
        for (int r = 0; r < world; r++) {
            for (String name : reference.tensorNames()) {
                String expected = r + " digest " + name + " " + reference.digestOfSlice(name, reference.shardOf(name, r, world));
                assertTrue(byRank.get(r).contains(expected), why + ": rank " + r + " of " + world + " expected " + expected
                        + " in " + byRank.get(r));
            }
        }
    }
}
