package dev.cairn.bench;

import java.util.List;

/** What every benchmark run hands back: its figures and the comparisons between them, looked up by key. */
public interface MeasuredRun {
    List<Figure> figures();

    List<Comparison> comparisons();

    default Figure figure(String key) {
        return figures().stream().filter(f -> f.key().equals(key)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no figure " + key));
    }

    default Comparison comparison(String key) {
        return comparisons().stream().filter(c -> c.key().equals(key)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no comparison " + key));
    }

    /** Whether every comparison with a goal met it. */
    default boolean goalsMet() {
        return comparisons().stream().allMatch(Comparison::met);
    }
}
