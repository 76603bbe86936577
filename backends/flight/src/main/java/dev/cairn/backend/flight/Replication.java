package dev.cairn.backend.flight;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Background replication of this peer's writes to its placement targets: one FIFO queue and one sender thread per
 * target, so a target receives objects in the order they were put (an index after the chunks written before it)
 * and a slow or dead target never holds back the others.
 *
 * <p>A queue entry names a key, not bytes: the sender copies the object's current version out of the memory tier
 * when its turn comes, so queued work costs no memory beyond the objects themselves, and an object deleted before
 * its turn is skipped. Each target's queue is bounded in bytes (its share of the configured bound); a put waits
 * for room up to its deadline and otherwise leaves that replica out of the queue, counting it as dropped and
 * remembering it (below). One object larger than the bound is admitted when its queue is empty, so big objects are
 * not left out for their size alone.
 *
 * <p>A replica that could not be sent because its target did not answer (down, not started yet, unreachable) is
 * counted as dropped and remembered: the sender tries it again, after the queue's own work, first after
 * {@value #FIRST_RETRY_MILLIS} ms and then at most every {@value #MAX_RETRY_MILLIS} ms, and sends every remembered
 * replica once the target answers, skipping objects deleted meanwhile. Without this a rank that started a little
 * later than its peers never got their first step's replicas, and that step, committed in peer memory, was lost with
 * the writer (found by RankChaosTest).
 *
 * <p>A replica left out of a full queue, and one its target refused (its memory limit, often full only until its next
 * collection), are remembered the same way. Chunks are deduplicated, so an unchanged chunk is written, and replicated,
 * once and every later step names it: forgotten, its writer's loss lost every such step from peer memory. A refused
 * replica goes to the back of the remembered ones on each try, so one that never fits does not hold back the others,
 * and while a target refuses, the pause between tries keeps growing (to {@value #MAX_RETRY_MILLIS} ms) whatever else
 * it takes; a remembered replica it then takes means it has room, and the rest go at once. Each try of a refused
 * replica sends it whole again (the bulk lane reads what it refuses), at most one replica per pause per target.
 *
 * <p>A try sends the object as its writer holds it then: a key deleted here meanwhile is skipped, and {@link
 * #awaitNotSending} covers a try in flight, so no try lands a deleted key after the delete's calls to the peers.
 */
final class Replication {

    /** Sends one object to one peer. */
    interface Sender {
        /**
         * Sends the current version of {@code key} to {@code peer}, as a replica that replaces nothing the peer holds
         * if {@code createOnly}; returns its size, or -1 if it is gone.
         */
        long send(int peer, String key, boolean createOnly) throws IOException, InterruptedException;
    }

    /** A replica to send: {@code createOnly} for an object its writer created create-only (see {@link #enqueue}). */
    private record Entry(String key, long size, boolean createOnly) {
    }

    static final long FIRST_RETRY_MILLIS = 200;
    static final long MAX_RETRY_MILLIS = 5_000;
    /** Replicas remembered per target; beyond it the oldest are forgotten (a target gone for good). */
    static final int MAX_REMEMBERED = 100_000;

    private final List<Integer> targets;
    private final long boundPerTarget;
    private final Sender sender;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final List<ArrayDeque<Entry>> queues = new ArrayList<>();
    private final long[] queuedBytes;
    private final String[] sending;
    /**
     * Per target: replicas to send again (it did not answer, refused them, or its queue was full), oldest first; when
     * to try next, and the pause after.
     */
    private final List<ArrayDeque<Entry>> remembered = new ArrayList<>();
    private final long[] nextRetryNanos;
    private final long[] retryPauseNanos;
    /** Per target: it refused a replica and has not taken a remembered one since (its memory may still be full). */
    private final boolean[] refusing;
    private final List<Thread> workers = new ArrayList<>();
    private boolean stopped;

    final LongAdder bytesReplicated = new LongAdder();
    /** Replicas sent on a later try, after their target had not answered (also counted in replicasSent). */
    final LongAdder replicasResent = new LongAdder();
    final LongAdder replicasSent = new LongAdder();
    final LongAdder replicasDropped = new LongAdder();
    final LongAdder replicasRefused = new LongAdder();

    Replication(int self, List<Integer> targets, long boundBytes, Sender sender) {
        this.targets = List.copyOf(targets);
        this.boundPerTarget = targets.isEmpty() ? boundBytes : Math.max(1, boundBytes / targets.size());
        this.sender = sender;
        this.queuedBytes = new long[targets.size()];
        this.sending = new String[targets.size()];
        this.nextRetryNanos = new long[targets.size()];
        this.retryPauseNanos = new long[targets.size()];
        this.refusing = new boolean[targets.size()];
        for (int t = 0; t < targets.size(); t++) {
            queues.add(new ArrayDeque<>());
            remembered.add(new ArrayDeque<>());
            int slot = t;
            Thread worker = new Thread(() -> run(slot), "cairn-replicate-" + self + "-to-" + targets.get(t));
            worker.setDaemon(true);
            workers.add(worker);
        }
        workers.forEach(Thread::start);
    }

    /**
     * Queues {@code key} for every target, waiting for room until {@code deadlineNanos}; drops what does not fit.
     * {@code createOnly}: the object is a chunk created here, and its replica must not replace an
     * object a target holds under the key (one the target created itself, perhaps in another form).
     */
    void enqueue(String key, long size, boolean createOnly, long deadlineNanos) throws IOException {
        lock.lock();
        try {
            for (int t = 0; t < queues.size(); t++) {
                while (!stopped && queuedBytes[t] > 0 && queuedBytes[t] + size > boundPerTarget) {
                    long left = deadlineNanos - System.nanoTime();
                    if (left <= 0) {
                        break;
                    }
                    changed.awaitNanos(left);
                }
                if (stopped) {
                    throw new IOException("peer store is closed");
                }
                if (queuedBytes[t] > 0 && queuedBytes[t] + size > boundPerTarget) {
                    replicasDropped.increment(); // the queue stayed full until the deadline: tried again later
                    remember(t, new Entry(key, size, createOnly), false, false);
                    continue;
                }
                queues.get(t).addLast(new Entry(key, size, createOnly));
                queuedBytes[t] += size;
            }
            changed.signalAll();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted waiting for replication queue space for " + key);
        } finally {
            lock.unlock();
        }
    }

    /** Waits until every queued replica was sent or dropped; false if {@code timeoutNanos} passed first. */
    boolean awaitIdle(long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        lock.lock();
        try {
            while (!idle()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                changed.awaitNanos(left);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until no sender is in the middle of sending {@code key}: after that, and once the key is gone from the
     * memory tier, no replica of it can land on a target any more.
     */
    void awaitNotSending(String key, long deadlineNanos) throws InterruptedException {
        lock.lock();
        try {
            while (isSending(key)) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Bytes queued or being sent, over all targets: how far replication is behind. */
    long lagBytes() {
        lock.lock();
        try {
            long total = 0;
            for (long bytes : queuedBytes) {
                total += bytes;
            }
            return total;
        } finally {
            lock.unlock();
        }
    }

    /** Replicas remembered to try again, over all targets (a target down, full, or a queue that was full). */
    int pendingRetries() {
        lock.lock();
        try {
            int total = 0;
            for (ArrayDeque<Entry> kept : remembered) {
                total += kept.size();
            }
            return total;
        } finally {
            lock.unlock();
        }
    }

    /** Tells the senders to stop, abandoning what is queued, and interrupts what they are doing. */
    void stop() {
        lock.lock();
        try {
            stopped = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        workers.forEach(Thread::interrupt);
    }

    /** Waits up to {@code timeoutMillis} for the senders to end after {@link #stop()}. */
    void awaitStopped(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        for (Thread worker : workers) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left > 0) {
                worker.join(left);
            }
        }
    }

    private void run(int slot) {
        int peer = targets.get(slot);
        while (true) {
            Entry entry;
            boolean again;
            lock.lock();
            try {
                while (!stopped && queues.get(slot).isEmpty() && !retryDue(slot)) {
                    try {
                        if (remembered.get(slot).isEmpty()) {
                            changed.await();
                        } else {
                            changed.awaitNanos(nextRetryNanos[slot] - System.nanoTime());
                        }
                    } catch (InterruptedException e) {
                        // stop() interrupts: the loop sees stopped
                    }
                }
                if (stopped) {
                    return;
                }
                again = queues.get(slot).isEmpty();
                entry = again ? remembered.get(slot).pollFirst() : queues.get(slot).pollFirst();
                sending[slot] = entry.key();
            } finally {
                lock.unlock();
            }
            // GONE unless the send says otherwise: deleted here meanwhile (nothing to send, now or later), a failure a try
            // again would not mend (a RuntimeException, an Error), or stop()'s interrupt.
            Outcome outcome = Outcome.GONE;
            try {
                long sent = sender.send(peer, entry.key(), entry.createOnly());
                if (sent >= 0) {
                    replicasSent.increment();
                    bytesReplicated.add(sent);
                    if (again) {
                        replicasResent.increment();
                    }
                    outcome = Outcome.TAKEN;
                }
            } catch (PeerLink.PeerException e) {
                outcome = e.refused() ? Outcome.REFUSED : Outcome.UNANSWERED;
                if (!again) {
                    (e.refused() ? replicasRefused : replicasDropped).increment();
                }
            } catch (IOException e) {
                outcome = Outcome.UNANSWERED;
                if (!again) {
                    replicasDropped.increment();
                }
            } catch (RuntimeException e) {
                if (!again) {
                    replicasDropped.increment();
                }
            } catch (InterruptedException e) {
                if (!again) {
                    replicasDropped.increment(); // stop() interrupts: the loop sees stopped next
                }
            } finally {
                lock.lock();
                try {
                    sending[slot] = null;
                    if (!again) {
                        queuedBytes[slot] -= entry.size();
                    }
                    switch (outcome) {
                        case TAKEN, GONE -> {
                            if ((outcome == Outcome.TAKEN && again) || remembered.get(slot).isEmpty()) {
                                refusing[slot] = false; // it took a remembered replica: it has room again
                            }
                            if (!refusing[slot]) {
                                retryPauseNanos[slot] = 0; // the target is back: the remembered replicas go at once
                                nextRetryNanos[slot] = System.nanoTime();
                            }
                        }
                        case REFUSED -> {
                            refusing[slot] = true;
                            remember(slot, entry, again, true);
                        }
                        case UNANSWERED -> remember(slot, entry, again, false);
                    }
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /** How one try of a replica ended. */
    private enum Outcome {
        /** The target holds it now (or kept its own create-only object under the key). */
        TAKEN,
        /** Nothing more to do: deleted here meanwhile, or failed in a way a try again would not mend. */
        GONE,
        /** The target answered that it cannot hold it now (its memory limit): tried again later. */
        REFUSED,
        /** The target did not answer (down, unreachable, past the deadline): tried again later. */
        UNANSWERED
    }

    /** Under the lock: whether remembered replicas of {@code slot} are due for another try. */
    private boolean retryDue(int slot) {
        return !remembered.get(slot).isEmpty() && System.nanoTime() - nextRetryNanos[slot] >= 0;
    }

    /**
     * Under the lock: keeps {@code entry} to try again. A replica tried again whose target did not answer goes back in
     * front (the order of the others is kept for when it does); one {@code refused} goes to the back, so that one
     * that never fits does not hold back the others.
     */
    private void remember(int slot, Entry entry, boolean again, boolean refused) {
        ArrayDeque<Entry> kept = remembered.get(slot);
        if (again && !refused) {
            kept.addFirst(entry);
        } else {
            kept.addLast(entry);
            if (kept.size() > MAX_REMEMBERED) {
                kept.pollFirst();
            }
        }
        long first = FIRST_RETRY_MILLIS * 1_000_000L;
        retryPauseNanos[slot] = retryPauseNanos[slot] == 0 ? first
                : again ? Math.min(MAX_RETRY_MILLIS * 1_000_000L, retryPauseNanos[slot] * 2) : retryPauseNanos[slot];
        if (again || kept.size() == 1) {
            nextRetryNanos[slot] = System.nanoTime() + retryPauseNanos[slot];
        }
    }

    private boolean idle() {
        for (int t = 0; t < queues.size(); t++) {
            if (!queues.get(t).isEmpty() || sending[t] != null) {
                return false;
            }
        }
        return true;
    }

    private boolean isSending(String key) {
        for (String inFlight : sending) {
            if (Objects.equals(inFlight, key)) {
                return true;
            }
        }
        return false;
    }
}
