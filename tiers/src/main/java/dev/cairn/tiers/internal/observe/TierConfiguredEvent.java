package dev.cairn.tiers.internal.observe;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/**
 * A tier as configured, once per tier when a checkpointer opens: {@code cairn report} sets the configured interval
 * beside the one it recommends.
 */
@Name(TierConfiguredEvent.NAME)
@Label("Cairn Tier Configured")
@Category("cairn")
@StackTrace(false)
final class TierConfiguredEvent extends jdk.jfr.Event {
    static final String NAME = "cairn.TierConfigured";

    @Label("Run")
    String run;
    @Label("Rank")
    int rank;
    @Label("World Size")
    int worldSize;
    @Label("Tier")
    String tier;
    @Label("Index")
    @Description("0 for the fastest tier")
    int index;
    @Label("Store")
    String store;
    @Label("Every Steps")
    long everySteps;
    @Label("Keep Last")
    int keepLast;
    @Label("Compression Level")
    @Description("zstd level of the tier's chunks; not used when the tier is uncompressed")
    int compressionLevel;
    @Label("Uncompressed")
    @Description("whether the tier stores chunks uncompressed (codec raw)")
    boolean uncompressed;
    @Label("Chunk Bytes")
    @DataAmount
    int chunkBytes;
    @Label("Staging Limit")
    @DataAmount
    long stagingLimit;
}
