package dev.cairn.tiers.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A factory of a checkpointer's daemon threads (one pool's), which knows whether the current thread is one of them:
 * a {@code close()} called on such a thread (from a save's callback, which runs on the thread that completes its future)
 * must not wait for that thread's own pool, nor for a save this thread holds up ({@code Lifecycle#close}).
 */
public final class OwnThreads implements ThreadFactory {
    private final String name;
    private final AtomicInteger count = new AtomicInteger();
    /** The threads alive now: each takes itself out when it ends (a cached pool's idle threads end). */
    private final Set<Thread> alive = ConcurrentHashMap.newKeySet();

    /** @param name the threads' name, numbered after a dash */
    public OwnThreads(String name) {
        this.name = name;
    }

    @Override
    public Thread newThread(Runnable r) {
        Thread t = new Thread(() -> {
            try {
                r.run();
            } finally {
                alive.remove(Thread.currentThread());
            }
        }, name + "-" + count.incrementAndGet());
        t.setDaemon(true);
        alive.add(t);
        return t;
    }

    /** Whether the current thread is one of these. */
    public boolean current() {
        return alive.contains(Thread.currentThread());
    }
}
