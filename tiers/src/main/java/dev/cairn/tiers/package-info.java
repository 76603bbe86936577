/**
 * Cairn's engine. {@link dev.cairn.tiers.CairnCheckpointer} wires the save pipeline ({@code pipeline}), the commit
 * protocol ({@code commit}), the manifest format ({@code manifest}), retention and GC ({@code gc}) and restore
 * ({@code restore}) over the configured {@link dev.cairn.tiers.Tier}s. Applications use only {@code dev.cairn}.
 */
package dev.cairn.tiers;
