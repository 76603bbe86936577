/**
 * How the recovery commands reach checkpoints: {@link dev.cairn.cli.store.StoreUris} turns a store URI into an
 * {@code ObjectStore}, {@link dev.cairn.cli.store.StoreSession} sees each store as a tier of the run through the
 * engine's own commit protocol, {@link dev.cairn.tiers.restore.ChunkReader} reads and verifies chunks as restore does,
 * and {@link dev.cairn.cli.store.CheckpointCopier} copies a checkpoint in commit order.
 */
package dev.cairn.cli.store;
