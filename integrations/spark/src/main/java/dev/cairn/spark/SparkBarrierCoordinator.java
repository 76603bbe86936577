package dev.cairn.spark;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.TaskContext;
import org.apache.spark.util.TaskCompletionListener;

/**
 * A {@link Coordinator} for the ranks of a Spark barrier stage ({@code rdd.barrier().mapPartitions(...)}): rank
 * {@code r} of {@code w} is the stage's partition {@code r} of {@code w}, and ranks meet through Spark's
 * {@link BarrierTaskContext#allGather}, so a multi-rank commit asks the store nothing until rank 0 reads the indexes.
 * Open one per task, inside the task, and close it when the task ends (a task that ends closes it too):
 * <pre>
 * try (SparkBarrierCoordinator ranks = SparkBarrierCoordinator.forCurrentTask();
 *      Checkpointer cp = Checkpointer.open(CairnConfig.builder("job").rank(ranks.rank(), ranks.worldSize())
 *              .coordinator(ranks).tier(...).build())) { ... }
 * </pre>
 *
 * <h2>Named barriers over one sequence of rounds</h2>
 * Spark's barrier is one sequence per task: every task must make the same calls in the same order, one at a time. The
 * engine's barriers are named and concurrent (several steps and tiers commit at once, on several threads, in an order
 * that differs between ranks), so they cannot map one to one onto Spark's calls. Instead one thread per task runs
 * rounds of {@code allGather} while any barrier of this task is awaited: each task sends the names it awaits (with
 * each name's token), and every name that all tasks sent in a round is passed, on every task alike, since they all
 * see the same gathered messages. A task that awaits nothing sends nothing and holds the others' round until it
 * awaits a barrier itself, which it must before they can pass anyway. Rounds are ordinary Spark barrier calls: Spark
 * checks every second whether its task was killed, so a round takes about a second when a task is not yet there.
 *
 * <p>Every other Spark barrier call of the task shares that sequence: while this coordinator is open, code of the
 * task must not call {@code BarrierTaskContext.barrier()} or {@code allGather} itself (Spark fails both calls when
 * their kinds differ); it can meet the other tasks through {@link #barrier} with a name of its own instead.
 *
 * <h2>Timeouts</h2>
 * The {@code timeout} the engine passes (what is left of {@code CairnConfig.deadline}) bounds how long the calling
 * thread waits for the other tasks: past it the call fails with {@link Reason#TIMEOUT}, naming the tasks that had not
 * reached the barrier in the last round. A round itself cannot be left early: Spark bounds it at the driver by
 * {@code spark.barrier.sync.timeout} (default 365 days), and answers it early when the task is killed. A round that
 * Spark fails (that timeout, a killed task, a stage attempt that failed) leaves the task's barrier sequence unusable,
 * so every awaited and later barrier of this coordinator fails with the cause; the task should fail, and Spark then
 * retries the whole stage. Set {@code spark.barrier.sync.timeout} above the Cairn deadline, so that Cairn's own
 * timeout is the one that reports a rank that never came.
 *
 * <h2>Whole-stage retry</h2>
 * {@link #allGather} passes each rank's token to every rank: the engine sends a digest of the index each rank wrote,
 * and rank 0 commits only indexes with those bytes. A task of a failed attempt that still writes (Spark marks the
 * tasks of a failed barrier stage killed but does not stop their threads, and a lost executor's writes may arrive
 * late) can replace an index under the same key, but it cannot enter the new attempt's commit: the step fails with
 * CONFLICT instead of mixing two attempts. Its own rank 0 cannot commit either once it is waiting at a barrier: Spark
 * answers a killed task's round with an error, and the other tasks of its attempt are gone.
 */
public final class SparkBarrierCoordinator implements Coordinator, AutoCloseable {
    /** The open coordinator of each running barrier task: two would run rounds of one sequence at once. */
    private static final Map<BarrierTaskContext, SparkBarrierCoordinator> OPEN = new ConcurrentHashMap<>();

    private final BarrierTaskContext context;
    private final int rank;
    private final int worldSize;
    private final Map<String, Waiter> awaited = new ConcurrentHashMap<>();
    private boolean rounding; // guarded by this: a thread runs rounds
    private boolean closed; // guarded by this
    private volatile CheckpointException broken;

    private SparkBarrierCoordinator(BarrierTaskContext context) {
        this.context = context;
        this.rank = context.partitionId();
        this.worldSize = context.getTaskInfos().length;
    }

    /**
     * The coordinator of the running barrier task; INVALID_CONFIG outside one (the driver, or a plain task), and while
     * the task has one open: two would each run rounds of the task's one barrier sequence, and Spark would pair their
     * calls with the other tasks' as if they were one task's. Share the open one (any number of checkpointers can use
     * it: barriers are named); once it is closed, the task may open another when Spark has answered its last round.
     */
    public static SparkBarrierCoordinator forCurrentTask() {
        TaskContext task = TaskContext.get();
        if (!(task instanceof BarrierTaskContext barrier)) {
            throw new CheckpointException(Reason.INVALID_CONFIG, "a SparkBarrierCoordinator is opened inside a task of a"
                    + " barrier stage (rdd.barrier().mapPartitions(...)); this thread runs "
                    + (task == null ? "no Spark task" : "a task of stage " + task.stageId() + ", which is not a barrier stage"));
        }
        SparkBarrierCoordinator coordinator = new SparkBarrierCoordinator(barrier);
        SparkBarrierCoordinator open = OPEN.putIfAbsent(barrier, coordinator);
        if (open != null) {
            throw new CheckpointException(Reason.INVALID_CONFIG, "task of partition " + open.rank + " (stage "
                    + barrier.stageId() + " attempt " + barrier.stageAttemptNumber() + ") already has an open"
                    + " SparkBarrierCoordinator, or a closed one whose last round Spark has not answered: open one per"
                    + " task and share it");
        }
        barrier.addTaskCompletionListener((TaskCompletionListener) ended -> coordinator.close());
        return coordinator;
    }

    /** This task's rank: its partition of the barrier stage. */
    public int rank() {
        return rank;
    }

    /** The number of tasks of the barrier stage. */
    public int worldSize() {
        return worldSize;
    }

    /** Which attempt of the stage this task belongs to (0 first; Spark counts a retried stage up). */
    public int stageAttempt() {
        return context.stageAttemptNumber();
    }

    @Override
    public void barrier(String name, int rank, int worldSize, Duration timeout) {
        allGather(name, rank, worldSize, "", timeout);
    }

    @Override
    public Optional<List<String>> allGather(String name, int rank, int worldSize, String token, Duration timeout) {
        if (rank != this.rank || worldSize != this.worldSize) {
            throw new CheckpointException(Reason.INVALID_CONFIG, "barrier " + name + " is awaited as rank " + rank + " of "
                    + worldSize + " in the task of partition " + this.rank + " of a barrier stage of " + this.worldSize
                    + " tasks: configure the checkpointer with rank(coordinator.rank(), coordinator.worldSize())");
        }
        CheckpointException failed = broken;
        if (failed != null) {
            throw new CheckpointException(failed.reason(), "barrier " + name + " cannot be awaited: " + failed.getMessage(), failed);
        }
        Waiter waiter = new Waiter(token);
        if (awaited.putIfAbsent(name, waiter) != null) {
            throw new CheckpointException(Reason.CONFLICT, "barrier " + name + " is already awaited by another thread of"
                    + " rank " + rank + ": a name is awaited once at a time");
        }
        startRounds();
        failed = broken;
        if (failed != null && awaited.remove(name, waiter)) { // failed between the check above and the put: fail() missed it
            throw new CheckpointException(failed.reason(), "barrier " + name + " cannot be awaited: " + failed.getMessage(), failed);
        }
        try {
            return Optional.of(waiter.passed.get(timeout.toNanos(), TimeUnit.NANOSECONDS));
        } catch (TimeoutException e) {
            awaited.remove(name, waiter);
            throw new CheckpointException(Reason.TIMEOUT, "rank " + rank + " of " + worldSize + " waited " + timeout
                    + " at barrier " + name + " (Spark stage " + context.stageId() + " attempt " + context.stageAttemptNumber()
                    + "); " + waiter.missingText());
        } catch (InterruptedException e) {
            awaited.remove(name, waiter);
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "interrupted while rank " + rank + " waited at barrier " + name);
        } catch (ExecutionException e) {
            CheckpointException cause = (CheckpointException) e.getCause();
            throw new CheckpointException(cause.reason(), cause.getMessage(), cause);
        }
    }

    /**
     * Fails whatever still waits with CLOSED; later barriers fail too. A round in flight is left to Spark: the task may
     * open another coordinator once Spark has answered it.
     */
    @Override
    public void close() {
        fail(new CheckpointException(Reason.CLOSED, "the SparkBarrierCoordinator of rank " + rank + " is closed"));
        synchronized (this) {
            closed = true;
            if (!rounding) {
                OPEN.remove(context, this);
            }
        }
    }

    private synchronized void roundsEnded() {
        rounding = false;
        if (closed) {
            OPEN.remove(context, this);
        }
    }

    private synchronized void startRounds() {
        if (!rounding) {
            rounding = true;
            Thread rounds = new Thread(this::runRounds, "cairn-spark-barrier-" + context.stageId() + "."
                    + context.stageAttemptNumber() + "-" + rank);
            rounds.setDaemon(true);
            rounds.start();
        }
    }

    /** Runs allGather rounds until this task awaits nothing, or Spark fails one. */
    private void runRounds() {
        while (true) {
            Map<String, Waiter> sent;
            synchronized (this) {
                if (awaited.isEmpty() || broken != null) {
                    roundsEnded();
                    return;
                }
                sent = new TreeMap<>(awaited);
            }
            String[] gathered;
            try {
                Map<String, String> tokens = new TreeMap<>();
                sent.forEach((name, waiter) -> tokens.put(name, waiter.token));
                gathered = context.allGather(RoundMessage.encode(tokens));
            } catch (Throwable t) { // a Scala exception of Spark's, or an Error: nothing in this task can pass any more
                roundsEnded();
                fail(new CheckpointException(reasonOf(t), "Spark's barrier failed for rank " + rank + " of " + worldSize
                        + " (stage " + context.stageId() + " attempt " + context.stageAttemptNumber() + "): " + t, t));
                return;
            }
            try {
                pass(sent, gathered);
            } catch (CheckpointException e) { // a malformed message: no later round can be trusted either
                roundsEnded();
                fail(e);
                return;
            }
        }
    }

    /** Passes every name of {@code sent} that all tasks sent in the same round, with their tokens by rank. */
    private void pass(Map<String, Waiter> sent, String[] gathered) {
        if (gathered.length != worldSize) {
            fail(new CheckpointException(Reason.INVALID_CONFIG, "Spark's allGather answered " + gathered.length
                    + " messages in a barrier stage of " + worldSize + " tasks"));
            return;
        }
        List<Map<String, String>> byRank = new ArrayList<>(worldSize);
        for (String message : gathered) {
            byRank.add(RoundMessage.decode(message));
        }
        for (Map.Entry<String, Waiter> e : sent.entrySet()) {
            List<String> tokens = new ArrayList<>(worldSize);
            TreeSet<Integer> missing = new TreeSet<>();
            for (int r = 0; r < worldSize; r++) {
                String token = byRank.get(r).get(e.getKey());
                if (token == null) {
                    missing.add(r);
                }
                tokens.add(token);
            }
            if (missing.isEmpty()) {
                awaited.remove(e.getKey(), e.getValue());
                e.getValue().passed.complete(List.copyOf(tokens));
            } else {
                e.getValue().missing = missing;
            }
        }
    }

    private void fail(CheckpointException cause) {
        synchronized (this) {
            if (broken == null) {
                broken = cause;
            }
        }
        for (Map.Entry<String, Waiter> e : new HashMap<>(awaited).entrySet()) {
            awaited.remove(e.getKey(), e.getValue());
            e.getValue().passed.completeExceptionally(cause);
        }
    }

    private static Reason reasonOf(Throwable t) {
        String name = t.getClass().getName();
        if (name.equals("org.apache.spark.TaskKilledException")) {
            return Reason.CLOSED;
        }
        String message = String.valueOf(t.getMessage());
        // BarrierCoordinator: "The coordinator didn't get all barrier sync requests for barrier epoch ... within ..."
        return message.contains("didn't get all barrier sync requests") ? Reason.TIMEOUT : Reason.INVALID_CONFIG;
    }

    /** One awaited barrier of this task. */
    private static final class Waiter {
        final String token;
        final CompletableFuture<List<String>> passed = new CompletableFuture<>();
        volatile TreeSet<Integer> missing;

        Waiter(String token) {
            this.token = token;
        }

        String missingText() {
            TreeSet<Integer> m = missing;
            return m == null ? "no round has completed since it was awaited (a task of the stage awaits no barrier)"
                    : "rank(s) " + m + " had not reached it in the last round";
        }
    }

    /**
     * What one task sends in a round: the barriers it awaits, each with its token, as
     * {@code <length>:<name><length>:<token>} repeated (lengths in chars, decimal), so names and tokens may hold any
     * character.
     */
    static final class RoundMessage {
        private RoundMessage() {
        }

        /** {@code tokens}: each awaited barrier's name and its token. */
        static String encode(Map<String, String> tokens) {
            StringBuilder b = new StringBuilder();
            tokens.forEach((name, token) -> {
                b.append(name.length()).append(':').append(name);
                b.append(token.length()).append(':').append(token);
            });
            return b.toString();
        }

        static Map<String, String> decode(String message) {
            Map<String, String> out = new HashMap<>();
            int[] at = {0};
            while (at[0] < message.length()) {
                String name = next(message, at);
                out.put(name, next(message, at));
            }
            return out;
        }

        private static String next(String message, int[] at) {
            int colon = message.indexOf(':', at[0]);
            int length = -1;
            if (colon > at[0] && Character.isDigit(message.charAt(at[0]))) {
                try {
                    length = Integer.parseInt(message, at[0], colon, 10);
                } catch (NumberFormatException e) { // not digits after the first, or past int
                    length = -1;
                }
            }
            if (length < 0 || length > message.length() - colon - 1) {
                throw new CheckpointException(Reason.CORRUPT, "a barrier round message of a Spark task is malformed at "
                        + at[0] + ": tasks of one stage run different Cairn releases, or other code of a task called"
                        + " Spark's barrier or allGather itself?");
            }
            at[0] = colon + 1 + length;
            return message.substring(colon + 1, at[0]);
        }
    }
}
