package dev.cairn.backend.flight;

import java.util.ArrayList;
import java.util.List;

/**
 * Which peers hold the replicas of what a peer writes. A ring: peer {@code p} at position {@code i} of its group
 * replicates to the peers at positions {@code i+1 .. i+k} (mod the group's size). The default is one group of
 * every peer in index order.
 */
final class Placement {
    private final List<List<Integer>> targets;

    private Placement(List<List<Integer>> targets) {
        this.targets = targets;
    }

    static Placement ring(int peerCount, int k) {
        List<Integer> all = new ArrayList<>();
        for (int p = 0; p < peerCount; p++) {
            all.add(p);
        }
        return ringWithinGroups(peerCount, k, List.of(all));
    }

    static Placement ringWithinGroups(int peerCount, int k, List<List<Integer>> groups) {
        List<List<Integer>> targets = new ArrayList<>(peerCount);
        for (int p = 0; p < peerCount; p++) {
            targets.add(List.of());
        }
        for (List<Integer> group : groups) {
            int size = group.size();
            for (int i = 0; i < size; i++) {
                List<Integer> mine = new ArrayList<>();
                for (int step = 1; step <= Math.min(k, size - 1); step++) {
                    mine.add(group.get((i + step) % size));
                }
                targets.set(group.get(i), List.copyOf(mine));
            }
        }
        return new Placement(List.copyOf(targets));
    }

    List<Integer> targetsOf(int peer) {
        return targets.get(peer);
    }
}
