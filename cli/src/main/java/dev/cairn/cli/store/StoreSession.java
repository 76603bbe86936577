package dev.cairn.cli.store;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectKeys;
import dev.cairn.TierConfig;
import dev.cairn.tiers.Tier;
import dev.cairn.tiers.commit.CommitProtocol;
import dev.cairn.tiers.layout.StoreLayout;
import dev.cairn.tiers.manifest.Manifest;
import java.io.IOException;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The stores one command works on, seen through the engine's own classes: each store becomes a {@link Tier} of
 * the run (so {@link CommitProtocol} lists and reads its manifests and the garbage collector sweeps it exactly as
 * a running checkpointer would). Closes the stores, tiers and the manifest allocator.
 */
public final class StoreSession implements AutoCloseable {
    private final List<Source> sources;
    private final BufferAllocator allocator = new RootAllocator();
    private final CommitProtocol commits = new CommitProtocol(allocator);
    private final Map<Source, Tier> tiers = new IdentityHashMap<>();
    private final List<String> skipped = new ArrayList<>();
    private String run;

    public StoreSession(List<Source> sources) {
        this.sources = List.copyOf(sources);
    }

    public List<Source> sources() {
        return sources;
    }

    public CommitProtocol commits() {
        return commits;
    }

    public BufferAllocator allocator() {
        return allocator;
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
        for (Source s : sources) {
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

    /** The selected run's key layout. */
    public StoreLayout layout() {
        if (run == null) {
            throw new IllegalStateException("selectRun first");
        }
        return tier(sources.get(0)).layout();
    }

    /** {@code source} as a tier of the selected run, keeping {@code keepLast} committed steps. */
    public Tier tier(Source source, int keepLast) {
        Tier t = tiers.get(source);
        if (t == null || t.config().keepLast() != keepLast) {
            if (t != null) {
                t.close();
            }
            t = new Tier(TierConfig.of(tierName(source), source.store()).keepLast(keepLast), sources.indexOf(source),
                    new StoreLayout(run), 1);
            tiers.put(source, t);
        }
        return t;
    }

    public Tier tier(Source source) {
        Tier t = tiers.get(source);
        return t != null ? t : tier(source, TierConfig.of("x", source.store()).keepLast());
    }

    /**
     * Runs in one store: the first segment of every key under {@code <run>/steps/} or {@code <run>/chunks/}. A first
     * segment that cannot name a run (a control character, "..", a backslash: a stray key in a bucket, a directory
     * somebody made) is left out and recorded in {@link #skipped()}, so one bad entry never hides the other runs.
     */
    public TreeSet<String> runs(Source source) throws IOException {
        TreeSet<String> runs = new TreeSet<>();
        TreeSet<String> bad = new TreeSet<>();
        for (ObjectInfo o : source.store().list("")) {
            String[] parts = o.key().split("/", 3);
            if (parts.length == 3 && (parts[1].equals("steps") || parts[1].equals("chunks"))) {
                (ObjectKeys.problem(parts[0]) == null ? runs : bad).add(parts[0]);
            }
        }
        for (String name : bad) {
            skipped.add("skipped '" + ObjectKeys.printable(name) + "' in " + source.uri() + ": not a valid run name ("
                    + ObjectKeys.problem(name) + ")");
        }
        return runs;
    }

    /** What {@link #runs} left out, one line each, for the command to report. */
    public List<String> skipped() {
        return List.copyOf(skipped);
    }

    /** Committed steps of the selected run, each with the sources holding a MANIFEST for it, in source order. */
    public TreeMap<Long, List<Source>> committedSteps() throws IOException {
        TreeMap<Long, List<Source>> holders = new TreeMap<>();
        for (Source s : sources) {
            for (long step : commits.committedSteps(tier(s))) {
                holders.computeIfAbsent(step, k -> new ArrayList<>()).add(s);
            }
        }
        return holders;
    }

    /** The newest committed step in any source. */
    public long newestStep() throws IOException {
        TreeMap<Long, List<Source>> steps = committedSteps();
        if (steps.isEmpty()) {
            throw new CheckpointException(CheckpointException.Reason.NOT_FOUND, "run '" + run + "' has no committed step in "
                    + sourceNames());
        }
        return steps.lastKey();
    }

    /** The manifest of {@code step} from {@code source}, parsed and checked by the engine. */
    public Manifest manifest(Source source, long step) throws IOException {
        return commits.read(tier(source), step);
    }

    /** The manifest of {@code step} from the first source whose copy is readable, with that source. */
    public Located locate(long step) throws IOException {
        CheckpointException first = null;
        List<Source> holders = holders(step);
        for (Source s : holders) {
            try {
                return new Located(s, manifest(s, step));
            } catch (CheckpointException e) {
                if (e.reason() == CheckpointException.Reason.UNSUPPORTED_VERSION) {
                    throw e;
                }
                first = first == null ? e : first;
            } catch (IOException e) {
                first = first == null ? new CheckpointException(CheckpointException.Reason.STORAGE, "cannot read the MANIFEST of"
                        + " step " + step + " in " + s.uri() + ": " + e.getMessage(), e) : first;
            }
        }
        throw first;
    }

    /** The sources with a MANIFEST for {@code step}, in source order; NOT_FOUND naming the committed steps when none has. */
    public List<Source> holders(long step) throws IOException {
        TreeMap<Long, List<Source>> steps = committedSteps();
        List<Source> holders = steps.get(step);
        if (holders == null) {
            throw new CheckpointException(CheckpointException.Reason.NOT_FOUND, "step " + step + " of run '" + run
                    + "' is not committed in " + sourceNames() + (steps.isEmpty() ? "" : "; committed steps: " + steps.keySet()));
        }
        return holders;
    }

    /** A manifest and the source it was read from. */
    public record Located(Source source, Manifest manifest) {
    }

    public String sourceNames() {
        return String.join(", ", sources.stream().map(Source::uri).toList());
    }

    private String tierName(Source source) {
        return "store" + (sources.indexOf(source) + 1);
    }

    @Override
    public void close() throws IOException {
        tiers.values().forEach(Tier::close);
        IOException failure = null;
        for (Source s : sources) {
            try {
                s.store().close();
            } catch (IOException e) {
                failure = failure == null ? e : failure;
            }
        }
        allocator.close();
        if (failure != null) {
            throw failure;
        }
    }
}
