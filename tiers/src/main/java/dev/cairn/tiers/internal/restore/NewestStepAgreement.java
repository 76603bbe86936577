package dev.cairn.tiers.internal.restore;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Coordinator;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;

/**
 * How the ranks of a multi-rank restore of the newest step agree on it ({@link dev.cairn.RestoreRequest}'s class
 * comment): each rank passes what it found through the coordinator's {@link Coordinator#allGather}, and every rank
 * takes the newest step any rank found committed. A MANIFEST is rank 0's create-only commit of the step for every
 * rank, so a step one rank found committed is committed; a rank that did not find it looked at a tier that failed to
 * answer (or answered stale), and asks again for that step.
 *
 * <p>The meetings are named {@code "<run>/restore/<n>"}, {@code n} counting this checkpointer's meetings from 1: ranks
 * that restore together, as frameworks restart them (every rank restores once, before its first training step), meet
 * under the same name. A rank that restores more often than the others (a retry of its own after a failure) waits at a
 * meeting no other rank comes to and fails with TIMEOUT at the deadline, as a rank missing from a collective does.
 */
public final class NewestStepAgreement {
    /** What a rank passes: "newest &lt;step&gt;", "none" (no tier holds a committed step) or "unknown" (it could not look). */
    private static final String NEWEST = "newest ";
    private static final String NONE = "none";
    private static final String UNKNOWN = "unknown";

    private final Coordinator coordinator;
    private final String run;
    private final int rank;
    private final int worldSize;
    private final Duration timeout;
    private final AtomicLong meetings = new AtomicLong();

    /**
     * @param coordinator the run's coordinator (the configured one, else the peer tier's)
     * @param timeout     how long a rank waits for the others at a meeting (the configured deadline)
     */
    public NewestStepAgreement(Coordinator coordinator, String run, int rank, int worldSize, Duration timeout) {
        this.coordinator = coordinator;
        this.run = run;
        this.rank = rank;
        this.worldSize = worldSize;
        this.timeout = timeout;
    }

    /**
     * Whether {@code coordinator} can pass data: whether it implements {@link Coordinator#allGather} itself. The
     * default passes nothing ({@link Coordinator#barrier} alone), and ranks meeting through it could not agree on
     * anything, so they do not meet to restore.
     */
    public static boolean canAgree(Coordinator coordinator) {
        try {
            return coordinator.getClass().getMethod("allGather", String.class, int.class, int.class, String.class,
                    Duration.class).getDeclaringClass() != Coordinator.class;
        } catch (NoSuchMethodException e) {
            throw new AssertionError("Coordinator.allGather is public", e);
        }
    }

    /**
     * What this rank found: its newest committed step, or none found (-1), or {@code looked} false where it could not
     * look at any tier that might hold one.
     */
    public record Found(long newest, boolean looked) {
        static Found newest(long step) {
            return new Found(step, true);
        }

        static final Found NOTHING = new Found(-1, true);
        static final Found UNASKED = new Found(-1, false);

        String token() {
            return !looked ? UNKNOWN : newest < 0 ? NONE : NEWEST + newest;
        }
    }

    /**
     * Meets the other ranks with what this rank {@code found}; returns the newest step any rank found committed, or
     * empty when no rank found one. Empty too when the coordinator passed no answers: then there is nothing to agree
     * with, and the rank goes by what it found.
     */
    public Agreed meet(Found found) {
        String name = run + "/restore/" + meetings.incrementAndGet();
        Optional<List<String>> tokens = coordinator.allGather(name, rank, worldSize, found.token(), timeout);
        if (tokens.isEmpty()) {
            return new Agreed(OptionalLong.empty(), -1);
        }
        List<String> all = tokens.get();
        if (all.size() != worldSize) {
            throw new CheckpointException(Reason.STORAGE, "the ranks could not agree on the step to restore: the coordinator "
                    + "gathered " + all.size() + " answers at '" + name + "' for a world of " + worldSize);
        }
        long newest = -1;
        int by = -1;
        for (int r = 0; r < all.size(); r++) {
            String t = all.get(r);
            if (t != null && t.startsWith(NEWEST)) {
                long step;
                try {
                    step = Long.parseLong(t.substring(NEWEST.length()));
                } catch (NumberFormatException e) {
                    throw badToken(name, r, t);
                }
                if (step > newest) {
                    newest = step;
                    by = r;
                }
            } else if (!NONE.equals(t) && !UNKNOWN.equals(t)) {
                throw badToken(name, r, t);
            }
        }
        return new Agreed(newest < 0 ? OptionalLong.empty() : OptionalLong.of(newest), by);
    }

    private static CheckpointException badToken(String name, int rank, String token) {
        return new CheckpointException(Reason.STORAGE, "the ranks could not agree on the step to restore: rank " + rank
                + " passed '" + token + "' at '" + name + "', not a step this version reads");
    }

    /**
     * The outcome of a meeting.
     *
     * @param step the newest step any rank found committed; empty when none did, or when the coordinator passed no
     *             answers (nothing to agree with: the rank goes by what it found)
     * @param by   the first rank that found it; -1 when none did
     */
    public record Agreed(OptionalLong step, int by) {
    }
}
