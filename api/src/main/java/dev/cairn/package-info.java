/**
 * Cairn's public surface: build a {@link dev.cairn.CairnConfig}, open a {@link dev.cairn.Checkpointer},
 * {@code save} a {@link dev.cairn.TrainingState} every few steps and {@code restore} it after a failure. Tools
 * inspect and maintain what the stores hold (list, describe, verify, copy, collect) through
 * {@link dev.cairn.CheckpointAdmin}. Storage plugs in through the {@link dev.cairn.ObjectStore} SPI. A run can be
 * configured from a file ({@link dev.cairn.CairnConfig#load}). This package
 * depends on the JDK alone.
 */
package dev.cairn;
