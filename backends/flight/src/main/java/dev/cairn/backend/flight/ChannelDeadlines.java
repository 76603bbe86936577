package dev.cairn.backend.flight;

import java.io.IOException;
import java.nio.channels.Channel;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Deadlines for blocking socket channels, which have none of their own: at its deadline a channel is closed, so that
 * a read or write blocked on it fails at once ({@link java.nio.channels.AsynchronousCloseException}) instead of
 * waiting on a peer that stopped reading or answering. One timer thread per peer store.
 */
final class ChannelDeadlines implements AutoCloseable {
    private final ScheduledThreadPoolExecutor timer;

    ChannelDeadlines(String threadName) {
        this.timer = new ScheduledThreadPoolExecutor(1, runnable -> {
            Thread thread = new Thread(runnable, threadName);
            thread.setDaemon(true);
            return thread;
        });
        timer.setRemoveOnCancelPolicy(true); // most deadlines are cancelled: do not keep them queued until due
    }

    /** Closes {@code channel} in {@code nanos} unless the returned future is cancelled first. */
    ScheduledFuture<?> closeAfter(Channel channel, long nanos) {
        return timer.schedule(() -> closeQuietly(channel), nanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }

    static void closeQuietly(Channel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // closing is all that was asked; the channel is unusable either way
        }
    }
}
