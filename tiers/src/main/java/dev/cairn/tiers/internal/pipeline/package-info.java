/**
 * The save pipeline: a save's immutable {@code SavePlan}, capture into bounded off-heap staging, one feeder thread
 * that fetches what each chunk needs from outside memory (the tier's catalog, an output slab, the delta base of a
 * chunk whose hash shows it changed: {@code DeltaBases}) and publishes it to one Disruptor ring, whose encoder handlers split the chunks among themselves
 * ({@code sequence % N == k}) to hash and compress them (into an uncompressed tier: to hash them and store them raw,
 * straight from staging into a tier in memory) and hand each to the first tier's I/O threads ({@code ChunkWriter}). The handlers only compute. What each chunk became is kept in the job's {@code ChunkResults};
 * the caller holds its {@code SaveHandle}; {@code InFlightSaves} holds the jobs not finished yet. A failure fails that checkpoint's futures, never the ring's threads.
 */
package dev.cairn.tiers.internal.pipeline;
