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
 * for room up to its deadline and otherwise drops that replica, counting it. One object larger than the bound is
 * admitted when its queue is empty, so big objects are not dropped for their size alone.
 *
 * <p>A replica that could not be sent because its target did not answer (down, not started yet, unreachable) is
 * counted as dropped and remembered: the sender tries it again, after the queue's own work, first after
 * {@value #FIRST_RETRY_MILLIS} ms and then at most every {@value #MAX_RETRY_MILLIS} ms, and sends every remembered
 * replica once the target answers, skipping objects deleted meanwhile. Without this a rank that started a little
 * later than its peers never got their first step's replicas, and that step, committed in peer memory, was lost with
 * the writer (found by RankChaosTest). A target that refuses a replica (its memory limit) is not asked again.
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
    /** Per target: replicas it did not answer for, to send again, oldest first; when to try next, and the pause after. */
    private final List<ArrayDeque<Entry>> remembered = new ArrayList<>();
    private final long[] nextRetryNanos;
    private final long[] retryPauseNanos;
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
     * {@code createOnly}: the object was created create-only here (a chunk), and its replica must not replace an
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
                    replicasDropped.increment(); // the queue stayed full until the deadline
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
            boolean answered = true;
            try {
                long sent = sender.send(peer, entry.key(), entry.createOnly());
                if (sent >= 0) {
                    replicasSent.increment();
                    bytesReplicated.add(sent);
                    if (again) {
                        replicasResent.increment();
                    }
                }
            } catch (PeerLink.PeerException e) {
                answered = e.refused();
                if (!again) {
                    (e.refused() ? replicasRefused : replicasDropped).increment();
                }
            } catch (IOException e) {
                answered = false;
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
                    if (answered) {
                        retryPauseNanos[slot] = 0; // the target is back: the other remembered replicas go at once
                        nextRetryNanos[slot] = System.nanoTime();
                    } else {
                        remember(slot, entry, again);
                    }
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    /** Under the lock: whether remembered replicas of {@code slot} are due for another try. */
    private boolean retryDue(int slot) {
        return !remembered.get(slot).isEmpty() && System.nanoTime() - nextRetryNanos[slot] >= 0;
    }

    /** Under the lock: keeps {@code entry} to try again; a replica tried again and failed goes back in front. */
    private void remember(int slot, Entry entry, boolean again) {
        ArrayDeque<Entry> kept = remembered.get(slot);
        if (again) {
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
