package dev.cairn;

import java.util.List;

/**
 * Service interface the engine implements, found by {@link Checkpointer#open} and {@link CheckpointAdmin#open}
 * through {@link java.util.ServiceLoader}.
 */
public interface CheckpointerProvider {
    Checkpointer open(CairnConfig config);

    CheckpointAdmin admin(List<StoreRef> stores);
}
