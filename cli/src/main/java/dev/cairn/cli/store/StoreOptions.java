package dev.cairn.cli.store;

import dev.cairn.ObjectStore;
import dev.cairn.StoreRef;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** The options every command that reads checkpoints shares: {@code --store} (repeatable), {@code --s3-endpoint}, {@code --run}. */
public final class StoreOptions {

    @Option(names = "--store", paramLabel = "URI", required = true,
            description = "A store: s3://bucket/prefix, a directory or a file: URI. Repeat it to name several tiers"
                    + " of one run, fastest first.")
    List<String> stores = new ArrayList<>();

    @Option(names = "--s3-endpoint", paramLabel = "URL",
            description = "URL of an S3-compatible server for s3:// stores (path-style access); credentials come from"
                    + " the AWS SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY first).")
    String s3Endpoint;

    @Option(names = "--run", paramLabel = "NAME",
            description = "The run (default: the only run in the store; several runs are listed in the error).")
    String run;

    public String run() {
        return run;
    }

    public String s3Endpoint() {
        return s3Endpoint;
    }

    /**
     * Opens every {@code --store} for reading (a missing directory is an error, never created).
     *
     * @param alsoUsed other stores the command names (such as restore's {@code --to}), for the check that an
     *                 {@code --s3-endpoint} applies to at least one s3:// store
     */
    public StoreSession open(String... alsoUsed) throws IOException {
        List<String> named = new ArrayList<>(stores);
        named.addAll(List.of(alsoUsed));
        StoreUris.checkEndpointUsed(s3Endpoint, named);
        List<StoreRef> sources = new ArrayList<>();
        try {
            for (String uri : stores) {
                sources.add(StoreSession.source(sources.size(), uri, StoreUris.open(uri, s3Endpoint, false)));
            }
        } catch (IOException | RuntimeException e) {
            for (StoreRef s : sources) {
                closeQuietly(s.store());
            }
            throw e;
        }
        return new StoreSession(sources);
    }

    /** Opens every store (see {@link #open}) and selects the run ({@code --run}, else the only one). */
    public StoreSession openRun(String... alsoUsed) throws IOException {
        StoreSession session = open(alsoUsed);
        try {
            session.selectRun(run);
            return session;
        } catch (IOException | RuntimeException e) {
            session.close();
            throw e;
        }
    }

    static void closeQuietly(ObjectStore store) {
        try {
            store.close();
        } catch (IOException | RuntimeException ignored) {
            // Already failing; the first error is the one to report.
        }
    }
}
