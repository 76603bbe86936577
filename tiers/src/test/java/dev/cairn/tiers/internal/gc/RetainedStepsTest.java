package dev.cairn.tiers.internal.gc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * What a collection knows of a tier's steps while a committing thread makes it forget (rank 0 of a multi-rank run
 * collects on a thread of its own; a commit whose outcome is unknown forgets): the forget must win over a listing
 * or a collection that began before it.
 */
class RetainedStepsTest {
    @Test
    void aForgetDuringALearningKeepsTheStepsUnknown() {
        RetainedSteps steps = new RetainedSteps();
        long listedIn = steps.generation(); // the background collection lists the steps
        steps.add(1, 1, List.of(), Set.of("a"));
        steps.forget(); // a commit's outcome is unknown
        steps.add(2, 1, List.of(), Set.of("b")); // the listing goes on
        steps.markKnown(listedIn);
        assertFalse(steps.known(), "step 1 is no longer held, so the held steps are not complete");
        steps.markKnown(steps.generation());
        assertTrue(steps.known());
    }

    @Test
    void aForgetDuringASweepKeepsTheStepsUnknown() {
        RetainedSteps steps = new RetainedSteps();
        long listedIn = steps.generation();
        steps.forget();
        steps.reconcile(Map.of(2L, new RetainedSteps.Step(2, 1, List.of(), Set.of("b"))), List.of(), listedIn);
        assertFalse(steps.known());
    }

    @Test
    void nothingPendingIsDueWhileTheStepsAreForgotten() {
        RetainedSteps steps = new RetainedSteps();
        steps.reconcile(Map.of(), List.of(), steps.generation());
        steps.pend(List.of("old"), 0); // a retired step's chunk, pinned when it was due
        steps.add(3, 1, List.of(), Set.of("old")); // a newer step names it again...
        steps.forget(); // ...and the references are dropped before the next collection sees that
        assertEquals(List.of(), steps.due(Long.MAX_VALUE));
    }

    @Test
    void aCollectionBegunBeforeAForgetSparesEveryChunk() {
        RetainedSteps steps = new RetainedSteps();
        long began = steps.generation();
        assertFalse(steps.spares("x", began));
        steps.add(1, 1, List.of(), Set.of("x"));
        assertTrue(steps.spares("x", began));
        steps.forget();
        assertTrue(steps.spares("x", began), "references are incomplete after a forget");
        assertTrue(steps.spares("y", began));
        assertFalse(steps.spares("y", steps.generation()));
    }
}
