/**
 * Cairn linked into DJL: {@link dev.cairn.djl.CairnTrainingListener}, a {@code TrainingListener} that checkpoints a
 * {@code Trainer} (parameters, {@link dev.cairn.djl.CheckpointableAdam}'s moments, step and epoch counters, the
 * user's {@link dev.cairn.djl.UserState}) every few steps and at epoch ends, and resumes a fresh Trainer from the
 * newest committed checkpoint.
 */
package dev.cairn.djl;
