package dev.cairn.backend.flight;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The ranks of a run meet through their peer group instead of polling the store: peer 0 keeps every barrier
 * ({@link PeerBarriers}), and a rank's arrival is one Flight call to it that returns when the last rank has arrived.
 * A multi-rank commit then costs each rank two calls instead of listings and reads repeated with backoff, and the
 * ranks learn of a commit the moment rank 0 has made it.
 *
 * <p>It passes data ({@link #allGather}): the release of a barrier carries the token each rank arrived with, so rank 0
 * learns the digest of each rank's index (and commits exactly those), and the others learn from rank 0's token
 * whether it created the MANIFEST, without reading it.
 *
 * <p>Any rank may be any peer: arrivals are counted by the rank the engine names, so only peer 0 must be the same
 * process for every rank (the group's first address). While peer 0 cannot be reached (starting, or marked down
 * after a failed call) an arrival is tried again until the timeout; a barrier that times out fails with
 * {@link Reason#TIMEOUT}, a closed store with {@link Reason#CLOSED}, and one that another process of the same rank
 * arrived at with another token (an earlier attempt's late task) with {@link Reason#CONFLICT}. The commit itself stays the create-only MANIFEST:
 * a rank that cannot take rank 0's token for it checks the store. Every release carries every rank's token to every
 * rank (about 70 bytes a rank at the "indexed" barrier): for a group of hundreds of ranks a few MB from peer 0 per
 * barrier, for thousands of ranks a framework's coordinator or the store is the better meeting place.
 */
final class PeerCoordinator implements Coordinator {
    private static final long RETRY_NANOS = TimeUnit.MILLISECONDS.toNanos(20);

    private final PeerMemoryStore store;

    PeerCoordinator(PeerMemoryStore store) {
        this.store = store;
    }

    @Override
    public void barrier(String name, int rank, int worldSize, Duration timeout) {
        arrive(name, rank, worldSize, "", timeout);
    }

    @Override
    public Optional<List<String>> allGather(String name, int rank, int worldSize, String token, Duration timeout) {
        return Optional.of(arrive(name, rank, worldSize, token, timeout));
    }

    private List<String> arrive(String name, int rank, int worldSize, String token, Duration timeout) {
        long until = System.nanoTime() + timeout.toNanos();
        // One caller for every try of this wait: a try after a lost answer gets the kept release, a later save's
        // arrival (a caller of its own) a new round.
        long caller = PeerProtocol.newCaller();
        IOException last = null;
        while (true) {
            long left = TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime());
            if (left <= 0) {
                throw new CheckpointException(Reason.TIMEOUT, "rank " + rank + " of " + worldSize + " at barrier " + name
                        + ": not every rank arrived within " + timeout + (last == null ? "" : " (" + last.getMessage() + ")"), last);
            }
            try {
                return store.arrive(name, rank, worldSize, left, token, caller);
            } catch (PeerLink.PeerException e) {
                if (e.timedOut()) {
                    throw new CheckpointException(Reason.TIMEOUT, "rank " + rank + " of " + worldSize + " at barrier " + name
                            + ": not every rank arrived within " + timeout, e);
                }
                if (e.conflicted()) {
                    // Two arrivals of one rank with different digests of its index: which of them wrote the index under
                    // its key is unknown, so the step must not commit (not STORAGE: nothing failed to answer).
                    throw new CheckpointException(Reason.CONFLICT, "rank " + rank + " of " + worldSize + " at barrier "
                            + name + ": " + e.getMessage(), e);
                }
                if (!e.unreachable()) {
                    throw new CheckpointException(Reason.STORAGE, "rank " + rank + " of " + worldSize + " at barrier "
                            + name + ": " + e.getMessage(), e);
                }
                if (Thread.interrupted()) { // gRPC ends a call whose thread is interrupted as CANCELLED
                    Thread.currentThread().interrupt();
                    throw new CheckpointException(Reason.CLOSED, "rank " + rank + " stopped waiting at barrier " + name, e);
                }
                last = e; // peer 0 starting, restarting or closing its calls: try again until the timeout
                LockSupport.parkNanos(RETRY_NANOS);
            } catch (InterruptedIOException e) {
                Thread.currentThread().interrupt();
                throw new CheckpointException(Reason.CLOSED, "rank " + rank + " stopped waiting at barrier " + name, e);
            } catch (IOException e) {
                // checkOpen: this store is closed
                throw new CheckpointException(Reason.CLOSED, "rank " + rank + " at barrier " + name + ": " + e.getMessage(), e);
            }
        }
    }
}
