/**
 * A running checkpointer's life: whether it is open (saves are admitted under its monitor), its persist-on-shutdown
 * hook, and the order in which close stops the parts {@code CairnCheckpointer} wired, allocators last so that their
 * leak check sees every buffer that was not given back.
 */
package dev.cairn.tiers.internal.lifecycle;
