package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The system's clock for one checkpointer's waits, which its close ends: a wait still running once the close has
 * let the in-flight saves finish (a look at open that waits for its paced turn, {@link LookPacing} and
 * {@link RestorePacing}, on a tier's I/O thread, which the close waits for) fails with {@link Reason#CLOSED} at once,
 * instead of holding the close until its turn (up to half a minute at 10,000 ranks). No thread is interrupted: an
 * interrupt during a file read would close the file's channel.
 */
public final class ClosingClock implements WaitClock {
    private final CountDownLatch closed = new CountDownLatch(1);

    @Override
    public long nanoTime() {
        return System.nanoTime();
    }

    @Override
    public void pause(long nanos) {
        try {
            if (closed.await(nanos, TimeUnit.NANOSECONDS)) {
                throw new CheckpointException(Reason.CLOSED, "the checkpointer closed while a wait was paced");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "the checkpointer closed while a multi-rank commit waited");
        }
    }

    /** Ends every wait, now and from now on. */
    public void close() {
        closed.countDown();
    }
}
