package dev.cairn.tiers.internal.codec;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Workspaces (a reader, codecs, their {@link Scratch}) for tasks that run on a pool of threads: a task borrows one and
 * gives it back, so each is used by one thread at a time and has one owner, this pool, which closes it. Workspaces
 * are made on demand, so there are at most as many as tasks ever ran at once. After {@link #close} a workspace given
 * back is closed then, never while a task still uses it; borrowing fails with CLOSED.
 */
public final class ScratchPool<T> implements AutoCloseable {
    private final String name;
    private final Supplier<T> factory;
    private final Consumer<T> closer;
    private final ArrayDeque<T> idle = new ArrayDeque<>();
    private int out;
    private boolean closed;

    /** @param name what the workspaces are for, in messages */
    public ScratchPool(String name, Supplier<T> factory, Consumer<T> closer) {
        this.name = name;
        this.factory = factory;
        this.closer = closer;
    }

    /** An idle workspace, or a new one; give it back with {@link #giveBack} in a {@code finally}. */
    public T borrow() {
        synchronized (this) {
            if (closed) {
                throw new CheckpointException(Reason.CLOSED, name + " workspaces are closed");
            }
            out++;
            T idleOne = idle.pollFirst();
            if (idleOne != null) {
                return idleOne;
            }
        }
        try {
            return factory.get();
        } catch (RuntimeException | Error e) {
            synchronized (this) {
                out--;
            }
            throw e;
        }
    }

    /** Returns a workspace taken with {@link #borrow}; closes it when the pool is closed. */
    public void giveBack(T workspace) {
        boolean close;
        synchronized (this) {
            out--;
            close = closed;
            if (!close) {
                idle.addFirst(workspace);
            }
        }
        if (close) {
            closer.accept(workspace);
        }
    }

    /** Workspaces borrowed and not given back. */
    public synchronized int inUse() {
        return out;
    }

    /** Closes the idle workspaces; those still borrowed are closed as they come back. */
    @Override
    public void close() {
        List<T> toClose;
        synchronized (this) {
            closed = true;
            toClose = new ArrayList<>(idle);
            idle.clear();
        }
        for (T t : toClose) {
            closer.accept(t);
        }
    }
}
