package dev.cairn.cli.store;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointException;
import dev.cairn.ObjectKeys;
import dev.cairn.StoreRef;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeSet;

/**
 * The stores one command works on, and the engine's {@link CheckpointAdmin} over them, which reads, checks, copies
 * and collects them exactly as a running checkpointer would. Each store is named {@code store<N>} (N from 1, in the
 * order given) where the engine names tiers, and by its URI everywhere else. Closes the admin and the stores.
 */
public final class StoreSession implements AutoCloseable {
    private final List<StoreRef> sources;
    private final CheckpointAdmin admin;
    private final List<String> skipped = new ArrayList<>();
    private String run;

    public StoreSession(List<StoreRef> sources) {
        this.sources = List.copyOf(sources);
        this.admin = CheckpointAdmin.open(this.sources);
    }

    /** {@code store} under the name of the {@code index}-th store (from 0) of a session. */
    public static StoreRef source(int index, String uri, dev.cairn.ObjectStore store) {
        return new StoreRef("store" + (index + 1), uri, store);
    }

    public List<StoreRef> sources() {
        return sources;
    }

    public CheckpointAdmin admin() {
        return admin;
    }

    /**
     * Picks the run: {@code wanted} if given, else the only run the stores hold; failing with the list of runs
     * when there are several or none.
     */
    public String selectRun(String wanted) throws IOException {
        if (wanted != null) {
            run = wanted;
            return run;
        }
        TreeSet<String> runs = new TreeSet<>();
        for (StoreRef s : sources) {
            runs.addAll(runs(s));
        }
        if (runs.size() != 1) {
            throw new CheckpointException(CheckpointException.Reason.NOT_FOUND, runs.isEmpty()
                    ? "no run in " + sourceNames()
                    : "the store holds several runs; choose one with --run: " + String.join(", ", runs));
        }
        run = runs.first();
        return run;
    }

    /** The selected run. */
    public String run() {
        if (run == null) {
            throw new IllegalStateException("selectRun first");
        }
        return run;
    }

    /**
     * Runs in one store ({@link CheckpointAdmin#runs}). A name that cannot be a run is left out and recorded in
     * {@link #skipped()}, so one bad entry never hides the other runs.
     */
    public TreeSet<String> runs(StoreRef source) throws IOException {
        CheckpointAdmin.RunListing listing = admin.runs(source);
        for (Map.Entry<String, String> bad : listing.invalid().entrySet()) {
            skipped.add("skipped '" + ObjectKeys.printable(bad.getKey()) + "' in " + source.location()
                    + ": not a valid run name (" + bad.getValue() + ")");
        }
        return new TreeSet<>(listing.runs());
    }

    /** What {@link #runs} left out, one line each, for the command to report. */
    public List<String> skipped() {
        return List.copyOf(skipped);
    }

    /** Committed steps of the selected run, each with the sources holding a MANIFEST for it, in source order. */
    public SortedMap<Long, List<StoreRef>> committedSteps() throws IOException {
        return admin.committedSteps(run());
    }

    /** The newest committed step in any source. */
    public long newestStep() throws IOException {
        SortedMap<Long, List<StoreRef>> steps = committedSteps();
        if (steps.isEmpty()) {
            throw noCommittedStep();
        }
        return steps.lastKey();
    }

    /** NOT_FOUND: the run has no committed step in the stores given. */
    public CheckpointException noCommittedStep() {
        return new CheckpointException(CheckpointException.Reason.NOT_FOUND, "run '" + run + "' has no committed step in "
                + sourceNames());
    }

    /** The manifest of {@code step} from {@code source}, parsed and checked by the engine. */
    public CheckpointDescription manifest(StoreRef source, long step) throws IOException {
        return admin.describe(source, run(), step);
    }

    /** The manifest of {@code step} from the first source whose copy is readable, with that source. */
    public Located locate(long step) throws IOException {
        CheckpointException first = null;
        List<StoreRef> holders = holders(step);
        for (StoreRef s : holders) {
            try {
                return new Located(s, manifest(s, step));
            } catch (CheckpointException e) {
                if (e.reason() == CheckpointException.Reason.UNSUPPORTED_VERSION) {
                    throw e;
                }
                first = first == null ? e : first;
            } catch (IOException e) {
                first = first == null ? new CheckpointException(CheckpointException.Reason.STORAGE, "cannot read the MANIFEST of"
                        + " step " + step + " in " + s.location() + ": " + e.getMessage(), e) : first;
            }
        }
        throw first;
    }

    /** The sources with a MANIFEST for {@code step}, in source order; NOT_FOUND naming the committed steps when none has. */
    public List<StoreRef> holders(long step) throws IOException {
        return admin.holders(run(), step);
    }

    /** {@code first}, then the other sources in order: where to read a located step's chunks from. */
    public List<StoreRef> readOrder(StoreRef first) {
        List<StoreRef> order = new ArrayList<>();
        order.add(first);
        sources.stream().filter(s -> s != first).forEach(order::add);
        return order;
    }

    /** A manifest and the source it was read from. */
    public record Located(StoreRef source, CheckpointDescription manifest) {
    }

    public String sourceNames() {
        return String.join(", ", sources.stream().map(StoreRef::location).toList());
    }

    @Override
    public void close() throws IOException {
        admin.close();
        IOException failure = null;
        for (StoreRef s : sources) {
            try {
                s.store().close();
            } catch (IOException e) {
                failure = failure == null ? e : failure;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
