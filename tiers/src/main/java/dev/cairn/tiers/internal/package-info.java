/**
 * The engine's own classes, public only so that its packages can reach each other: not API, and free to change in
 * any release. Applications and tools use {@code dev.cairn} ({@link dev.cairn.Checkpointer},
 * {@link dev.cairn.CheckpointAdmin}). Here: {@link dev.cairn.tiers.internal.Tier}, a configured tier at run time,
 * with its {@link dev.cairn.tiers.internal.ChunkCatalog} and the {@link dev.cairn.tiers.internal.ChunkForms} a save
 * reuses; beneath, one package per concern ({@code codec}, {@code manifest}, {@code save}: admission of a save,
 * {@code pipeline}, {@code commit}, {@code promote}, {@code restore}, {@code gc}, {@code layout}, {@code lifecycle}:
 * open, close and the shutdown hook, and {@code observe}: Flight Recorder events, optional Micrometer meters and
 * logging).
 */
package dev.cairn.tiers.internal;
