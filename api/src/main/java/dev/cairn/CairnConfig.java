package dev.cairn;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Everything a {@link Checkpointer} needs, immutable. Every setter of the {@link Builder} checks its value at once;
 * {@link Builder#build()} checks the combinations. Defaults live here and nowhere else.
 */
public final class CairnConfig {
    public static final int DEFAULT_CHUNK_BYTES = 4 << 20;
    /** The most encoder threads a builder starts with (one per core up to this): more rarely pays, and needs staging. */
    public static final int DEFAULT_MAX_ENCODERS = 32;
    public static final long DEFAULT_STAGING_BYTES = 2L << 30;
    public static final int DEFAULT_COMPRESSION_LEVEL = 1;
    public static final Duration DEFAULT_GC_GRACE = Duration.ofMinutes(10);
    /**
     * Every 1,000 commits in a tier (counted in the tier across processes), the collector sweeps the whole tier for
     * orphans (a listing of every step and chunk); the commits between learn what to delete from the manifests they
     * retire. See {@link Builder#gcSweepEvery}.
     */
    public static final int DEFAULT_GC_SWEEP_EVERY = 1000;
    public static final Duration DEFAULT_DEADLINE = Duration.ofMinutes(2);
    /** Committed steps a tier keeps unless {@link TierConfig#keepLast} says otherwise. */
    public static final int DEFAULT_KEEP_LAST = 2;
    /**
     * A whole chunk every 8 versions of a chunk position: a restore reads at most 8 stored objects per chunk, and a
     * run whose chunks change a little each step writes about 1/8 of a full save plus the differences.
     */
    public static final int DEFAULT_DIFFERENTIAL_FULL_EVERY = 8;
    /** Every step the intervals name is taken (see {@link Builder#whenBusy} for why). */
    public static final WhenBusy DEFAULT_WHEN_BUSY = WhenBusy.WAIT;
    /** Longest chain {@link Builder#differential(int)} allows; readers refuse longer ones as hostile. */
    public static final int MAX_DIFFERENTIAL_FULL_EVERY = 64;
    static final int MIN_CHUNK_BYTES = 4 << 10;
    /** The largest chunk a save writes, and so the largest a reader accepts from a manifest. */
    public static final int MAX_CHUNK_BYTES = 256 << 20;

    private final String run;
    private final List<TierConfig> tiers;
    private final int chunkBytes;
    private final long stagingBytes;
    private final int encoderThreads;
    private final int compressionLevel;
    private final Duration gcGrace;
    private final int gcSweepEvery;
    private final boolean readRowsAhead;
    private final Duration deadline;
    private final int rank;
    private final int worldSize;
    private final Coordinator coordinator;
    private final int differentialFullEvery;
    private final Pattern lossyEntries;
    private final int lossyMantissaBits;
    private final Object meterRegistry;
    private final WhenBusy whenBusy;
    private final Duration persistOnShutdown;
    /** Throwaway saves {@link Builder#prepareFirstSave} makes at open. */
    public static final int PREPARE_SAVES = 50;
    private final boolean prefaultStaging;
    private final boolean prepareFirstSave;

    private CairnConfig(Builder b) {
        this.run = b.run;
        this.tiers = List.copyOf(b.tiers);
        this.chunkBytes = b.chunkBytes;
        this.stagingBytes = b.stagingBytes;
        this.encoderThreads = b.encoderThreads;
        this.compressionLevel = b.compressionLevel;
        this.gcGrace = b.gcGrace;
        this.gcSweepEvery = b.gcSweepEvery;
        this.readRowsAhead = b.readRowsAhead;
        this.deadline = b.deadline;
        this.rank = b.rank;
        this.worldSize = b.worldSize;
        this.coordinator = b.coordinator;
        this.differentialFullEvery = b.differentialFullEvery;
        this.lossyEntries = b.lossyEntries;
        this.lossyMantissaBits = b.lossyMantissaBits;
        this.meterRegistry = b.meterRegistry;
        this.whenBusy = b.whenBusy;
        this.persistOnShutdown = b.persistOnShutdown;
        this.prefaultStaging = b.prefaultStaging;
        this.prepareFirstSave = b.prepareFirstSave;
    }

    public static Builder builder(String run) {
        return new Builder(run);
    }

    /**
     * Reads a configuration file of {@code key = value} lines, with {@code Properties}' escapes (the README's
     * configuration table lists every key):
     * the same settings the builders take, tiers with their stores by location. Stores are opened here and belong to
     * the caller, who closes them ({@code config.tiers()}). Every bad value is an {@code INVALID_CONFIG} naming the
     * key and its line, before any store is opened for a checkpoint.
     */
    public static CairnConfig load(java.nio.file.Path file) {
        return ConfigFile.read(file);
    }

    /** {@link #load} from properties: the same keys, errors naming the key (there are no lines). */
    public static CairnConfig fromProperties(java.util.Properties properties) {
        return ConfigFile.read(properties);
    }

    /**
     * This configuration as the keys {@link #fromProperties} reads; needs every tier to have a location
     * ({@link TierConfig#at}) and no coordinator or meter registry, which are objects of the application.
     */
    public java.util.Properties toProperties() {
        return ConfigFile.write(this);
    }

    /** The run's name: one path segment under each store's root. */
    public String run() {
        return run;
    }

    /** Tiers, fastest first. */
    public List<TierConfig> tiers() {
        return tiers;
    }

    public TierConfig tier(String name) {
        for (TierConfig t : tiers) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "no tier named '" + name + "'");
    }

    /** Size of the slices tensors are cut into; the unit of hashing, dedup, compression and repair. */
    public int chunkBytes() {
        return chunkBytes;
    }

    /** Upper bound of off-heap memory for captured-but-not-yet-encoded chunks and encoded-but-not-yet-written ones. */
    public long stagingBytes() {
        return stagingBytes;
    }

    public int encoderThreads() {
        return encoderThreads;
    }

    /**
     * zstd level of the chunks of every tier that sets no level of its own ({@link TierConfig#compressionLevel(int)}),
     * but those in memory, which store chunks uncompressed unless they set one ({@link TierConfig#isUncompressed()}).
     */
    public int compressionLevel() {
        return compressionLevel;
    }

    /** Unreferenced chunks and uncommitted steps younger than this are left alone by GC (they may belong to a save in flight). */
    public Duration gcGrace() {
        return gcGrace;
    }

    /**
     * A full sweep of a tier (listing every step and chunk, deleting orphans older than {@link #gcGrace}) runs after
     * every this-many commits in it; 0: never after commits, only when asked ({@link Checkpointer#gc}, {@code cairn gc}).
     */
    public int gcSweepEvery() {
        return gcSweepEvery;
    }

    /**
     * Whether a process of a multi-rank run of at most 125 ranks reads its own and rank 0's rows of each tier's newest
     * step at open, for a restore that may follow. See {@link Builder#readRowsAhead}.
     */
    public boolean readRowsAhead() {
        return readRowsAhead;
    }

    /** Longest any one save, restore or storage call may take before it fails with TIMEOUT. */
    public Duration deadline() {
        return deadline;
    }

    /** This process's rank in the run, 0 to {@link #worldSize()} - 1. */
    public int rank() {
        return rank;
    }

    /** How many ranks save each checkpoint together; 1 unless set with {@link Builder#rank(int, int)}. */
    public int worldSize() {
        return worldSize;
    }

    /** The barrier ranks commit through; empty for the default, which meets through the store. */
    public java.util.Optional<Coordinator> coordinator() {
        return java.util.Optional.ofNullable(coordinator);
    }

    /**
     * How often a chunk position is stored whole: 1 stores every chunk whole (differential off); {@code k > 1} stores
     * a changed chunk as the difference to its previous version (XOR, then zstd) when that is smaller, with a whole
     * chunk at least every {@code k} versions, so no chain is longer than {@code k}. See
     * {@link Builder#differential(int)}.
     */
    public int differentialFullEvery() {
        return differentialFullEvery;
    }

    /** Tensors whose names match this pattern (whole name) are stored lossy; empty when lossy mode is off. */
    public Optional<Pattern> lossyEntries() {
        return Optional.ofNullable(lossyEntries);
    }

    /** Mantissa bits kept by lossy mode; 0 when it is off. */
    public int lossyMantissaBits() {
        return lossyMantissaBits;
    }

    /**
     * Whether the lossy pattern names tensor {@code name}. Only a float tensor with more mantissa bits than
     * {@link #lossyMantissaBits()} and marked {@link Tensor#asOptimizerState()} is rounded; one not so marked fails
     * the save.
     */
    public boolean isLossy(String name) {
        return lossyEntries != null && lossyEntries.matcher(name).matches();
    }

    /**
     * The Micrometer {@code MeterRegistry} the engine publishes its metrics to; empty when none was set (then no
     * metric is kept and Micrometer need not be on the classpath). Typed {@code Object} because this module depends on
     * the JDK alone; {@link Builder#meterRegistry(Object)} checked its type.
     */
    /** Whether all of staging is allocated and touched at open, instead of at first use. */
    public boolean prefaultStaging() {
        return prefaultStaging;
    }

    /** Whether open prepares the first save ({@link Builder#prepareFirstSave}). */
    public boolean prepareFirstSave() {
        return prepareFirstSave;
    }

    /** The grace period for persisting the newest checkpoint when the JVM shuts down; empty when off. */
    public Optional<Duration> persistOnShutdown() {
        return Optional.ofNullable(persistOnShutdown);
    }

    /** What a save does while an earlier one is still being persisted into its first tier. */
    public WhenBusy whenBusy() {
        return whenBusy;
    }

    public Optional<Object> meterRegistry() {
        return Optional.ofNullable(meterRegistry);
    }

    /** The smallest staging budget that keeps every encoder fed: two raw and two encoded chunks per encoder, plus slack. */
    public static long minimumStagingBytes(int chunkBytes, int encoderThreads) {
        return 4L * (chunkBytes + (chunkBytes >> 7) + 1024) * (encoderThreads + 1);
    }

    /**
     * The longest deadline or shutdown grace taken: 100 years, for "no deadline". The engine counts them in
     * nanoseconds, which a {@code long} holds for 292 years; a longer one failed with an ArithmeticException at open
     * (or in the shutdown hook), after the checkpointer's threads had started, instead of here. The GC grace is not
     * counted so and stays unbounded ({@code cairn import} collects nothing for 1,000 years).
     */
    static final Duration LONGEST = Duration.ofDays(36_500);

    /** Builds a {@link CairnConfig}. */
    public static final class Builder {
        private final String run;
        private final List<TierConfig> tiers = new ArrayList<>();
        private int chunkBytes = DEFAULT_CHUNK_BYTES;
        private long stagingBytes = DEFAULT_STAGING_BYTES;
        // One per core, at most DEFAULT_MAX_ENCODERS: a 192-core node's default would need more staging than the
        // default holds (minimumStagingBytes), and failed to build with settings its user never set.
        private int encoderThreads = Math.min(DEFAULT_MAX_ENCODERS, Math.max(1, Runtime.getRuntime().availableProcessors()));
        private int compressionLevel = DEFAULT_COMPRESSION_LEVEL;
        private Duration gcGrace = DEFAULT_GC_GRACE;
        private int gcSweepEvery = DEFAULT_GC_SWEEP_EVERY;
        private boolean readRowsAhead = true;
        private Duration deadline = DEFAULT_DEADLINE;
        private int rank;
        private int worldSize = 1;
        private Coordinator coordinator;
        private int differentialFullEvery = DEFAULT_DIFFERENTIAL_FULL_EVERY;
        private Pattern lossyEntries;
        private int lossyMantissaBits;
        private Object meterRegistry;
        private WhenBusy whenBusy = DEFAULT_WHEN_BUSY;
        private Duration persistOnShutdown;
        private boolean prefaultStaging;
        private boolean prepareFirstSave;

        private Builder(String run) {
            this.run = EntryNames.checkSegment("run name", run);
        }

        /** Adds a tier; add them fastest first. */
        public Builder tier(TierConfig tier) {
            tiers.add(tier);
            return this;
        }

        public Builder chunkBytes(int bytes) {
            if (bytes < MIN_CHUNK_BYTES || bytes > MAX_CHUNK_BYTES) {
                throw config("chunkBytes must be in [" + MIN_CHUNK_BYTES + ", " + MAX_CHUNK_BYTES + "], was " + bytes);
            }
            this.chunkBytes = bytes;
            return this;
        }

        public Builder stagingBytes(long bytes) {
            if (bytes <= 0) {
                throw config("stagingBytes must be positive, was " + bytes);
            }
            this.stagingBytes = bytes;
            return this;
        }

        public Builder encoderThreads(int n) {
            if (n < 1 || n > 256) {
                throw config("encoderThreads must be in [1, 256], was " + n);
            }
            this.encoderThreads = n;
            return this;
        }

        public Builder compressionLevel(int level) {
            if (level < -7 || level > 22) {
                throw config("compressionLevel must be a zstd level in [-7, 22], was " + level);
            }
            this.compressionLevel = level;
            return this;
        }

        public Builder gcGrace(Duration grace) {
            if (grace == null || grace.isNegative()) {
                throw config("gcGrace must be zero or positive, was " + grace);
            }
            this.gcGrace = grace;
            return this;
        }

        /**
         * How often garbage collection sweeps a whole tier, in commits to that tier (default
         * {@value #DEFAULT_GC_SWEEP_EVERY}). After every commit, retention retires the steps beyond the tier's
         * keepLast and deletes the chunks that only they referenced, learned from their manifests, with no listing.
         * What only a listing finds (the files of saves that never committed, chunks a crashed save wrote, steps
         * committed by another process) waits for a sweep: once {@code commits} commits were counted in the tier since
         * its last sweep, and at each explicit {@link Checkpointer#gc} or {@code cairn gc}. The count is kept in the
         * tier (a small object, {@code <run>/gc/SWEEP}, read once by each process and written ahead by
         * {@code commits / 10} commits at a time), so it outlives the processes: a job that restarts more often than
         * every {@code commits} commits still sweeps (each process counts at least its own commits, at most
         * {@code commits / 10} more), and no process's first commit lists every chunk. Deletions a stopped process
         * still had pending (they live in its memory) wait for that sweep. 1 sweeps after every commit; 0 never after
         * commits.
         */
        public Builder gcSweepEvery(int commits) {
            if (commits < 0) {
                throw config("gcSweepEvery must be zero (never after commits) or a positive number of commits, was "
                        + commits);
            }
            this.gcSweepEvery = commits;
            return this;
        }

        /**
         * On (the default): at open, after reading each tier's newest MANIFEST (which every process does), a process of
         * a multi-rank run of the newest step's world size, at most 125 ranks, also reads the rank index (and the pages of
         * a format-5 directory) of its own rows and of rank 0's (the entries saved once for all ranks), and keeps them
         * for its first restore, which takes them instead of reading them: a replacement of a lost rank then pays those
         * reads, their parsing and their first compilation while it builds its model, not inside its restore. The cost:
         * up to two indexes a tier read at every open of such a process, restored or not, even where the first restore
         * asks for other slices (a resharding restore on the same world size). Off: a restore reads exactly the metadata
         * of the slices it asks for, and nothing is read at open but the MANIFEST.
         */
        public Builder readRowsAhead(boolean on) {
            this.readRowsAhead = on;
            return this;
        }

        public Builder deadline(Duration d) {
            if (d == null || d.isNegative() || d.isZero() || d.compareTo(LONGEST) > 0) {
                throw config("deadline must be positive, at most " + LONGEST.toDays() + " days, was " + d);
            }
            this.deadline = d;
            return this;
        }

        /**
         * Makes this process rank {@code rank} of {@code worldSize} ranks that save each checkpoint together. Every
         * tier must then be shared by all ranks (object storage, a shared file system, or the peer-memory tier):
         * rank 0 commits a step once every rank's index is in the tier.
         */
        public Builder rank(int rank, int worldSize) {
            if (worldSize < 1 || worldSize > 1 << 20) {
                throw config("worldSize must be in [1, " + (1 << 20) + "], was " + worldSize);
            }
            if (rank < 0 || rank >= worldSize) {
                throw config("rank must be in [0, " + worldSize + "), was " + rank);
            }
            this.rank = rank;
            this.worldSize = worldSize;
            return this;
        }

        /**
         * What a save does while an earlier one is still being persisted into its first tier: {@link WhenBusy#WAIT}
         * (the default: the checkpoint is taken, and {@code save()} waits while staging is full) or
         * {@link WhenBusy#SKIP} (the save is skipped at once and counted; a later step is taken instead). The default
         * takes every checkpoint a user asked for, as PyTorch DCP and Orbax do; per-step checkpointing, where the next
         * step's checkpoint replaces this one within a step's time, wants {@code SKIP}, so that training never waits
         * for persistence.
         */
        public Builder whenBusy(WhenBusy policy) {
            if (policy == null) {
                throw config("whenBusy must be WAIT or SKIP, was null");
            }
            this.whenBusy = policy;
            return this;
        }

        /**
         * Save on preemption (opt-in; off by default): when the JVM shuts down (SIGTERM from a spot reclaim or a
         * Kubernetes eviction, {@code System.exit}), the checkpointer waits for the saves in flight to reach their
         * first tier, then promotes the newest step committed in the first tier to every slower tier that lacks it,
         * whatever their intervals, and commits it there, all within {@code grace} (set it below the platform's
         * grace period, e.g. 25 s of Kubernetes' 30). A promotion that runs out of time leaves nothing committed
         * (its MANIFEST is written last). Runs as a JVM shutdown hook, so it needs the JVM to run its hooks: not
         * after SIGKILL.
         */
        public Builder persistOnShutdown(Duration grace) {
            if (grace == null || grace.isNegative() || grace.isZero() || grace.compareTo(LONGEST) > 0) {
                throw config("persistOnShutdown grace must be positive, at most " + LONGEST.toDays() + " days, was "
                        + grace);
            }
            this.persistOnShutdown = grace;
            return this;
        }

        /**
         * Opt-in: allocate all of {@link #stagingBytes} at open and write each page once, on a background thread, so
         * that the first saves pay neither the allocation nor the page faults (without it staging grows as saves
         * need it, and the first save of a large state stalls several times longer than later ones). The cost: the
         * whole staging budget is resident from the open on, and a core is busy for the moments it takes to touch
         * it (about 0.1-0.3 s per GiB here).
         */
        public Builder prefaultStaging(boolean on) {
            this.prefaultStaging = on;
            return this;
        }

        /**
         * Opt-in, for checkpointing every step: no first-save cliff. {@code open} returns only once (1) all of
         * {@link #stagingBytes} is allocated and each page written, on the caller's thread ({@link #prefaultStaging}'s
         * memory cost, without its background thread), and (2) the save path's code has run: the first checkpointer
         * opened with this in a JVM saves a small synthetic state (a chunk-sized tensor, small tensors, optimizer
         * state, a blob) {@value #PREPARE_SAVES} times, each until committed, into a private in-memory store of its
         * own under a run of its own, with this configuration's chunk size and encoder threads, then closes it and
         * frees what it used. Nothing is written to this configuration's tiers. Without it, the first save of a
         * process also loads and first runs the copy, pipeline and commit code: 30-60 ms for the examples' 4.4 MB
         * MLP here, against 0.5-0.6 ms for later saves; with it, 1.0-1.5 ms (a 605 MB model's: 76-112 ms against 64-70 ms). The cost: the first such open of a JVM takes
         * about 1.5 s more (1.9-2.1 s against 0.4-0.5 s here, with a 4 MB state's checkpointer), a core busy
         * meanwhile; later opens in the same JVM only touch their staging.
         */
        public Builder prepareFirstSave(boolean on) {
            this.prepareFirstSave = on;
            return this;
        }

        /** A framework's own barrier for multi-rank commits, instead of waiting on the store. */
        public Builder coordinator(Coordinator c) {
            if (c == null) {
                throw config("coordinator must not be null");
            }
            this.coordinator = c;
            return this;
        }

        /**
         * Differential chunks. A chunk that changed since this checkpointer's previous save is stored as the XOR
         * against the previous version of the same position (same entry, same offset, same length), compressed with
         * zstd, when that is smaller than the whole chunk and the save's first tier still holds the previous version.
         * Its stored form names its base, and a restore follows the chain to the nearest whole chunk, checking every
         * link's hash. Only the first tier of a save holds differential chunks, and only one that compresses (a tier
         * in memory does only where it sets {@link TierConfig#compressionLevel(int)}); promotion stores them whole in slower
         * tiers. Every {@code fullEvery}-th version of a position is stored whole, which bounds both the chain a
         * restore reads and the work a save does to rebuild the previous version. {@code 1} turns it off.
         * Default {@value #DEFAULT_DIFFERENTIAL_FULL_EVERY}. Single-rank runs only: with several ranks chunks are always stored
         * whole (two ranks could store one content hash in two forms).
         */
        public Builder differential(int fullEvery) {
            if (fullEvery < 1 || fullEvery > MAX_DIFFERENTIAL_FULL_EVERY) {
                throw config("differential fullEvery must be in [1, " + MAX_DIFFERENTIAL_FULL_EVERY + "] (1 turns it off), was "
                        + fullEvery);
            }
            this.differentialFullEvery = fullEvery;
            return this;
        }

        /**
         * Lossy mode, for optimizer moments only (Adam's first and second moments tolerate a relative error far
         * larger than rounding): float tensors marked {@link Tensor#asOptimizerState()} whose whole name matches
         * {@code entryNamePattern} (a
         * {@link Pattern} regex, e.g. {@code "optim/.*\\.(exp_avg|exp_avg_sq)"}) have each value rounded to
         * {@code mantissaBits} mantissa bits, to nearest, ties to even, so its relative error is at most
         * 2<sup>-(mantissaBits+1)</sup>. NaN (payload included), infinities, zeros, -0.0 and subnormals are kept
         * exactly, and a value that would round to infinity is kept exactly. Dtypes with at most {@code mantissaBits}
         * mantissa bits (bf16 has 7, f16 10, f32 23, f64 52) are stored losslessly. The content hash is of the
         * rounded bytes, so every restore is still verified exactly; the manifest records the bound per chunk and a
         * restore names each lossy entry and its bound in {@link RestoreResult#warnings()}. Off by default; weights
         * are never lossy: a save in which the pattern names a float tensor it would round that is not marked as
         * optimizer state fails with {@code INVALID_INPUT} before anything is written.
         */
        public Builder lossy(String entryNamePattern, int mantissaBits) {
            if (entryNamePattern == null || entryNamePattern.isEmpty()) {
                throw config("lossy needs a pattern of entry names");
            }
            if (mantissaBits < 1 || mantissaBits > 51) {
                throw config("lossy mantissaBits must be in [1, 51], was " + mantissaBits);
            }
            try {
                this.lossyEntries = Pattern.compile(entryNamePattern);
            } catch (PatternSyntaxException e) {
                throw config("lossy pattern '" + entryNamePattern + "' is not a regular expression: " + e.getDescription());
            }
            this.lossyMantissaBits = mantissaBits;
            return this;
        }

        /**
         * Publishes the engine's metrics (save stall, bytes, time to commit, promotion lag, restores, GC, staging, and
         * the stores' own counts such as the peer tier's replication) to {@code registry}, which must be an
         * {@code io.micrometer.core.instrument.MeterRegistry}. The parameter is an {@code Object} so that this module,
         * and every application that sets no registry, needs no Micrometer: the type is checked here by name, and
         * only a configured registry makes the engine load its Micrometer binding. Meters are tagged {@code run},
         * {@code rank} and {@code tier}, never by step or chunk; the README lists them.
         */
        public Builder meterRegistry(Object registry) {
            if (registry == null) {
                throw config("meterRegistry must not be null");
            }
            if (!isMeterRegistry(registry.getClass())) {
                throw config("meterRegistry must be an io.micrometer.core.instrument.MeterRegistry, was "
                        + registry.getClass().getName());
            }
            this.meterRegistry = registry;
            return this;
        }

        private static boolean isMeterRegistry(Class<?> type) {
            for (Class<?> c = type; c != null; c = c.getSuperclass()) {
                if (c.getName().equals("io.micrometer.core.instrument.MeterRegistry")) {
                    return true;
                }
            }
            return false;
        }

        public CairnConfig build() {
            if (tiers.isEmpty()) {
                throw config("run '" + run + "' has no tier: add at least one with tier(...)");
            }
            Set<String> names = new HashSet<>();
            for (int i = 0; i < tiers.size(); i++) {
                TierConfig t = tiers.get(i);
                if (!names.add(t.name())) {
                    throw config("two tiers are named '" + t.name() + "'");
                }
                // Two tiers of one run in one store share its keys: one's retention would retire what the other keeps,
                // and the second would add no copy. A store outside this process is told by where its objects are (its
                // location(): a directory by its real path, however the tiers spell it); one in memory only by being
                // the same object.
                for (TierConfig other : tiers.subList(0, i)) {
                    boolean samePlace = !t.store().inMemory() && !other.store().inMemory()
                            && t.store().location().equals(other.store().location());
                    if (t.store() == other.store() || samePlace) {
                        throw config("tiers '" + other.name() + "' and '" + t.name() + "' are the same store ("
                                + t.store().describe() + "): each tier needs a store of its own");
                    }
                }
            }
            // Staging holds raw chunks waiting for an encoder and encoded chunks waiting for a write: at least two
            // of each per encoder, or the pipeline cannot keep every encoder busy.
            long minimum = minimumStagingBytes(chunkBytes, encoderThreads);
            if (stagingBytes < minimum) {
                throw config("stagingBytes " + stagingBytes + " is below the minimum of " + minimum
                        + " for chunkBytes " + chunkBytes + " and " + encoderThreads + " encoder threads");
            }
            // A non-zero rank tells "committed, then retired by rank 0" from "never committed" by its index being
            // gone; uncommitted steps' files must therefore outlive every wait for a commit.
            // Twice, for clocks: the store's timestamps and the collector's clock may disagree.
            if (worldSize > 1 && gcGrace.compareTo(deadline.multipliedBy(2)) < 0) {
                throw config("gcGrace " + gcGrace + " must be at least twice the deadline " + deadline + " when several"
                        + " ranks save one checkpoint (worldSize " + worldSize + ")");
            }
            return new CairnConfig(this);
        }

        private static CheckpointException config(String message) {
            return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
        }
    }
}
