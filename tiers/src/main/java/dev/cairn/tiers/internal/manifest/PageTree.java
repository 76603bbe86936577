package dev.cairn.tiers.internal.manifest;

import dev.cairn.tiers.internal.layout.StoreLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;

/**
 * Writes the directory of a format-5 MANIFEST of several ranks ({@link Pages}). Every entry of every rank becomes a row
 * naming the rank index that holds its chunk rows ({@link PageRow#of}); the rows, ordered by entry name, slice and
 * rank, go {@value #ROWS_PER_PAGE} to a page of level 1, and each page is named one level up by a row per entry name
 * it holds (the box of those slices, their ranks, and the page's length and SHA-256), and so on until a level has at
 * most {@value #MANIFEST_ROWS} rows, or paging it would not make it smaller (as many entry names as rows): those rows
 * are the MANIFEST's. A rank restoring a slice reads the MANIFEST, then at each level only the pages whose rows may
 * hold what it wants: in all, about {@code levels x entry names} pages, whatever the world.
 * <pre>
 * MANIFEST (level L rows) --sha-256--> MANIFEST.L.k --> ... --> MANIFEST.1.k (level 0 rows) --sha-256--> rank-r.index
 * </pre>
 */
public final class PageTree {
    /**
     * Rows in one page: each restoring rank reads about one page a level per entry name it restores, so pages are
     * small (a page of 32 rows is about 10 KiB with the Arrow file's own 3-4 KiB), at the price of more levels and
     * more PUTs for rank 0 (about {@code ranks x entries / 31}).
     */
    public static final int ROWS_PER_PAGE = 32;
    /**
     * Rows the MANIFEST holds before its rows go into pages: every restoring rank reads it (and asks for its size
     * first), so a MANIFEST of up to 256 rows (about 50 KiB) costs less than a level of pages, whose reads by thousands
     * of ranks at once in the step's one prefix are what S3 would refuse first.
     */
    public static final int MANIFEST_ROWS = 256;
    /** The order of the rows of a level: by entry name, then slice (low corner), then rank. */
    static final Comparator<PageRow> ORDER = Comparator.comparing(PageRow::name)
            .thenComparing((a, b) -> a.low() == null || b.low() == null ? 0 : Arrays.compare(a.low(), b.low()))
            .thenComparingInt(PageRow::firstRank);

    private PageTree() {
    }

    /** One page of the directory, to be put at {@link #key} before the MANIFEST. */
    public record Page(int level, int number, byte[] bytes) {
        public String key(StoreLayout layout, long step, String id) {
            return layout.pageKey(step, id, level, number);
        }
    }

    /**
     * The directory written: the MANIFEST's bytes (the commit), the pages to put before it, and the committed manifest
     * (the merged one, resolved, with the index references and the directory it commits).
     */
    public record Built(Manifest committed, byte[] manifest, List<Page> pages) {
        /** The key of every page, in {@link #pages}' order. */
        public List<String> keys(StoreLayout layout) {
            String id = committed.indexed().pages().id();
            return pages.stream().map(p -> p.key(layout, committed.step(), id)).toList();
        }
    }

    /**
     * The directory of {@code merged} (every rank's entries, inline, as rank 0 merged them from the indexes), whose rank
     * indexes are {@code refs} (by rank, as rank 0 read them).
     */
    public static Built build(Manifest merged, List<IndexRef> refs, BufferAllocator allocator) {
        return build(merged, refs, ROWS_PER_PAGE, MANIFEST_ROWS, allocator);
    }

    static Built build(Manifest merged, List<IndexRef> refs, int rowsPerPage, int manifestRows, BufferAllocator allocator) {
        if (merged.formatVersion() < ManifestFormat.FIRST_WITH_PAGES || merged.worldSize() < 2 || !merged.complete()
                || refs.size() != merged.worldSize() || rowsPerPage < 2 || manifestRows < 1) {
            throw new IllegalArgumentException("step " + merged.step() + " of format " + merged.formatVersion() + " and "
                    + merged.worldSize() + " ranks cannot be paged");
        }
        List<PageRow> rows = new ArrayList<>(merged.entries().size());
        for (EntryRecord e : merged.entries()) {
            rows.add(PageRow.of(e, refs.get(e.rank())));
        }
        rows.sort(ORDER);
        String id = Pages.newId();
        List<Page> pages = new ArrayList<>();
        List<Integer> perLevel = new ArrayList<>();
        int level = 0;
        while (rows.size() > manifestRows && summaryCount(rows, rowsPerPage) < rows.size()) {
            level++;
            List<PageRow> above = new ArrayList<>();
            int number = 0;
            for (int from = 0; from < rows.size(); from += rowsPerPage, number++) {
                List<PageRow> group = rows.subList(from, Math.min(rows.size(), from + rowsPerPage));
                byte[] bytes = ManifestFormat.writeDirectory(merged, group, null, StoreLayout.pageName(id, level, number),
                        allocator);
                pages.add(new Page(level, number, bytes));
                above.addAll(summaries(group, level, number, bytes.length, IndexRef.digestOf(ByteBuffer.wrap(bytes))));
            }
            perLevel.add(number);
            rows = above;
        }
        Pages directory = new Pages(id, rows, perLevel, merged.entries().size(), merged.rawBytes());
        Manifest committed = merged.withPages(refs, directory);
        return new Built(committed, ManifestFormat.writeDirectory(committed, rows, directory, null, allocator), List.copyOf(pages));
    }

    /** Rows the level above {@code rows} would have: one per entry name per page. */
    private static int summaryCount(List<PageRow> rows, int rowsPerPage) {
        int n = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (i % rowsPerPage == 0 || !rows.get(i).name().equals(rows.get(i - 1).name())) {
                n++;
            }
        }
        return n;
    }

    /** A row per entry name in {@code group} (rows of one name are adjacent), naming page {@code level}.{@code number}. */
    private static List<PageRow> summaries(List<PageRow> group, int level, int number, long length, String digest) {
        List<PageRow> out = new ArrayList<>();
        int i = 0;
        while (i < group.size()) {
            PageRow first = group.get(i);
            long[] low = first.low() == null ? null : first.low().clone();
            long[] high = low == null ? null : new long[low.length];
            long bytes = 0;
            int lo = Integer.MAX_VALUE;
            int hi = -1;
            int j = i;
            for (; j < group.size() && group.get(j).name().equals(first.name()); j++) {
                PageRow r = group.get(j);
                bytes = Math.addExact(bytes, r.bytes());
                lo = Math.min(lo, r.firstRank());
                hi = Math.max(hi, r.lastRank());
                if (low != null && r.low() != null && r.low().length == low.length) {
                    for (int d = 0; d < low.length; d++) {
                        low[d] = Math.min(low[d], r.low()[d]);
                        high[d] = Math.max(high[d], r.low()[d] + r.extent()[d]);
                    }
                }
            }
            if (low != null) {
                for (int d = 0; d < low.length; d++) {
                    high[d] -= low[d];
                }
            }
            out.add(new PageRow(first.name(), first.kind(), first.dtype(), first.globalShape(), low, high, bytes, lo, hi, level,
                    number, length, digest));
            i = j;
        }
        return out;
    }
}
