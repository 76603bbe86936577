package dev.cairn.tiers.internal.restore;

import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Entry;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ScratchPool;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Restores checkpoints of one run from its tiers (fastest first). Safe for concurrent use. Each chunk is read with a
 * reader borrowed from the restorer's pool (its scratch allocated under the given allocator) and given back after;
 * {@link #close} frees the readers, each once no read uses it.
 */
public final class Restorer implements AutoCloseable {
    private final List<Tier> tiers;
    private final CommitProtocol commits;
    private final ExecutorService pool;
    private final Duration deadline;
    private final ScratchPool<ChunkReader> readers;
    private final int rank;
    private final int worldSize;
    /** Where the ranks agree on the newest step; null where each chooses alone (one rank, no coordinator). */
    private final NewestStepAgreement agreement;

    /**
     * A restorer for rank {@code rank} of {@code worldSize}: it asks for its own slices ({@link RestorePlan}).
     *
     * @param scratch where the readers' scratch is allocated
     */
    public Restorer(List<Tier> tiers, CommitProtocol commits, ExecutorService pool, Duration deadline, int rank, int worldSize,
                    BufferAllocator scratch) {
        this(tiers, commits, pool, deadline, rank, worldSize, scratch, null);
    }

    /**
     * A restorer whose restores of the newest step meet the other ranks through {@code agreement} to restore one step
     * (see {@link dev.cairn.RestoreRequest}); null: each rank chooses alone.
     */
    public Restorer(List<Tier> tiers, CommitProtocol commits, ExecutorService pool, Duration deadline, int rank, int worldSize,
                    BufferAllocator scratch, NewestStepAgreement agreement) {
        this.agreement = agreement;
        this.readers = new ScratchPool<>("restore", () -> ChunkReader.under(scratch, "restore"), ChunkReader::close);
        this.tiers = tiers;
        this.commits = commits;
        this.pool = pool;
        this.deadline = deadline;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    public RestoreResult restore(RestoreRequest request) {
        return restore(request, step -> { });
    }

    /**
     * Makes {@code count} readers ready for chunks of {@code rawLength} bytes, their buffers touched
     * ({@link ChunkReader#prefault}), and puts them in the pool: a process that is about to restore (a replacement, a
     * resumed run) then does not take, inside its first restore, the page faults of memory mapped for the first time
     * (seen in a replacement's first restore: a third of its restore threads' time). The pool keeps its readers after
     * any restore, so this only brings that memory forward. Ignored once closing.
     */
    public void prefault(int count, int rawLength) {
        List<ChunkReader> ready = new java.util.ArrayList<>(count);
        try {
            for (int i = 0; i < count; i++) {
                ChunkReader reader = readers.borrow();
                ready.add(reader);
                reader.prefault(rawLength);
            }
        } catch (RuntimeException closing) {
            // the first restore allocates what it needs itself, as without this
        } finally {
            for (ChunkReader reader : ready) {
                readers.giveBack(reader);
            }
        }
    }

    /**
     * Restores as {@link #restore(RestoreRequest)}, telling {@code chosen} the step it restores as soon as that is
     * known, before any chunk is read: work that depends only on the step (a rank's clean-up of its stale indexes) can
     * then overlap the reads.
     */
    public RestoreResult restore(RestoreRequest request, java.util.function.LongConsumer chosen) {
        commits.readAheadOvertaken();
        try {
            return restoreOnce(request, chosen);
        } finally {
            commits.readAheadDone(); // what was read ahead for a first restore, taken or not
        }
    }

    private RestoreResult restoreOnce(RestoreRequest request, java.util.function.LongConsumer chosen) {
        CommitProtocol reads = commits.restoring(rank, worldSize);
        Planned planned = plan(request, agreedHolders(request, reads), chosen, reads);
        long step = planned.step;
        Located located = planned.located;
        Manifest m = located.manifest;
        RestorePlan plan = planned.plan;
        Map<String, AtomicLong> bytesByTier = new ConcurrentHashMap<>();
        AtomicInteger repaired = new AtomicInteger();
        List<String> bad = fetchAll(m, located.tier, plan.tasks(), bytesByTier, repaired);
        if (!bad.isEmpty()) {
            String older = newestIntactBefore(step, committedSteps()); // listed: an error's advice
            throw new CheckpointException(Reason.CORRUPT, "step " + step + " cannot be restored: " + bad.size()
                    + " chunk(s) missing, unreadable or corrupt in every tier: " + String.join("; ", bad.subList(0, Math.min(5, bad.size())))
                    + (bad.size() > 5 ? "; ..." : "") + ". " + older
                    + (request.targets().isPresent() ? " The targets hold part of step " + step + " now, not a checkpoint." : ""));
        }
        TrainingState state = plan.result();
        Map<String, Long> bytes = new LinkedHashMap<>();
        for (Tier t : tiers) {
            AtomicLong n = bytesByTier.get(t.name());
            if (n != null) {
                bytes.put(t.name(), n.get());
            }
        }
        // Only tensors are stored lossy: a restore of blobs only restored none.
        return new RestoreResult(step, state, located.tier.name(), bytes, repaired.get(),
                request.isBlobsOnly() ? List.of() : lossyWarnings(m));
    }

    /**
     * What a restore of {@code request} would read, decided as {@link #restore} decides it (the committed steps are
     * listed, the MANIFEST read, the plan made) without fetching a chunk: for the scale simulation ({@code cairn
     * bench --simulate}), whose store keeps no chunk bytes.
     */
    public PlannedRestore plan(RestoreRequest request) {
        return plan(request, step -> { });
    }

    /**
     * {@link #plan(RestoreRequest)}, telling {@code chosen} the step as soon as it is known, as
     * {@link #restore(RestoreRequest, java.util.function.LongConsumer)} does.
     */
    public PlannedRestore plan(RestoreRequest request, java.util.function.LongConsumer chosen) {
        CommitProtocol reads = commits.restoring(rank, worldSize);
        Planned p = plan(request, agreedHolders(request, reads), chosen, reads);
        java.util.Set<String> distinct = new java.util.HashSet<>();
        long stored = 0;
        for (RestorePlan.Task task : p.plan.tasks()) {
            if (distinct.add(task.chunk().hash())) {
                stored += task.chunk().storedLength();
            }
        }
        return new PlannedRestore(p.step, p.located.tier.name(), p.plan.tasks().size(), distinct.size(), stored);
    }

    /**
     * A restore's plan.
     *
     * @param step           the step it restores
     * @param tier           the tier whose MANIFEST it read
     * @param chunkReads     chunk reads planned (a chunk shared by two target slices counts twice)
     * @param distinctChunks distinct chunks among them
     * @param storedBytes    stored bytes of the distinct chunks
     */
    public record PlannedRestore(long step, String tier, int chunkReads, int distinctChunks, long storedBytes) {
    }

    private record Planned(long step, Located located, RestorePlan plan) {
    }

    /** @param reads the protocol that reads the step's metadata, paced for this rank ({@link CommitProtocol#restoring}) */
    private Planned plan(RestoreRequest request, TreeMap<Long, List<Tier>> holders, java.util.function.LongConsumer chosen,
                         CommitProtocol reads) {
        if (holders.isEmpty()) {
            throw new CheckpointException(Reason.NOT_FOUND, "no committed checkpoint of run '" + tiers.get(0).layout().run()
                    + "' in any tier (" + tierNames() + ")");
        }
        long step = request.stepWanted().orElse(holders.lastKey());
        if (!holders.containsKey(step)) {
            throw new CheckpointException(Reason.NOT_FOUND, "step " + step + " is not committed in any tier; committed steps: "
                    + holders.descendingKeySet());
        }
        chosen.accept(step);
        return locate(step, holders.get(step), request, reads);
    }

    private static final System.Logger LOG = System.getLogger(Restorer.class.getName());

    /** One line per entry saved lossy, naming its largest relative error bound; logged as a warning too. */
    static List<String> lossyWarnings(Manifest m) {
        Map<String, Double> bounds = new LinkedHashMap<>(); // by entry name, over every rank's slice
        for (EntryRecord r : m.entries()) {
            for (ChunkRef c : r.chunks()) {
                bounds.merge(r.name(), c.errorBound(), Math::max);
            }
        }
        List<String> out = new ArrayList<>();
        bounds.forEach((name, bound) -> {
            if (bound > 0) {
                String w = String.format(java.util.Locale.ROOT, "'%s' of step %d was saved lossy: each value within a "
                        + "relative error of %.3g of what was saved", name, m.step(), bound);
                out.add(w);
                LOG.log(System.Logger.Level.WARNING, w);
            }
        });
        return out;
    }

    /**
     * {@link #holdersOf}, agreed with the other ranks where {@code request} asks for the newest step with every rank
     * ({@link RestoreRequest#together}), several ranks restore and their coordinator passes data ({@link NewestStepAgreement}): the newest step any rank found committed,
     * with the tiers that hold it, which this rank asks for by name where its own look found an older one or none. A
     * rank that finds that step in no tier fails with STORAGE instead of restoring another step than the others.
     */
    private TreeMap<Long, List<Tier>> agreedHolders(RestoreRequest request, CommitProtocol reads) {
        if (agreement == null || request.stepWanted().isPresent() || !request.isTogether()) {
            return holdersOf(request, reads);
        }
        TreeMap<Long, List<Tier>> own;
        NewestStepAgreement.Found found;
        CheckpointException failed = null;
        try {
            own = holdersOf(request, reads);
            found = own.isEmpty() ? NewestStepAgreement.Found.NOTHING : NewestStepAgreement.Found.newest(own.lastKey());
        } catch (CheckpointException e) {
            // Still meet the others, so that they need not wait for this rank until their deadline.
            own = null;
            found = NewestStepAgreement.Found.UNASKED;
            failed = e;
        }
        NewestStepAgreement.Agreed agreed = agreement.meet(found);
        if (failed != null && (failed.reason() != Reason.STORAGE || agreed.step().isEmpty())) {
            throw failed; // not a tier this rank could not ask (CLOSED, TIMEOUT), or no rank found a step to ask for
        }
        if (agreed.step().isEmpty() || (own != null && !own.isEmpty() && own.lastKey() == agreed.step().getAsLong())) {
            return own; // every rank found none (NOT_FOUND), or this rank found the agreed step itself
        }
        long step = agreed.step().getAsLong();
        List<String> unasked = new ArrayList<>();
        List<Tier> holding = new ArrayList<>();
        for (Tier t : tiers) {
            try {
                if (reads.isCommitted(t, step)) {
                    holding.add(t);
                }
            } catch (IOException e) {
                unasked.add(t.name() + " (" + e + ")");
            }
        }
        if (holding.isEmpty()) {
            throw new CheckpointException(Reason.STORAGE, "rank " + agreed.by() + " found step " + step + " committed, the "
                    + "newest any rank of the " + worldSize + " found, and rank " + rank + " finds it in no tier ("
                    + (own == null ? "its own look failed: " + failed.getMessage()
                            : own.isEmpty() ? "it found no committed step" : "its own newest is step " + own.lastKey())
                    + (unasked.isEmpty() ? "" : "; could not ask: " + String.join("; ", unasked))
                    + "). The ranks restore one step or none: try again, or restore a step every rank can read "
                    + "(RestoreRequest.step)");
        }
        TreeMap<Long, List<Tier>> holders = new TreeMap<>();
        holders.put(step, holding);
        return holders;
    }

    /**
     * The step {@code request} restores with the tiers that hold it, in speed order, found without a listing of the
     * steps (thousands of ranks restoring at once would each list them, issue 15): the step it names by its MANIFEST
     * in each tier, else the newest from each tier's group of step marks ({@code StepMarks#newest}, which looks at
     * the step folders only where nothing is marked). Only the newest step's holders: a tier whose newest is older does not hold
     * it, none holds a newer one. A step asked for that no tier holds is answered from the listing
     * ({@link #committedSteps()}), whose error names the committed steps. STORAGE, not an empty answer, when no tier
     * offers a step and one could not be asked.
     */
    private TreeMap<Long, List<Tier>> holdersOf(RestoreRequest request, CommitProtocol reads) {
        java.util.OptionalLong wanted = request.stepWanted();
        long[] found = new long[tiers.size()];
        long best = -1;
        List<String> unasked = new ArrayList<>();
        for (int i = 0; i < tiers.size(); i++) {
            Tier t = tiers.get(i);
            try {
                found[i] = wanted.isPresent() ? (reads.isCommitted(t, wanted.getAsLong()) ? wanted.getAsLong() : -1)
                        : reads.newestCommittedToRestore(t, rank, worldSize);
            } catch (IOException e) {
                found[i] = -1; // a tier that cannot be asked offers nothing; others may hold the step
                unasked.add(t.name() + " (" + e + ")");
            }
            best = Math.max(best, found[i]);
        }
        if (best < 0 && !unasked.isEmpty()) {
            throw unlisted(unasked);
        }
        if (best < 0) {
            return wanted.isPresent() ? committedSteps() : new TreeMap<>();
        }
        if (!unasked.isEmpty() && wanted.isEmpty() && worldSize > 1 && !request.isTogether()) {
            LOG.log(System.Logger.Level.WARNING, "rank " + rank + " restores step " + best + " without the tiers it could not "
                    + "ask (" + String.join("; ", unasked) + "); another rank may find a newer step there. Ranks that "
                    + "restore at once agree on one step with RestoreRequest.latest().together()");
        }
        TreeMap<Long, List<Tier>> holders = new TreeMap<>();
        for (int i = 0; i < tiers.size(); i++) {
            if (found[i] == best) {
                holders.computeIfAbsent(best, k -> new ArrayList<>()).add(tiers.get(i));
            }
        }
        return holders;
    }

    /**
     * Steps committed anywhere, each with the tiers that hold it in speed order. A tier that cannot be listed is
     * skipped; when no tier offers a step and one could not be listed, this fails with STORAGE, not an empty answer.
     */
    public TreeMap<Long, List<Tier>> committedSteps() {
        TreeMap<Long, List<Tier>> holders = new TreeMap<>();
        List<String> unlisted = new ArrayList<>();
        for (Tier t : tiers) {
            try {
                for (long s : commits.committedSteps(t)) {
                    holders.computeIfAbsent(s, k -> new ArrayList<>()).add(t);
                }
            } catch (IOException e) {
                // A tier that cannot be listed offers nothing (a lost node's peer memory); others may hold the step.
                unlisted.add(t.name() + " (" + e + ")");
            }
        }
        if (holders.isEmpty() && !unlisted.isEmpty()) {
            throw unlisted(unlisted);
        }
        return holders;
    }

    private CheckpointException unlisted(List<String> unlisted) {
        // Not NOT_FOUND: a store that refuses or fails its listings (S3 answering SlowDown to thousands of ranks
        // restoring at once) is not an empty one, and a job that starts from scratch on NOT_FOUND would lose its run.
        return new CheckpointException(Reason.STORAGE, "no committed checkpoint of run '" + tiers.get(0).layout().run()
                + "' found in the tiers that could be listed; could not list: " + String.join("; ", unlisted)
                + ". The checkpoint may be there: try again");
    }

    /** @param manifest the MANIFEST with the entries this rank reads carrying their chunks */
    private record Located(Manifest manifest, Tier tier) {
    }

    /**
     * The plan of {@code step} from the first of {@code holders} whose MANIFEST, and the rank indexes this rank's
     * slices need (only those, when the MANIFEST keeps its rows in the indexes), read and check. The plan is made from
     * the MANIFEST's entries, so a request it cannot serve fails at once, as before any tier is tried again.
     */
    private Planned locate(long step, List<Tier> holders, RestoreRequest request, CommitProtocol reads) {
        List<String> problems = new ArrayList<>();
        for (Tier t : holders) {
            Manifest manifest = readOrNote(t, step, t.layout().manifestKey(step), problems, () -> reads.readGlobal(t, step));
            if (manifest == null) {
                continue;
            }
            // Format 5: only the pages of the directory on the way to this rank's slices, and the entries they name.
            Manifest global = readOrNote(t, step, "the directory pages of step " + step, problems,
                    () -> reads.select(t, manifest, RestorePlan.pagesFor(manifest, request, rank, worldSize)));
            if (global == null) {
                continue;
            }
            RestorePlan plan = RestorePlan.of(global, request, rank, worldSize); // a request error: every copy says it
            Manifest resolved = readOrNote(t, step, "the rank indexes of ranks " + plan.sourceRanks() + " of step " + step,
                    problems, () -> {
                        Manifest m = withRanks(t, global, plan.sourceRanks(), holders, step, reads);
                        plan.bind(m);
                        return m;
                    });
            if (resolved != null) {
                return new Planned(step, new Located(resolved, t), plan);
            }
        }
        throw new CheckpointException(Reason.CORRUPT, "no readable manifest for step " + step + ": "
                + String.join("; ", problems) + ". " + newestIntactBefore(step, committedSteps()));
    }

    /**
     * {@code global} (the MANIFEST of {@code step} in {@code t}) with the entries of {@code ranks} carrying their chunks,
     * read from {@code t}'s rank indexes. An index {@code t} cannot give (the peer tier lost it with the ranks that held
     * it) is taken from the next of {@code holders} that commits the same checkpoint ({@link Manifest#sameCommitAs}),
     * as a chunk would be: its rows name the same content by hash, and every chunk is still read from {@code t} first.
     */
    private Manifest withRanks(Tier t, Manifest global, java.util.Set<Integer> ranks, List<Tier> holders, long step,
                               CommitProtocol reads) throws IOException {
        try {
            return reads.withRanks(t, global, ranks);
        } catch (CheckpointException | IOException notHere) {
            if (!global.rowsInIndexes() || holders.size() < 2
                    || (notHere instanceof CheckpointException c && c.reason() == Reason.UNSUPPORTED_VERSION)) {
                throw notHere;
            }
            Map<String, EntryRecord> found = new java.util.HashMap<>();
            for (int r : ranks) {
                boolean read = false;
                for (Tier u : holders) {
                    try {
                        Manifest other = u == t ? global : reads.readGlobal(u, step);
                        if (!global.sameCommitAs(other)) {
                            continue; // another commit of this step number: its rows would mix two states
                        }
                        if (other.paged() && u != t) {
                            other = reads.select(u, other, rows -> rows.stream().filter(x -> x.mayHoldRank(r)).toList());
                        }
                        Manifest m = reads.withRanks(u, other, java.util.Set.of(r));
                        for (EntryRecord e : m.entries()) {
                            if (e.rank() == r) {
                                found.put(r + "/" + e.name(), e);
                            }
                        }
                        read = true;
                        break;
                    } catch (CheckpointException | IOException | IllegalArgumentException e) {
                        if (e instanceof CheckpointException c && c.reason() == Reason.CLOSED) {
                            throw c;
                        }
                        // the next tier that holds the step (IllegalArgumentException: rows that do not fit its world)
                    }
                }
                if (!read) {
                    throw notHere;
                }
            }
            List<EntryRecord> entries = new ArrayList<>(global.entries().size());
            for (EntryRecord e : global.entries()) {
                entries.add(found.getOrDefault(e.rank() + "/" + e.name(), e));
            }
            return new Manifest(global.formatVersion(), global.contentHash(), global.run(), global.step(), global.worldSize(),
                    global.rank(), global.createdAt(), global.chunkBytes(), entries, global.indexed());
        }
    }

    /** A read of {@code what} that may fail: null with the reason noted, unless every copy would fail alike. */
    private static Manifest readOrNote(Tier t, long step, String what, List<String> problems, ManifestRead read) {
        try {
            return read.run();
        } catch (CheckpointException e) {
            if (e.reason() == Reason.UNSUPPORTED_VERSION || e.reason() == Reason.CLOSED) {
                throw e; // CLOSED: the checkpointer closed while a paced read waited, no copy is to blame
            }
            problems.add(e.getMessage());
        } catch (IOException e) {
            // The store's own message may not say which object (an EIO's is "Input/output error"): name it.
            problems.add(t.name() + " " + what + " in " + t.store().describe() + ": " + e);
        }
        return null;
    }

    @FunctionalInterface
    private interface ManifestRead {
        Manifest run() throws IOException;
    }

    private List<String> fetchAll(Manifest m, Tier primary, List<RestorePlan.Task> tasks, Map<String, AtomicLong> bytesByTier,
                                  AtomicInteger repaired) {
        // Once this restore gives up, no task may write into the destination any more (the caller may reuse its
        // buffers at once): tasks check the flag before they start and again once their read is answered, right before
        // they write, and the ones running are waited for (bounded: a read still waiting on its store then finds the
        // flag when it is answered). What is left: a differential chunk's chain, read link by link while decoding.
        AtomicBoolean abandoned = new AtomicBoolean();
        java.util.function.BooleanSupplier gaveUp = abandoned::get; // one for every chunk of this restore
        AtomicInteger running = new AtomicInteger();
        List<Future<String>> futures = new ArrayList<>();
        try {
            for (RestorePlan.Task task : tasks) {
                futures.add(pool.submit(() -> {
                    // Counted before the check: abandon() sets the flag before it reads the count, so either it
                    // waits for this task or this task sees the flag.
                    running.incrementAndGet();
                    try {
                        return abandoned.get() ? "abandoned" : fetchChunk(task, primary, bytesByTier, repaired, gaveUp);
                    } finally {
                        running.decrementAndGet();
                    }
                }));
            }
        } catch (RejectedExecutionException closed) {
            abandon(abandoned, running, futures);
            throw closing(m);
        }
        List<String> bad = new ArrayList<>();
        long until = System.nanoTime() + deadline.toNanos();
        try {
            for (Future<String> f : futures) {
                String problem = f.get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (problem != null) {
                    bad.add(problem);
                }
            }
        } catch (java.util.concurrent.CancellationException | RejectedExecutionException e) {
            // Close stopped the restore threads and cancelled the chunk tasks still queued.
            abandon(abandoned, running, futures);
            throw closing(m);
        } catch (TimeoutException e) {
            abandon(abandoned, running, futures);
            if (pool.isShutdown()) {
                throw closing(m);
            }
            throw new CheckpointException(Reason.TIMEOUT, "restore of step " + m.step() + " did not finish within " + deadline);
        } catch (InterruptedException e) {
            abandon(abandoned, running, futures);
            Thread.currentThread().interrupt();
            throw new CheckpointException(Reason.CLOSED, "restore of step " + m.step() + " was interrupted", e);
        } catch (ExecutionException e) {
            abandon(abandoned, running, futures);
            if (e.getCause() instanceof CheckpointException target) {
                throw new CheckpointException(target.reason(), "restore of step " + m.step() + " failed: "
                        + target.getMessage(), target);
            }
            throw new CheckpointException(Reason.STORAGE, "restore of step " + m.step() + " failed: " + e.getCause(), e.getCause());
        }
        if (!bad.isEmpty() && pool.isShutdown()) {
            // Reads close interrupted, not chunks missing in every tier.
            abandon(abandoned, running, futures);
            throw closing(m);
        }
        return bad;
    }

    private static CheckpointException closing(Manifest m) {
        return new CheckpointException(Reason.CLOSED, "restore of step " + m.step() + " stopped: the checkpointer is closing");
    }

    /** Stops the tasks not started yet and waits (bounded) for the running ones, so none writes after we return. */
    private void abandon(AtomicBoolean abandoned, AtomicInteger running, List<Future<String>> futures) {
        abandoned.set(true);
        for (Future<String> f : futures) {
            f.cancel(false); // not interrupting: a running read or decode finishes its chunk
        }
        long until = System.nanoTime() + deadline.toNanos();
        while (running.get() > 0 && System.nanoTime() < until) {
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000);
        }
    }

    /** Fetches one chunk into place from the first tier with a good copy; returns a problem description or null. */
    private String fetchChunk(RestorePlan.Task task, Tier primary, Map<String, AtomicLong> bytesByTier, AtomicInteger repaired,
                              java.util.function.BooleanSupplier abandoned) {
        EntryRecord r = task.entry();
        ChunkRef c = task.chunk();
        List<String> tried = new ArrayList<>();
        for (Tier t : orderFrom(primary)) {
            ChunkReader reader = readers.borrow();
            try {
                int stored;
                // The store may answer after this restore gave up at its deadline and its caller took the buffers
                // back: checked once the stored bytes are here, right before anything is written into them.
                if (task.slice() == null) {
                    stored = reader.readInto(t.store(), t.layout(), c, task.dst(), t == primary, abandoned);
                } else {
                    ByteBuffer storedBytes = reader.readStored(t.store(), t.layout(), c, t == primary);
                    stored = storedBytes.remaining();
                    ByteBuffer raw = reader.verify(t.store(), t.layout(), storedBytes, c);
                    if (abandoned.getAsBoolean()) {
                        return "abandoned";
                    }
                    task.slice().copy(raw, 0, c.offset(), Math.toIntExact(c.rawLength()), task.dst());
                }
                bytesByTier.computeIfAbsent(t.name(), k -> new AtomicLong()).addAndGet(stored);
                if (t != primary) {
                    repaired.incrementAndGet();
                }
                return null;
            } catch (TargetFault e) {
                throw new CheckpointException(Reason.INVALID_INPUT, "restoring '" + r.name() + "' faulted writing into "
                        + "its target buffer (" + e.getMessage() + "); is it a memory map of a file that was truncated?", e);
            } catch (ChunkReader.AbandonedRead e) {
                return "abandoned";
            } catch (IOException | RuntimeException e) {
                markDamaged(t, reader.damaged(c, e));
                // Named by key and store: an EIO's message ("Input/output error") does not say which file failed.
                tried.add(t.name() + " " + t.layout().chunkKey(c.hash()) + " in " + t.store().describe() + " ("
                        + (e instanceof java.nio.file.NoSuchFileException ? "missing" : String.valueOf(e.getMessage())) + ")");
            } finally {
                readers.giveBack(reader);
            }
        }
        return "chunk " + c.hash() + " of '" + r.name() + "' at offset " + c.offset() + ": " + String.join(", ", tried);
    }

    /**
     * Tells {@code t}'s catalog that its stored chunk {@code hash} (when not null) is damaged, as a promotion that finds
     * one does ({@link dev.cairn.tiers.internal.ChunkCatalog#markDamaged}): this restore takes the chunk from another
     * tier, but the saves after it would otherwise name the damaged object again wherever their content is the same (a
     * frozen layer), and every restore of their steps from {@code t} would need the repair too. The next save that
     * names the content writes it again over the damaged object. Best effort: a catalog that cannot be loaded now
     * (its seed's read failed) is left, and the promotion of a step naming the chunk finds it.
     */
    private static void markDamaged(Tier t, String hash) {
        if (hash == null) {
            return;
        }
        try {
            t.catalog().markDamaged(hash);
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "could not mark chunk " + hash + " damaged in tier " + t.name()
                    + "'s catalog: " + e);
        }
    }

    private List<Tier> orderFrom(Tier primary) {
        List<Tier> order = new ArrayList<>();
        order.add(primary);
        for (Tier t : tiers) {
            if (t != primary) {
                order.add(t);
            }
        }
        return order;
    }

    /** A sentence naming the newest committed step before {@code step} whose every chunk verifies somewhere. */
    String newestIntactBefore(long step, TreeMap<Long, List<Tier>> holders) {
        for (Long older : holders.headMap(step, false).descendingKeySet()) {
            for (Tier t : holders.get(older)) {
                Optional<Boolean> ok = intact(t, older);
                if (ok.orElse(false)) {
                    return "The newest older intact checkpoint is step " + older + " (tier " + t.name() + ").";
                }
            }
        }
        return "No older intact checkpoint exists.";
    }

    private Optional<Boolean> intact(Tier t, long step) {
        Manifest m;
        try {
            m = commits.read(t, step);
        } catch (IOException | RuntimeException e) {
            return Optional.of(false);
        }
        for (EntryRecord r : m.entries()) {
            for (ChunkRef c : r.chunks()) {
                boolean good = false;
                for (Tier any : orderFrom(t)) {
                    ChunkReader reader = readers.borrow();
                    try {
                        reader.verify(any.store(), any.layout(), reader.readStored(any.store(), any.layout(), c, any == t), c);
                        good = true;
                        break;
                    } catch (IOException | RuntimeException e) {
                        // try the next tier
                    } finally {
                        readers.giveBack(reader);
                    }
                }
                if (!good) {
                    return Optional.of(false);
                }
            }
        }
        return Optional.of(true);
    }

    /** Frees the readers: now the idle ones, the others as their reads end. */
    @Override
    public void close() {
        readers.close();
    }

    private String tierNames() {
        return String.join(", ", tiers.stream().map(Tier::name).toList());
    }
}
