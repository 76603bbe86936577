package dev.cairn.backend.flight;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.arrow.flight.CallStatus;
import org.apache.arrow.flight.FlightProducer.StreamListener;
import org.apache.arrow.flight.Result;

/**
 * The barriers that peer 0 of a group keeps for the group's {@link PeerCoordinator}: each rank's arrival at a named
 * barrier is one call that stays open until the last rank of the world has arrived, and every waiting call is then
 * answered at once, with the token every rank passed ({@link PeerProtocol#tokens}: what {@link PeerCoordinator#allGather}
 * returns). No thread waits: an arrival only stores the call's listener.
 *
 * <p>A rank that arrives twice at one name (a retry after a lost connection) replaces its earlier call, which fails
 * with ALREADY_EXISTS (not retried); one that arrives again, with the same token, at a barrier already released (its
 * answer was lost on the way) gets the same answer. An arrival counts only while its rank still waits: once the
 * timeout it asked for has passed, or its call ended (the rank's deadline cancelled it), it is dropped at the next
 * arrival anywhere, and its call failed. So a barrier is never released with the token of a rank that gave up (whose
 * save failed with TIMEOUT), which a later arrival would otherwise do while an earlier rank's call was long over. A
 * barrier whose arrivals are all dropped is forgotten; closing fails every open call. Both bound what a group that
 * loses a rank leaves behind.
 */
final class PeerBarriers {
    /** The longest an arrival may keep its barrier open: a day, far beyond any commit deadline. */
    private static final long MAX_TIMEOUT_MILLIS = TimeUnit.DAYS.toMillis(1);

    /** One rank's arrival: its open call, its token, until when it counts, and whether its call already ended. */
    private record Waiter(StreamListener<Result> call, String token, long dropAtNanos, BooleanSupplier ended) {
        boolean gone(long now) {
            return now - dropAtNanos > 0 || ended.getAsBoolean(); // nanoTime values compare by difference only
        }
    }

    /** One named barrier: who arrived and still waits. */
    private static final class Barrier {
        final int world;
        final Map<Integer, Waiter> waiting = new HashMap<>();

        Barrier(int world) {
            this.world = world;
        }
    }

    /**
     * A barrier released, kept until the last of its arrivals' timeouts: a rank whose answer was lost on the way (its
     * connection reset after the release was sent) arrives again, with the same token, and gets the same answer,
     * instead of opening the barrier anew alone and waiting out its deadline.
     */
    private record Released(int world, Map<Integer, String> tokens, byte[] answer, long forgetAtNanos) {
    }

    private final Map<String, Barrier> barriers = new HashMap<>();
    private final Map<String, Released> released = new HashMap<>();
    private boolean closed;

    /** Peer 0's own arrival: it counts until {@code here}'s wait ends. */
    void arrive(PeerProtocol.Arrival a, LocalArrival here) {
        arrive(a, here, here::ended);
    }

    /**
     * Rank {@code a.rank()} of {@code a.world()} arrived at {@code a.name()}; {@code call} is answered on release.
     * {@code ended} tells whether the call is over on the rank's side (a remote call cancelled at its deadline).
     */
    void arrive(PeerProtocol.Arrival a, StreamListener<Result> call, BooleanSupplier ended) {
        if (a.world() < 1 || a.rank() < 0 || a.rank() >= a.world()) {
            fail(call, CallStatus.INVALID_ARGUMENT, "rank " + a.rank() + " of " + a.world() + " at barrier " + a.name());
            return;
        }
        List<StreamListener<Result>> release = null;
        byte[] answer = null;
        List<StreamListener<Result>> expired;
        StreamListener<Result> superseded = null;
        String mismatch = null;
        synchronized (this) {
            if (closed) {
                expired = List.of(call);
            } else {
                long now = System.nanoTime();
                expired = dropExpired(now);
                // Saturated: a timeout from the wire must not overflow into an arrival dropped at once.
                long dropAt = now + TimeUnit.MILLISECONDS.toNanos(Math.min(Math.max(0, a.timeoutMillis()), MAX_TIMEOUT_MILLIS));
                Released done = released.get(a.name());
                if (done != null && done.world() == a.world() && !barriers.containsKey(a.name())
                        && java.util.Objects.equals(done.tokens().get(a.rank()), a.token())) {
                    release = List.of(call); // asked again: answered as before
                    answer = done.answer();
                } else {
                    released.remove(a.name()); // another round under that name
                    Barrier b = barriers.computeIfAbsent(a.name(), n -> new Barrier(a.world()));
                    if (b.world != a.world()) {
                        mismatch = "barrier " + a.name() + " is of " + b.world + " ranks; rank " + a.rank() + " arrived for "
                                + a.world();
                    } else {
                        Waiter before = b.waiting.put(a.rank(), new Waiter(call, a.token(), dropAt, ended));
                        superseded = before == null ? null : before.call();
                        if (b.waiting.size() == b.world) {
                            barriers.remove(a.name());
                            release = new ArrayList<>(b.world);
                            List<String> tokens = new ArrayList<>(b.world);
                            Map<Integer, String> byRank = new HashMap<>();
                            long forgetAt = dropAt;
                            for (int r = 0; r < b.world; r++) {
                                Waiter w = b.waiting.get(r);
                                release.add(w.call());
                                tokens.add(w.token());
                                byRank.put(r, w.token());
                                if (w.dropAtNanos() - forgetAt > 0) {
                                    forgetAt = w.dropAtNanos();
                                }
                            }
                            answer = PeerProtocol.tokens(tokens);
                            released.put(a.name(), new Released(b.world, byRank, answer, forgetAt));
                        }
                    }
                }
            }
        }
        if (mismatch != null) {
            fail(call, CallStatus.INVALID_ARGUMENT, mismatch);
        }
        // Answered outside the lock: a listener of a call the client already gave up on may throw.
        for (StreamListener<Result> gone : expired) {
            fail(gone, CallStatus.UNAVAILABLE, "barrier dropped: past its timeout, or the peer is closing");
        }
        if (superseded != null) {
            // not UNAVAILABLE, which the rank would retry: the same rank's newer call is the one that counts
            fail(superseded, CallStatus.ALREADY_EXISTS, "rank " + a.rank() + " arrived at barrier " + a.name() + " again");
        }
        if (release != null) {
            for (StreamListener<Result> l : release) {
                try {
                    l.onNext(new Result(answer));
                    l.onCompleted();
                } catch (RuntimeException callAlreadyEnded) {
                    // that rank stopped waiting (its deadline): the others are released all the same
                }
            }
        }
    }

    /** Fails every open call; later arrivals fail at once. */
    void close() {
        List<StreamListener<Result>> open = new ArrayList<>();
        synchronized (this) {
            closed = true;
            for (Barrier b : barriers.values()) {
                b.waiting.values().forEach(w -> open.add(w.call()));
            }
            barriers.clear();
            released.clear();
        }
        for (StreamListener<Result> l : open) {
            fail(l, CallStatus.UNAVAILABLE, "peer 0 of the group is closing");
        }
    }

    /** Open barriers, for tests. */
    synchronized int open() {
        return barriers.size();
    }

    /**
     * Drops every arrival that no longer counts ({@link Waiter#gone}) and the barriers left without one, and forgets
     * the released barriers whose arrivals' timeouts have all passed.
     */
    private List<StreamListener<Result>> dropExpired(long now) {
        List<StreamListener<Result>> out = new ArrayList<>();
        for (Iterator<Barrier> it = barriers.values().iterator(); it.hasNext(); ) {
            Barrier b = it.next();
            for (Iterator<Waiter> w = b.waiting.values().iterator(); w.hasNext(); ) {
                Waiter waiter = w.next();
                if (waiter.gone(now)) {
                    out.add(waiter.call());
                    w.remove();
                }
            }
            if (b.waiting.isEmpty()) {
                it.remove();
            }
        }
        released.values().removeIf(r -> now - r.forgetAtNanos() > 0);
        return out;
    }

    private static void fail(StreamListener<Result> l, CallStatus status, String why) {
        try {
            l.onError(status.withDescription(why).toRuntimeException());
        } catch (RuntimeException callAlreadyEnded) {
            // nobody is listening any more
        }
    }
}
