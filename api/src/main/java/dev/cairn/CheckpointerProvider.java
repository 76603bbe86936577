package dev.cairn;

/** Service interface the engine implements, found by {@link Checkpointer#open} through {@link java.util.ServiceLoader}. */
public interface CheckpointerProvider {
    Checkpointer open(CairnConfig config);
}
