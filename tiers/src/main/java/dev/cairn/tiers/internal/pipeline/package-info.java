/**
 * The save pipeline: capture into bounded off-heap staging, then one Disruptor ring whose encoder handlers split
 * the chunks among themselves ({@code sequence % N == k}) to hash and compress them, followed by one writer that
 * hands each chunk to its tiers' I/O threads. A failure fails that checkpoint's futures, never the ring's threads.
 */
package dev.cairn.tiers.internal.pipeline;
