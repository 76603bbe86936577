package dev.cairn.tiers.internal.commit;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.locks.LockSupport;

/**
 * The commit point: the one place that creates a MANIFEST, for a save of one rank ({@link CommitProtocol}), of
 * several ({@link RankCommit}) and for a copy between stores ({@code CheckpointAdmin.copy}). A step exists iff its
 * MANIFEST does, so nothing else in the engine writes one.
 */
public final class CommitPoint {
    private CommitPoint() {
    }

    /**
     * Creates the MANIFEST of {@code step} (the commit point), create-only, and resolves an ambiguous answer. A store
     * may lose the answer to a create that happened: it then fails, or its retry finds the object and answers "not
     * created" (S3's 412). Either way the object under the key decides: this very MANIFEST means committed, another
     * one means CONFLICT; a create that failed and left nothing is made once more before it is called failed (the
     * failed one may still land). When it cannot be read back (after {@value #READ_BACK_ATTEMPTS} tries) the outcome is
     * unknown and reported as such (STORAGE), never as a conflict with a step that may be this writer's own.
     */
    public static void create(Tier tier, long step, byte[] bytes) throws IOException {
        String key = tier.layout().manifestKey(step);
        Exception failure = null;
        try {
            if (tier.store().putIfAbsent(key, ByteBuffer.wrap(bytes))) {
                return;
            }
        } catch (IOException | RuntimeException e) {
            failure = e;
        }
        Exception unreadable = null;
        boolean createdAgain = false;
        for (int attempt = 1; attempt <= READ_BACK_ATTEMPTS; attempt++) {
            try {
                if (ManifestFormat.readBytes(tier.store(), key, tier.name() + ":" + key).equals(ByteBuffer.wrap(bytes))) {
                    return; // ours: the create happened and its answer was lost
                }
                throw new CheckpointException(Reason.CONFLICT, "step " + step + " is already committed in tier " + tier.name()
                        + " (" + key + "): saving a step twice is refused");
            } catch (NoSuchFileException absent) {
                if (failure != null && !createdAgain) {
                    // Absent now, but the failed create may still land (an attempt a store's deadline abandoned, a
                    // request the server received in full): this writer would report a failure for a step that then
                    // commits. A create of its own, create-only, settles it: it wins (committed now, and no late
                    // attempt can land over it), or it finds an object the next read-back judges.
                    createdAgain = true;
                    try {
                        if (tier.store().putIfAbsent(key, ByteBuffer.wrap(bytes))) {
                            return;
                        }
                        attempt--; // something is there now: read it back
                        continue;
                    } catch (IOException | RuntimeException again) {
                        failure.addSuppressed(again);
                    }
                }
                if (failure instanceof IOException io) {
                    throw io; // the create did not happen: its own error says why
                }
                if (failure instanceof RuntimeException r) {
                    throw r;
                }
                throw new CheckpointException(Reason.STORAGE, "step " + step + " is not committed in tier " + tier.name()
                        + ": the store refused to create " + key + " but holds no object there");
            } catch (IOException | RuntimeException e) {
                if (e instanceof CheckpointException c && c.reason() == Reason.CONFLICT) {
                    throw c;
                }
                unreadable = e;
                if (attempt < READ_BACK_ATTEMPTS) {
                    LockSupport.parkNanos(READ_BACK_PAUSE_NANOS << (attempt - 1));
                }
            }
        }
        CheckpointException unknown = new CheckpointException(Reason.STORAGE, "whether step " + step + " is committed in tier "
                + tier.name() + " is unknown: the create of " + key + " " + (failure == null ? "was refused" : "failed ("
                + failure.getMessage() + ")") + " and reading it back failed " + READ_BACK_ATTEMPTS + " times ("
                + unreadable.getMessage() + "); 'cairn ls' or 'cairn verify' tells whether this save's step is there",
                unreadable);
        if (failure != null) {
            unknown.addSuppressed(failure);
        }
        throw unknown;
    }

    /** Reads of an ambiguously created MANIFEST before its outcome is called unknown. */
    static final int READ_BACK_ATTEMPTS = 5;
    private static final long READ_BACK_PAUSE_NANOS = 20_000_000;

}
