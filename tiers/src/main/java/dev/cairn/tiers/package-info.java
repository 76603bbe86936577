/**
 * Cairn's engine. {@link dev.cairn.tiers.CairnCheckpointer} wires the save pipeline ({@code pipeline}), the commit
 * protocol ({@code commit}), the manifest format ({@code manifest}), retention and GC ({@code gc}) and restore
 * ({@code restore}) over the configured {@link dev.cairn.tiers.Tier}s; {@code CairnAdmin} sees stores from outside
 * a run through the same classes. Both are found by {@link dev.cairn.tiers.CairnCheckpointerProvider}. Applications
 * and tools use only {@code dev.cairn}.
 */
package dev.cairn.tiers;
