package dev.cairn.spark;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.examples.sharded.ShardedModel;
import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.apache.spark.BarrierTaskContext;
import scala.Function1;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The body of one barrier task: rank {@code partition} of the stage trains its share of {@link ShardedModel}, saving
 * every step to a shared disk tier and every second step to S3, after restoring the newest committed step if there is
 * one. Answers lines {@code "<rank> attempt <a>"}, {@code "<rank> restored <step> <tier>"} and
 * {@code "<rank> digest <tensor> <hex>"}.
 *
 * <p>A task chosen to fail (rank {@link #failingRank}, stage attempt 0, at step {@link #failAtStep}) calls
 * {@code save} for that step and, with the save in flight, leaves the task by an exception without closing its
 * checkpointer or its stores: as a lost task's process would, it stops taking part, and what its threads still do
 * (persisting the step, waiting at a barrier that never completes) goes on beside the retried stage, like a task of a
 * lost executor that is not quite dead. A JVM kill is not an option in local mode, where the tasks run in the driver's
 * JVM.
 */
final class ShardedTrainingTask implements Function1<Iterator<Integer>, Iterator<String>>, Serializable {
    private static final long serialVersionUID = 1L;
    /** The checkpointers and stores that failed tasks abandoned, closed by the test when it ends. */
    static final List<AutoCloseable> ABANDONED = new CopyOnWriteArrayList<>();
    static final Duration DEADLINE = Duration.ofSeconds(60);

    final String run;
    final String disk;
    final String s3Endpoint;
    final String s3Bucket;
    final String s3AccessKey;
    final String s3SecretKey;
    final int scale;
    /** Train up to this step; 0: only restore and report. */
    final long steps;
    final int failingRank;
    final long failAtStep;
    final boolean diskTier;

    ShardedTrainingTask(String run, String disk, String s3Endpoint, String s3Bucket, String s3AccessKey, String s3SecretKey,
                        int scale, long steps, int failingRank, long failAtStep, boolean diskTier) {
        this.run = run;
        this.disk = disk;
        this.s3Endpoint = s3Endpoint;
        this.s3Bucket = s3Bucket;
        this.s3AccessKey = s3AccessKey;
        this.s3SecretKey = s3SecretKey;
        this.scale = scale;
        this.steps = steps;
        this.failingRank = failingRank;
        this.failAtStep = failAtStep;
        this.diskTier = diskTier;
    }

    @Override
    public Iterator<String> apply(Iterator<Integer> partition) {
        try {
            return CollectionConverters.asScala(train().iterator());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private List<String> train() throws IOException, InterruptedException {
        BarrierTaskContext task = BarrierTaskContext.get();
        SparkBarrierCoordinator ranks = SparkBarrierCoordinator.forCurrentTask();
        int rank = ranks.rank();
        boolean failing = rank == failingRank && task.stageAttemptNumber() == 0;
        List<AutoCloseable> open = new ArrayList<>();
        open.add(ranks);
        List<String> out = new ArrayList<>();
        out.add(rank + " attempt " + task.stageAttemptNumber());
        boolean abandoned = false;
        try {
            CairnConfig.Builder config = CairnConfig.builder(run).rank(rank, ranks.worldSize()).coordinator(ranks)
                    .chunkBytes(1 << 20).encoderThreads(1).stagingBytes(16L << 20).deadline(DEADLINE).gcGrace(DEADLINE.multipliedBy(3));
            if (diskTier) {
                FileSystemObjectStore fs = new FileSystemObjectStore(Path.of(disk));
                open.add(fs);
                config.tier(TierConfig.of("disk", fs).keepLast(2));
            }
            S3ObjectStore s3 = new S3ObjectStore(S3StoreConfig.builder(s3Bucket).region("us-east-1").prefix("spark")
                    .endpoint(URI.create(s3Endpoint)).credentials(s3AccessKey, s3SecretKey).build());
            open.add(s3);
            config.tier(TierConfig.of("s3", s3).everySteps(2).keepLast(2));
            Checkpointer cp = Checkpointer.open(config.build());
            open.add(cp);

            ShardedModel model = new ShardedModel(rank, ranks.worldSize(), scale);
            try {
                // Every task of the barrier stage restores: they agree on one step.
                RestoreResult r = cp.restore(RestoreRequest.latest().into(model.targets()).together()
                        .onRankBlobs((name, saved, savedWorld, me, world) -> saved.get(me % savedWorld)));
                model.restored(r.state());
                out.add(rank + " restored " + r.step() + " " + r.tier());
            } catch (CheckpointException e) {
                if (e.reason() != CheckpointException.Reason.NOT_FOUND) {
                    throw e;
                }
                out.add(rank + " restored 0 none");
            }
            List<CheckpointHandle> pending = new ArrayList<>();
            while (model.currentStep() < steps) {
                if (task.isInterrupted()) { // Spark killed the stage attempt (another task failed): stop, as Spark asks
                    throw new IllegalStateException("rank " + rank + ": task killed by Spark");
                }
                model.step();
                long step = model.currentStep();
                CheckpointHandle h = cp.save(step, model.state());
                pending.add(h);
                if (failing && step == failAtStep) {
                    abandoned = true;
                    throw new IllegalStateException("rank " + rank + " of stage attempt 0 lost in the middle of saving step "
                            + step + " (injected by the test)");
                }
                // As when a step's compute outlasts its save: the next step starts once this one is on disk.
                h.committed(h.tiers().get(0)).get(DEADLINE.toSeconds() * 2, TimeUnit.SECONDS);
            }
            for (CheckpointHandle h : pending) {
                h.done().get(DEADLINE.toSeconds() * 2, TimeUnit.SECONDS);
            }
            model.digests().forEach((name, hex) -> out.add(rank + " digest " + name + " " + hex));
            return out;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("rank " + rank + ": a save failed: " + e, e);
        } finally {
            if (abandoned) {
                ABANDONED.addAll(open);
            } else {
                closeAll(open);
            }
        }
    }

    /** Closes the checkpointer first, then its stores, then the coordinator (reverse order of opening). */
    static void closeAll(List<AutoCloseable> open) {
        for (int i = open.size() - 1; i >= 0; i--) {
            try {
                open.get(i).close();
            } catch (Exception e) {
                // Closing what a finished or failed task used: nothing to report beyond the task's own outcome.
            }
        }
    }
}
