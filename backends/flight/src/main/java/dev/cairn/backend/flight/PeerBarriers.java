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
 * <p>A rank that arrives twice at one name with the same token (a retry after a lost connection) replaces its earlier
 * call, which fails with ALREADY_EXISTS (not retried); one that arrives again at a barrier already released, as the
 * same caller ({@link PeerProtocol.Arrival#caller}: its answer was lost on the way and its wait tried again) gets the
 * same answer. Any other arrival under that name is a new round: a step saved again while the release is kept (a
 * checkpointer closed and reopened on the group) passes the same tokens on every rank but 0 (an empty one at the
 * "committed" barrier), and handing it the earlier save's release left rank 0 alone at the new round until its
 * deadline. A rank that arrives while an earlier arrival
 * of it still waits, with another token, is two processes of one rank: a late task of an earlier attempt of the step
 * (a zombie after a restart) beside the live one, each with the digest of the index it wrote. Which of them wrote the
 * index now under the rank's key cannot be told here, and letting the later arrival replace the earlier released the
 * barrier with whichever came last (the zombie's digest, matching the index it had just written over the live one's),
 * so rank 0 committed rows of two attempts. Such a barrier fails instead, for every rank waiting at it and for each
 * rank of its world that arrives later (once, while the barrier's timeouts last), with ALREADY_EXISTS: the engine fails
 * the step with CONFLICT on every rank ({@link PeerCoordinator}) and commits nothing. An arrival counts only while its rank still waits: once the
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
    private record Waiter(StreamListener<Result> call, String token, long caller, long dropAtNanos, BooleanSupplier ended) {
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
     * connection reset after the release was sent) arrives again, as the same caller with the same token, and gets the
     * same answer, instead of opening the barrier anew alone and waiting out its deadline. {@code callers}: each
     * rank's caller in the released round.
     */
    private record Released(int world, Map<Integer, String> tokens, Map<Integer, Long> callers, byte[] answer,
                            long forgetAtNanos) {
    }

    /**
     * A barrier failed because one rank arrived twice with different tokens: the ranks of its world that had not
     * arrived yet ({@code owed}) are each failed the same way when they do, so that every rank of that round fails its
     * step with CONFLICT instead of the late ones waiting out their deadline at a new round nobody joins. Kept until the
     * last of the failed arrivals' timeouts; an arrival of a rank not owed (a new attempt) starts a new round and
     * forgets it.
     */
    private record Conflicted(int world, java.util.Set<Integer> owed, String why, long forgetAtNanos) {
    }

    private final Map<String, Barrier> barriers = new HashMap<>();
    private final Map<String, Released> released = new HashMap<>();
    private final Map<String, Conflicted> conflicted = new HashMap<>();
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
        List<StreamListener<Result>> conflict = List.of();
        String conflictWhy = null;
        synchronized (this) {
            if (closed) {
                expired = List.of(call);
            } else {
                long now = System.nanoTime();
                expired = dropExpired(now);
                // Saturated: a timeout from the wire must not overflow into an arrival dropped at once.
                long dropAt = now + TimeUnit.MILLISECONDS.toNanos(Math.min(Math.max(0, a.timeoutMillis()), MAX_TIMEOUT_MILLIS));
                Released done = released.get(a.name());
                Conflicted failed = conflicted.get(a.name());
                if (failed != null && failed.world() == a.world() && failed.owed().remove(a.rank())) {
                    conflict = List.of(call); // a late rank of the round that failed: fails as the others did
                    conflictWhy = failed.why();
                    if (failed.owed().isEmpty()) {
                        conflicted.remove(a.name());
                    }
                } else if (done != null && done.world() == a.world() && !barriers.containsKey(a.name())
                        && java.util.Objects.equals(done.tokens().get(a.rank()), a.token())
                        && java.util.Objects.equals(done.callers().get(a.rank()), a.caller())) {
                    release = List.of(call); // asked again: answered as before
                    answer = done.answer();
                } else {
                    released.remove(a.name()); // another round under that name
                    conflicted.remove(a.name());
                    Barrier b = barriers.computeIfAbsent(a.name(), n -> new Barrier(a.world()));
                    Waiter waiting = b.waiting.get(a.rank());
                    if (b.world != a.world()) {
                        mismatch = "barrier " + a.name() + " is of " + b.world + " ranks; rank " + a.rank() + " arrived for "
                                + a.world();
                    } else if (waiting != null && !waiting.token().equals(a.token())) {
                        // Two processes of one rank (dropExpired left only arrivals that still wait): fail them all.
                        barriers.remove(a.name());
                        conflictWhy = "rank " + a.rank() + " arrived at barrier " + a.name() + " twice with different"
                                + " tokens, while its first arrival still waited: two attempts of one rank (a late task of"
                                + " an earlier attempt beside the live one)";
                        List<StreamListener<Result>> all = new ArrayList<>(b.waiting.size() + 1);
                        java.util.Set<Integer> owed = new java.util.HashSet<>();
                        long forgetAt = dropAt;
                        for (int r = 0; r < b.world; r++) {
                            Waiter w = b.waiting.get(r);
                            if (w == null) {
                                owed.add(r);
                            } else {
                                all.add(w.call());
                                if (w.dropAtNanos() - forgetAt > 0) {
                                    forgetAt = w.dropAtNanos();
                                }
                            }
                        }
                        all.add(call);
                        conflict = all;
                        if (!owed.isEmpty()) {
                            conflicted.put(a.name(), new Conflicted(b.world, owed, conflictWhy, forgetAt));
                        }
                    } else {
                        Waiter before = b.waiting.put(a.rank(), new Waiter(call, a.token(), a.caller(), dropAt, ended));
                        superseded = before == null ? null : before.call();
                        if (b.waiting.size() == b.world) {
                            barriers.remove(a.name());
                            release = new ArrayList<>(b.world);
                            List<String> tokens = new ArrayList<>(b.world);
                            Map<Integer, String> byRank = new HashMap<>();
                            Map<Integer, Long> callers = new HashMap<>();
                            long forgetAt = dropAt;
                            for (int r = 0; r < b.world; r++) {
                                Waiter w = b.waiting.get(r);
                                release.add(w.call());
                                tokens.add(w.token());
                                byRank.put(r, w.token());
                                callers.put(r, w.caller());
                                if (w.dropAtNanos() - forgetAt > 0) {
                                    forgetAt = w.dropAtNanos();
                                }
                            }
                            answer = PeerProtocol.tokens(tokens);
                            released.put(a.name(), new Released(b.world, byRank, callers, answer, forgetAt));
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
        for (StreamListener<Result> l : conflict) {
            // ALREADY_EXISTS, not retried: PeerCoordinator fails the rank's step with CONFLICT
            fail(l, CallStatus.ALREADY_EXISTS, conflictWhy);
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
            conflicted.clear();
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
     * the released and the conflicted barriers whose arrivals' timeouts have all passed.
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
        conflicted.values().removeIf(c -> now - c.forgetAtNanos() > 0);
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
