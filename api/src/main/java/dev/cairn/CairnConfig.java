package dev.cairn;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Everything a {@link Checkpointer} needs, immutable. Every setter of the {@link Builder} checks its value at once;
 * {@link Builder#build()} checks the combinations. Defaults live here and nowhere else.
 */
public final class CairnConfig {
    public static final int DEFAULT_CHUNK_BYTES = 4 << 20;
    public static final long DEFAULT_STAGING_BYTES = 2L << 30;
    public static final int DEFAULT_COMPRESSION_LEVEL = 1;
    public static final Duration DEFAULT_GC_GRACE = Duration.ofMinutes(10);
    public static final Duration DEFAULT_DEADLINE = Duration.ofMinutes(2);
    static final int MIN_CHUNK_BYTES = 4 << 10;
    static final int MAX_CHUNK_BYTES = 256 << 20;

    private final String run;
    private final List<TierConfig> tiers;
    private final int chunkBytes;
    private final long stagingBytes;
    private final int encoderThreads;
    private final int compressionLevel;
    private final Duration gcGrace;
    private final Duration deadline;
    private final int rank;
    private final int worldSize;
    private final Coordinator coordinator;

    private CairnConfig(Builder b) {
        this.run = b.run;
        this.tiers = List.copyOf(b.tiers);
        this.chunkBytes = b.chunkBytes;
        this.stagingBytes = b.stagingBytes;
        this.encoderThreads = b.encoderThreads;
        this.compressionLevel = b.compressionLevel;
        this.gcGrace = b.gcGrace;
        this.deadline = b.deadline;
        this.rank = b.rank;
        this.worldSize = b.worldSize;
        this.coordinator = b.coordinator;
    }

    public static Builder builder(String run) {
        return new Builder(run);
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

    /** zstd level for chunks. */
    public int compressionLevel() {
        return compressionLevel;
    }

    /** Unreferenced chunks and uncommitted steps younger than this are left alone by GC (they may belong to a save in flight). */
    public Duration gcGrace() {
        return gcGrace;
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

    /** The smallest staging budget that keeps every encoder fed: two raw and two encoded chunks per encoder, plus slack. */
    public static long minimumStagingBytes(int chunkBytes, int encoderThreads) {
        return 4L * (chunkBytes + (chunkBytes >> 7) + 1024) * (encoderThreads + 1);
    }

    /** Builds a {@link CairnConfig}. */
    public static final class Builder {
        private final String run;
        private final List<TierConfig> tiers = new ArrayList<>();
        private int chunkBytes = DEFAULT_CHUNK_BYTES;
        private long stagingBytes = DEFAULT_STAGING_BYTES;
        private int encoderThreads = Math.max(1, Runtime.getRuntime().availableProcessors());
        private int compressionLevel = DEFAULT_COMPRESSION_LEVEL;
        private Duration gcGrace = DEFAULT_GC_GRACE;
        private Duration deadline = DEFAULT_DEADLINE;
        private int rank;
        private int worldSize = 1;
        private Coordinator coordinator;

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

        public Builder deadline(Duration d) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw config("deadline must be positive, was " + d);
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

        /** A framework's own barrier for multi-rank commits, instead of waiting on the store. */
        public Builder coordinator(Coordinator c) {
            if (c == null) {
                throw config("coordinator must not be null");
            }
            this.coordinator = c;
            return this;
        }

        public CairnConfig build() {
            if (tiers.isEmpty()) {
                throw config("run '" + run + "' has no tier: add at least one with tier(...)");
            }
            Set<String> names = new HashSet<>();
            for (TierConfig t : tiers) {
                if (!names.add(t.name())) {
                    throw config("two tiers are named '" + t.name() + "'");
                }
            }
            // Staging holds raw chunks waiting for an encoder and encoded chunks waiting for a write: at least two
            // of each per encoder, or the pipeline cannot keep every encoder busy.
            long minimum = minimumStagingBytes(chunkBytes, encoderThreads);
            if (stagingBytes < minimum) {
                throw config("stagingBytes " + stagingBytes + " is below the minimum of " + minimum
                        + " for chunkBytes " + chunkBytes + " and " + encoderThreads + " encoder threads");
            }
            return new CairnConfig(this);
        }

        private static CheckpointException config(String message) {
            return new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, message);
        }
    }
}
