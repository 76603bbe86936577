package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointAdmin;
import dev.cairn.Checkpointer;
import dev.cairn.CheckpointerProvider;
import dev.cairn.StoreRef;
import java.util.List;

/** Lets {@link Checkpointer#open} and {@link CheckpointAdmin#open} find this engine through {@link java.util.ServiceLoader}. */
public final class CairnCheckpointerProvider implements CheckpointerProvider {
    @Override
    public Checkpointer open(CairnConfig config) {
        return new CairnCheckpointer(config);
    }

    @Override
    public CheckpointAdmin admin(List<StoreRef> stores) {
        return new CairnAdmin(stores);
    }
}
