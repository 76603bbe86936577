package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.layout.StoreLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * How a format-5 MANIFEST of several ranks holds its directory: the rows it carries itself ({@code top}, of one level),
 * and how many pages each level below holds ({@code pagesPerLevel}, level 1 first), so that every page key is known
 * from the MANIFEST alone (retention deletes them with it). A restoring rank reads the MANIFEST, then only the pages
 * whose rows may hold its slices, down to the rank indexes it needs ({@link CommittedManifest#select}).
 *
 * @param id         this commit attempt's name for its pages, 16 lower-case hex digits ({@link StoreLayout#pageKey})
 * @param top        the MANIFEST's own rows
 * @param entryCount entries over every rank (rows naming an index, over every page)
 * @param rawBytes   raw bytes of every entry over every rank
 */
public record Pages(String id, List<PageRow> top, List<Integer> pagesPerLevel, long entryCount, long rawBytes) {
    public Pages {
        if (!isId(id)) {
            throw new IllegalArgumentException("directory id '" + id + "'");
        }
        top = List.copyOf(top);
        pagesPerLevel = List.copyOf(pagesPerLevel);
        if (entryCount < 0 || rawBytes < 0 || pagesPerLevel.stream().anyMatch(n -> n < 1)) {
            throw new IllegalArgumentException("page counts " + pagesPerLevel + ", entries " + entryCount);
        }
        int level = pagesPerLevel.size();
        for (PageRow r : top) {
            if (r.level() != level) {
                throw new IllegalArgumentException("row of '" + r.name() + "' names level " + r.level() + " in a MANIFEST of "
                        + level + " page levels");
            }
        }
    }

    static boolean isId(String s) {
        return s != null && s.length() == 16 && s.chars().allMatch(c -> (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }

    /** A new directory id: random, so that two commit attempts of one step never share a page key. */
    static String newId() {
        return String.format("%016x", new java.security.SecureRandom().nextLong());
    }

    /** Every page's key, level 1 first. */
    public List<String> keys(StoreLayout layout, long step) {
        List<String> out = new ArrayList<>();
        for (int level = 1; level <= pagesPerLevel.size(); level++) {
            for (int k = 0; k < pagesPerLevel.get(level - 1); k++) {
                out.add(layout.pageKey(step, id, level, k));
            }
        }
        return out;
    }
}
