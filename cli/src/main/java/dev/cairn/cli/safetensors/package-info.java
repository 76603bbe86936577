/**
 * The safetensors format ({@link dev.cairn.cli.safetensors.SafetensorsFormat}), and export of a checkpoint's tensors
 * into it and import back through the Checkpointer API.
 */
package dev.cairn.cli.safetensors;
