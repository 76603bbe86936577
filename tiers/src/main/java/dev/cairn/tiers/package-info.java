/**
 * Cairn's engine, behind the two entry points of {@code dev.cairn}: {@link dev.cairn.tiers.CairnCheckpointerProvider}
 * gives {@link dev.cairn.Checkpointer#open} a {@link dev.cairn.tiers.CairnCheckpointer}, which wires the save
 * pipeline, the commit protocol, the manifest format, retention and GC and restore over the configured tiers, and
 * gives {@link dev.cairn.CheckpointAdmin#open} a {@code CairnAdmin}, which sees stores from outside a run through
 * the same classes. Those live in {@code dev.cairn.tiers.internal}: not API. Applications and tools use only
 * {@code dev.cairn}.
 */
package dev.cairn.tiers;
