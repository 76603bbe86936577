package dev.cairn.examples.mlp;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointHandle;
import dev.cairn.CommitReport;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Prints one line per checkpoint once every tier has committed it (or failed), without making the training
 * thread wait: the line is printed by whichever thread completes {@link CheckpointHandle#done()}.
 *
 * <pre>
 * checkpoint &lt;step&gt; stall-ns &lt;n&gt; raw &lt;bytes&gt; written &lt;tier&gt;=&lt;bytes&gt;,&lt;tier&gt;=&lt;bytes&gt;...
 * checkpoint &lt;step&gt; stall-ns &lt;n&gt; failed &lt;message&gt;
 * </pre>
 */
final class CheckpointLog {
    private final PrintStream out;
    /** Newest committed step of each watched tier, -1 before its first commit; insertion order kept. */
    private final Map<String, AtomicLong> newestCommit = new LinkedHashMap<>();
    private final List<CompletableFuture<Void>> pending = new ArrayList<>();

    /** {@code watchedTiers}: the tiers whose newest committed steps {@link #awaitCommitIn} waits for and reports. */
    CheckpointLog(PrintStream out, List<String> watchedTiers) {
        this.out = out;
        for (String tier : watchedTiers) {
            newestCommit.put(tier, new AtomicLong(-1));
        }
    }

    void track(CheckpointHandle handle, long stallNanos) {
        pending.removeIf(CompletableFuture::isDone);
        newestCommit.forEach((tier, newest) -> {
            if (handle.tiers().contains(tier)) {
                handle.committed(tier).thenAccept(r -> newest.accumulateAndGet(r.step(), Math::max));
            }
        });
        pending.add(handle.done().handle((reports, error) -> {
            out.println(line(handle.step(), stallNanos, reports, error));
            return null;
        }));
    }

    private static String line(long step, long stallNanos, List<CommitReport> reports, Throwable error) {
        StringBuilder s = new StringBuilder("checkpoint ").append(step).append(" stall-ns ").append(stallNanos);
        if (error != null) {
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            String message = cause instanceof CheckpointException ? cause.getMessage() : cause.toString();
            return s.append(" failed ").append(message.replace('\n', ' ')).toString();
        }
        s.append(" raw ").append(reports.isEmpty() ? 0 : reports.get(0).rawBytes()).append(" written ");
        if (reports.isEmpty()) {
            return s.append("none").toString();
        }
        for (int i = 0; i < reports.size(); i++) {
            s.append(i == 0 ? "" : ",").append(reports.get(i).tier()).append('=').append(reports.get(i).bytesWritten());
        }
        return s.toString();
    }

    /**
     * Waits up to {@code timeout} until every watched tier has committed a step; returns each one's newest
     * committed step, or -1 where none.
     */
    Map<String, Long> awaitCommitIn(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (newestCommit.values().stream().anyMatch(n -> n.get() < 0) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        Map<String, Long> out = new LinkedHashMap<>();
        newestCommit.forEach((tier, newest) -> out.put(tier, newest.get()));
        return out;
    }

    /** Waits until every tracked checkpoint's line is printed. */
    void awaitAll(Duration timeout) throws InterruptedException {
        try {
            CompletableFuture.allOf(pending.toArray(new CompletableFuture<?>[0])).get(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("a checkpoint line could not be printed", e.getCause());
        } catch (TimeoutException e) {
            throw new CheckpointException(CheckpointException.Reason.TIMEOUT,
                    "checkpoints still in flight after " + timeout + ": the engine did not complete their futures");
        }
    }
}
