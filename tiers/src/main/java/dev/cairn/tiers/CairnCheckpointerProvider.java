package dev.cairn.tiers;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.CheckpointerProvider;

/** Lets {@link Checkpointer#open} find this engine through {@link java.util.ServiceLoader}. */
public final class CairnCheckpointerProvider implements CheckpointerProvider {
    @Override
    public Checkpointer open(CairnConfig config) {
        return new CairnCheckpointer(config);
    }
}
