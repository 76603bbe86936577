package dev.cairn;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Inspection and maintenance of checkpoints as they lie in stores, from outside the process that writes them: what
 * the {@code cairn} command line and the benchmarks use instead of the engine's classes. It works through the
 * engine's own code (the manifest reader and its checks, the chunk reader and its hash checks, the commit protocol,
 * the garbage collector), so it sees and changes a store exactly as a checkpointer would.
 *
 * <pre>{@code
 * try (CheckpointAdmin admin = CheckpointAdmin.open(List.of(new StoreRef("disk", "/ckpt", store)))) {
 *     long newest = admin.committedSteps("my-run").lastKey();
 *     CheckpointDescription d = admin.describe(admin.stores().get(0), "my-run", newest);
 *     List<StepCheck> checks = admin.verify("my-run", List.of(newest), Progress.NONE);
 * }
 * }</pre>
 *
 * The stores are given fastest first; an operation that reads a chunk takes the first good copy in that order. What
 * the engine finds wrong is a {@link CheckpointException} with its {@link CheckpointException.Reason}; a store that
 * fails is reported by its own {@link IOException}, as the {@link ObjectStore} SPI raised it. The admin never
 * closes the stores. Instances are safe to use from several threads.
 */
public interface CheckpointAdmin extends AutoCloseable {

    /** Opens the admin of the engine found on the class path ({@code dev.cairn:cairn-tiers}) over {@code stores}. */
    static CheckpointAdmin open(List<StoreRef> stores) {
        for (CheckpointerProvider p : ServiceLoader.load(CheckpointerProvider.class, CheckpointAdmin.class.getClassLoader())) {
            return p.admin(stores);
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                "no Cairn engine on the class path: add the artifact dev.cairn:cairn-tiers");
    }

    /** The stores, fastest first, as given. */
    List<StoreRef> stores();

    /**
     * The runs {@code store} holds: every name with steps or chunks under it. A name that cannot be a run (a stray key
     * in a bucket, a directory somebody made) goes into {@link RunListing#invalid()} instead, so one bad entry never
     * hides the other runs.
     */
    RunListing runs(StoreRef store) throws IOException;

    /** Every step of {@code run} in {@code store} with files under it, committed or not, ascending. */
    List<StoredStep> steps(StoreRef store, String run) throws IOException;

    /** The committed steps of {@code run}, ascending, each with the stores that hold its MANIFEST, in store order. */
    SortedMap<Long, List<StoreRef>> committedSteps(String run) throws IOException;

    /** The stores that hold a MANIFEST of {@code step}, in store order; NOT_FOUND naming the committed steps if none. */
    List<StoreRef> holders(String run, long step) throws IOException;

    /**
     * The MANIFEST of {@code step} in {@code store}, parsed and checked as a restore would: CORRUPT when it cannot be
     * trusted (or describes another run or step), UNSUPPORTED_VERSION when a newer release wrote it.
     */
    CheckpointDescription describe(StoreRef store, String run, long step) throws IOException;

    /**
     * Reads {@code chunk} (of the entry named {@code entry}, for messages) from the first of {@code from} whose copy
     * decodes to its content hash, through its whole chain for a differential chunk, and puts its raw bytes into
     * {@code dst} at its position, which it advances; CORRUPT naming what each store holds when none has a good copy.
     */
    void readChunk(List<StoreRef> from, String run, CheckpointDescription.Chunk chunk, String entry, ByteBuffer dst);

    /**
     * The key a chunk of the bytes between {@code bytes}' position and limit has in a checkpoint keyed by
     * {@code contentHash} ({@link CheckpointDescription#contentHash()}): to compare chunks of two checkpoints keyed
     * by different hashes.
     */
    String contentKey(String contentHash, ByteBuffer bytes);

    /**
     * Checks each of {@code steps} in every store that holds its MANIFEST, as a restore would read it: the MANIFEST,
     * every rank index against it, and every chunk (decoded, its stored length and content hash checked). Names the
     * stores that hold a good copy of each bad chunk.
     */
    List<StepCheck> verify(String run, List<Long> steps, Progress progress) throws IOException;

    /**
     * Copies committed {@code step} of {@code run} from the stores into {@code target} in the engine's commit order:
     * every chunk first, as stored (each checked against its content hash first, from the first store with a good
     * copy), then the rank indexes, then the MANIFEST, created by the commit protocol. An interrupted copy leaves no
     * commit, and running it again sends only what is missing or damaged in the target; a different MANIFEST already
     * there is a CONFLICT and is never replaced.
     *
     * @param threads chunks copied at once
     */
    CopyReport copy(String run, long step, StoreRef target, int threads, Progress progress) throws IOException;

    /**
     * The engine's retention and garbage collection of {@code run} in {@code store}, run from outside the writing
     * process: committed steps beyond the newest {@code keepLast} are retired, partial steps older than {@code grace}
     * abandoned, and chunks no kept step references deleted once older than {@code grace} (a running writer's pins
     * cannot be seen from here). With {@code dryRun} it only reports.
     */
    GcReport gc(StoreRef store, String run, int keepLast, Duration grace, boolean dryRun) throws IOException;

    /** Releases the admin's memory and threads; the stores stay open. */
    @Override
    void close();

    /** Hears how far a long operation has come; it may be called from several threads. */
    @FunctionalInterface
    interface Progress {
        Progress NONE = bytes -> { };

        /** Called once, before any {@link #advance}, with the bytes the operation will go through. */
        default void start(long totalBytes) {
        }

        void advance(long bytes);
    }

    /**
     * The runs of one store.
     *
     * @param invalid each name that cannot be a run, with what is wrong with it ({@link ObjectKeys#problem})
     */
    record RunListing(SortedSet<String> runs, SortedMap<String, String> invalid) {
        public RunListing {
            runs = Collections.unmodifiableSortedSet(new TreeSet<>(runs));
            invalid = Collections.unmodifiableSortedMap(new TreeMap<>(invalid));
        }
    }

    /**
     * One step as one store holds it.
     *
     * @param files        objects under the step
     * @param bytes        their size
     * @param lastModified the newest of them
     * @param checkpoint   what its MANIFEST says, when it is committed and the MANIFEST readable
     */
    record StoredStep(long step, State state, int files, long bytes, Instant lastModified, Optional<CheckpointInfo> checkpoint) {
        /** Whether a step exists for restore. */
        public enum State {
            COMMITTED,
            /** Files but no MANIFEST: a save in flight, or one that died. */
            PARTIAL,
            /** A MANIFEST that cannot be read or trusted. */
            UNREADABLE
        }

        public StoredStep {
            Objects.requireNonNull(state, "state");
            Objects.requireNonNull(checkpoint, "checkpoint");
        }
    }

    /**
     * One step checked in one store.
     *
     * @param store              the store's location
     * @param manifestProblem    why its MANIFEST cannot be read or trusted; empty when it can (nothing else was checked
     *                           then)
     * @param badIndexes         each rank index that is missing, cannot be parsed, or is not the part of the MANIFEST its
     *                           rank wrote, with why
     * @param chunks             distinct chunks checked
     * @param storedBytes        their stored bytes
     * @param manifestUnreadable whether {@code manifestProblem} is the store failing to read the MANIFEST (an S3 503
     *                           after its retries, a disk's EIO), which says nothing of what the store holds, rather
     *                           than the MANIFEST found missing or malformed
     * @param unreadableIndexes  each rank index the store failed to read, with the store's error: not checked, not
     *                           found damaged
     */
    record StepCheck(long step, String store, String manifestProblem, List<String> badIndexes, long chunks, long storedBytes,
                     List<BadChunk> badChunks, boolean manifestUnreadable, List<String> unreadableIndexes) {
        public StepCheck {
            Objects.requireNonNull(manifestProblem, "manifestProblem");
            badIndexes = List.copyOf(badIndexes);
            badChunks = List.copyOf(badChunks);
            unreadableIndexes = List.copyOf(unreadableIndexes);
            if (manifestUnreadable && manifestProblem.isEmpty()) {
                throw new IllegalArgumentException("an unreadable MANIFEST needs the store's error as its problem");
            }
        }

        /** A check where nothing failed to read: every problem listed is one found in what the store holds. */
        public StepCheck(long step, String store, String manifestProblem, List<String> badIndexes, long chunks, long storedBytes,
                         List<BadChunk> badChunks) {
            this(step, store, manifestProblem, badIndexes, chunks, storedBytes, badChunks, false, List.of());
        }

        public boolean intact() {
            return manifestProblem.isEmpty() && badIndexes.isEmpty() && badChunks.isEmpty() && unreadableIndexes.isEmpty();
        }

        /**
         * Whether something was found missing, malformed or corrupt, not only objects the store failed to read (the
         * MANIFEST, an index, or chunks listed {@link BadChunk.Problem#UNREADABLE}), which say nothing of what it holds.
         */
        public boolean damaged() {
            return (!manifestProblem.isEmpty() && !manifestUnreadable) || !badIndexes.isEmpty()
                    || badChunks.stream().anyMatch(b -> b.problem() != BadChunk.Problem.UNREADABLE);
        }
    }

    /**
     * A chunk that failed its check in one store.
     *
     * @param detail     what is wrong, for a corrupt one, or the store's error, for an unreadable one (empty for a
     *                   missing one)
     * @param goodCopyIn the locations of the other stores that hold a good copy of it
     */
    record BadChunk(String hash, String entry, long offset, Problem problem, String detail, List<String> goodCopyIn) {
        /**
         * What the check found: the chunk missing, corrupt (it, or a link of its chain, does not decode to its hash,
         * or a link is missing), or unreadable: the store failed to read it (an S3 503 after its retries, a disk's
         * EIO), which says nothing of the stored bytes; checked again once the store answers, it may be intact.
         */
        public enum Problem { MISSING, CORRUPT, UNREADABLE }

        public BadChunk {
            Objects.requireNonNull(problem, "problem");
            goodCopyIn = List.copyOf(goodCopyIn);
        }
    }

    /**
     * What a {@link #copy} did.
     *
     * @param from             the location of the store the MANIFEST came from
     * @param to               the target's location
     * @param chunks           distinct chunks of the step
     * @param chunksSkipped    chunks the target already held intact
     * @param indexesCopied    rank indexes sent (when the step was committed there already: those lost or damaged there)
     * @param alreadyCommitted whether the target held this very MANIFEST before (the copy then only repaired chunks and
     *                         indexes)
     */
    record CopyReport(String run, long step, String from, String to, long chunks, long chunksCopied, long chunksSkipped,
                      long bytesCopied, int indexesCopied, boolean alreadyCommitted) {
    }
}
