/**
 * The memory tier: objects held off-heap by an Arrow allocator, so checkpoints taken every few steps cost a
 * memory copy and no disk write, and the tier's size is bounded by a hard limit rather than by the garbage
 * collector's mood. Depends on the API and Arrow's memory module only.
 */
package dev.cairn.backend.memory;
