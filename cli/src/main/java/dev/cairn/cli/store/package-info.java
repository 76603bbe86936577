/**
 * How the recovery commands reach checkpoints: {@link dev.cairn.cli.store.StoreUris} turns a store URI into an
 * {@code ObjectStore}, and {@link dev.cairn.cli.store.StoreSession} holds the stores of one command and the engine's
 * {@link dev.cairn.CheckpointAdmin} over them, which lists, describes, verifies, copies and collects checkpoints
 * through the engine's own code. Nothing here uses the engine's classes.
 */
package dev.cairn.cli.store;
