package dev.cairn.tiers.internal.commit;

import dev.cairn.tiers.internal.layout.StoreLayout;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Which listings of a step's indexes rank 0 asks for while it waits for the ranks' indexes ({@code RankCommit}):
 * the listing of every index ({@code rank-}), or, when that is more than one page, the listings of the key prefixes
 * of the ranks still missing ({@code rank-9}, {@code rank-96}, {@code rank-9.} for rank 9 alone), side by side. A
 * store pages a listing by {@value #PAGE_KEYS} keys, one request after another (S3's continuation token), so the
 * listing of 10,000 indexes is 10 round trips; the ranks land in rank order (each spreads its PUT by its rank), so
 * the ranks still missing near the end share a few prefixes whose listings are a page each, read in one round trip.
 * A prefix is split into the prefixes of its missing ranks only while the pages of all the listings stay at most
 * those of the listing of every index: never more LIST requests than that listing, at most its round trips.
 */
final class IndexListing {
    /** Keys in one page of a listing, as S3 returns them. */
    static final int PAGE_KEYS = 1000;
    private static final String RANK_PREFIX = "rank-";

    private IndexListing() {
    }

    /**
     * The rank prefixes to list ({@code ""} for every index, a rank's leading digits, or a rank and {@code "."} for
     * that rank alone) so that every rank of {@code missing} (ranks 1 to {@code world - 1}) is under one of them;
     * empty when none is missing.
     */
    static List<String> prefixes(int world, Collection<Integer> missing) {
        if (missing.isEmpty()) {
            return List.of();
        }
        List<String> names = new ArrayList<>(missing.size());
        for (int r : missing) {
            names.add(Integer.toString(r));
        }
        long budget = pages(world, "");
        long total = budget;
        PriorityQueue<Group> groups = new PriorityQueue<>((a, b) -> Long.compare(b.pages, a.pages));
        groups.add(new Group("", budget));
        List<Group> done = new ArrayList<>();
        while (!groups.isEmpty()) {
            Group widest = groups.poll();
            List<Group> children = widest.pages > 1 ? children(world, widest.prefix, names) : List.of();
            long cost = total - widest.pages + children.stream().mapToLong(g -> g.pages).sum();
            if (children.isEmpty() || cost > budget) {
                done.add(widest);
                continue;
            }
            total = cost;
            groups.addAll(children);
        }
        return done.stream().map(g -> g.prefix).sorted().toList();
    }

    /** The key prefix under which {@code prefix} (of {@link #prefixes}) lists indexes of {@code step}. */
    static String keyPrefix(StoreLayout layout, long step, String prefix) {
        return layout.stepPrefix(step) + RANK_PREFIX + prefix;
    }

    private record Group(String prefix, long pages) {
    }

    /** The groups under {@code prefix} that hold a missing rank ({@code names}, in decimal). */
    private static List<Group> children(int world, String prefix, List<String> names) {
        boolean[] digit = new boolean[10];
        boolean exact = false;
        for (String n : names) {
            if (!n.startsWith(prefix)) {
                continue;
            }
            if (n.length() == prefix.length()) {
                exact = true;
            } else {
                digit[n.charAt(prefix.length()) - '0'] = true;
            }
        }
        List<Group> out = new ArrayList<>();
        if (exact) {
            out.add(new Group(prefix + ".", 1));
        }
        for (int d = 0; d < 10; d++) {
            if (digit[d]) {
                out.add(new Group(prefix + d, pages(world, prefix + d)));
            }
        }
        return out;
    }

    /** Pages of the listing of {@code prefix} once every rank's index is there: one at least. */
    static long pages(int world, String prefix) {
        long keys = 0;
        if (prefix.isEmpty()) {
            keys = world;
        } else {
            long head = Long.parseLong(prefix);
            for (long scale = 1; head * scale < world; scale *= 10) {
                keys += Math.min(world, (head + 1) * scale) - head * scale;
                if (head == 0) {
                    break; // "0" is rank 0 alone: no rank's name starts with a 0 otherwise
                }
            }
        }
        return Math.max(1, (keys + PAGE_KEYS - 1) / PAGE_KEYS);
    }
}
