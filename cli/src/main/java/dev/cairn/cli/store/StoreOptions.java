package dev.cairn.cli.store;

import dev.cairn.CairnConfig;
import dev.cairn.ObjectStore;
import dev.cairn.ObjectStores;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** The options every command that reads checkpoints shares: {@code --store} (repeatable), {@code --s3-endpoint}, {@code --run}. */
public final class StoreOptions {

    @Option(names = "--store", paramLabel = "URI",
            description = "A store: s3://bucket/prefix, a directory or a file: URI. Repeat it to name several tiers"
                    + " of one run, fastest first. Required unless --config names them.")
    List<String> stores = new ArrayList<>();

    @Option(names = "--config", paramLabel = "FILE",
            description = "The run's configuration file (CairnConfig.load): its tiers' stores, fastest first, stand in"
                    + " for --store, its run for --run, and its s3.endpoint for --s3-endpoint (also for a --store that"
                    + " names one of its tiers). Given both, --store and --run win.")
    Path config;

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--s3-endpoint", paramLabel = "URL",
            description = "URL of an S3-compatible server for s3:// stores (path-style access); credentials come from"
                    + " the AWS SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY first).")
    String s3Endpoint;

    /**
     * The keepLast of each tier of {@code --config}, by its store's {@link StoreUris#normalised normalised} location;
     * recorded whether the file names the stores or {@code --store} picks among them.
     */
    private final java.util.Map<String, Integer> keepLastByStore = new java.util.HashMap<>();
    /** The run's gcGrace, when {@code --config} was given. */
    private java.time.Duration configuredGrace;
    /** Whether {@code --config} was given (it is read once, then forgotten). */
    private boolean configured;

    @Option(names = "--run", paramLabel = "NAME",
            description = "The run (default: the only run in the store; several runs are listed in the error).")
    String run;

    public String run() {
        return run;
    }

    /**
     * The stores, run and endpoint of {@code --config} (and each tier's keepLast and the run's gcGrace, for
     * {@code gc}, also when {@code --store} is given), folded into the options not given on the command line. The
     * file is read with {@link CairnConfig#load}, which checks every value and opens each store; those are closed here
     * and opened again below for reading, as every {@code --store} is.
     */
    private void applyConfig() throws IOException {
        if (config == null) {
            if (stores.isEmpty()) {
                throw new ParameterException(spec.commandLine(), "Missing required option: '--store=URI' (or --config FILE)");
            }
            return;
        }
        CairnConfig c = CairnConfig.load(config);
        try {
            // Each tier's retention and the run's grace, also for the --store that picks some of its tiers: gc looks
            // a store up here, and must not take a default where the file keeps more.
            for (TierConfig t : c.tiers()) {
                keepLastByStore.put(StoreUris.normalised(t.location().orElseThrow()), t.keepLast());
            }
            configuredGrace = c.gcGrace();
            configured = true;
            if (stores.isEmpty()) {
                // One endpoint serves every s3:// store of a command: tiers on two (a named one, or one named and
                // the SDK's default for another) would be read, and collected, on one server.
                java.util.Set<String> endpoints = new java.util.LinkedHashSet<>();
                String endpointOfFile = null;
                for (TierConfig t : c.tiers()) {
                    String location = t.location().orElseThrow();
                    stores.add(location);
                    if (StoreUris.isS3(location)) {
                        String endpoint = t.settings().get(ObjectStores.S3_ENDPOINT);
                        endpoints.add(endpoint == null ? "the AWS SDK's default" : endpoint);
                        if (endpoint != null) {
                            endpointOfFile = endpoint;
                        }
                    }
                }
                if (endpoints.size() > 1) {
                    throw new ParameterException(spec.commandLine(), config + " gives its S3 tiers two endpoints ("
                            + String.join(", ", endpoints) + "): name the stores of one of them with --store (and"
                            + " --s3-endpoint) instead");
                }
                if (s3Endpoint == null) {
                    s3Endpoint = endpointOfFile;
                }
            } else if (s3Endpoint == null) {
                s3Endpoint = endpointOfNamedStores(c);
            }
            if (run == null) {
                run = c.run();
            }
        } finally {
            for (TierConfig t : c.tiers()) {
                closeQuietly(t.store());
            }
        }
        config = null; // applied once
    }

    /**
     * The endpoint the file gives the tiers that {@code --store} names, when it picks among them: an s3:// store of
     * the file is on the server the file names for it (the SDK's default only where it names none), never on AWS
     * because the command line named the store. Null where the stores named are on the SDK's default (or none is
     * s3://); refused when they are on two servers, as for the file's own stores.
     */
    private String endpointOfNamedStores(CairnConfig c) {
        java.util.Map<String, TierConfig> byStore = new java.util.HashMap<>();
        for (TierConfig t : c.tiers()) {
            byStore.put(StoreUris.normalised(t.location().orElseThrow()), t);
        }
        java.util.Set<String> endpoints = new java.util.LinkedHashSet<>();
        String named = null;
        for (String location : stores) {
            if (StoreUris.isS3(location)) {
                TierConfig t = byStore.get(StoreUris.normalised(location));
                String endpoint = t == null ? null : t.settings().get(ObjectStores.S3_ENDPOINT);
                endpoints.add(endpoint == null ? "the AWS SDK's default" : endpoint);
                if (endpoint != null) {
                    named = endpoint;
                }
            }
        }
        if (endpoints.size() > 1) {
            throw new ParameterException(spec.commandLine(), "the s3:// stores of --store are on two endpoints by "
                    + config + " (" + String.join(", ", endpoints) + "): name the stores of one of them at a time, or"
                    + " give --s3-endpoint");
        }
        return named;
    }

    public String s3Endpoint() {
        return s3Endpoint;
    }

    /**
     * The keepLast that {@code --config} gives the tier on {@code location} (compared {@link StoreUris#normalised
     * normalised}, so {@code --store} may spell it otherwise); empty without {@code --config}, or when no tier of the
     * file is on that store. Known once {@link #open} has run.
     */
    public java.util.Optional<Integer> configuredKeepLast(String location) {
        return java.util.Optional.ofNullable(keepLastByStore.get(StoreUris.normalised(location)));
    }

    /** Whether {@code --config} was given; known once {@link #open} has run. */
    public boolean configured() {
        return configured;
    }

    /** The run's gcGrace from {@code --config}, when it was given; known once {@link #open} has run. */
    public java.util.Optional<java.time.Duration> configuredGrace() {
        return java.util.Optional.ofNullable(configuredGrace);
    }

    /**
     * Opens every {@code --store} for reading (a missing directory is an error, never created).
     *
     * @param alsoUsed other stores the command names (such as restore's {@code --to}), for the check that an
     *                 {@code --s3-endpoint} applies to at least one s3:// store
     */
    public StoreSession open(String... alsoUsed) throws IOException {
        applyConfig();
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
