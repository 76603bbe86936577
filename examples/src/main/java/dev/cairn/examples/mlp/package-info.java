/**
 * A small MLP trained with DJL on PyTorch, whose whole training state (parameters, Adam moments and step count,
 * data position) is checkpointed with Cairn and restored bit for bit. {@link dev.cairn.examples.mlp.TrainMain}
 * is the training process; the other classes are its parts.
 */
package dev.cairn.examples.mlp;
