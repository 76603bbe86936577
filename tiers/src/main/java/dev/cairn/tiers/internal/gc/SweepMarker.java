package dev.cairn.tiers.internal.gc;

import dev.cairn.tiers.internal.Tier;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.OptionalLong;

/**
 * The tier's record of its sweep schedule ({@code StoreLayout#sweepKey}): the commits counted towards the next sweep
 * for orphans since the last one, as a line {@code cairn-sweep 1 <count>}. A running checkpointer's sweep writes 0
 * ({@code cairn gc}'s writes nothing: the command line creates no object of a run), and {@link SweepSchedule} counts
 * commits into it. One small
 * object of a tier, read once by a process and written every few commits: it decides when a sweep runs, never what
 * a collection deletes, so a marker lost, unreadable or raced by two writers only moves a sweep earlier or later.
 */
final class SweepMarker {
    private static final String HEADER = "cairn-sweep 1 ";
    private static final int MAX_BYTES = 64;

    private SweepMarker() {
    }

    /** The count the marker holds; empty when there is none, or none this release reads. */
    static OptionalLong read(Tier tier) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(MAX_BYTES + 1);
        try {
            tier.store().read(tier.layout().sweepKey(), 0, body);
        } catch (NoSuchFileException none) {
            return OptionalLong.empty();
        }
        String text = new String(body.array(), 0, body.position(), StandardCharsets.US_ASCII).trim();
        if (body.position() > MAX_BYTES || !text.startsWith(HEADER)) {
            return OptionalLong.empty();
        }
        try {
            long count = Long.parseLong(text.substring(HEADER.length()));
            return count >= 0 ? OptionalLong.of(count) : OptionalLong.empty();
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** Puts {@code count} into the marker. */
    static void write(Tier tier, long count) throws IOException {
        byte[] body = (HEADER + count + "\n").getBytes(StandardCharsets.US_ASCII);
        tier.store().put(tier.layout().sweepKey(), ByteBuffer.wrap(body));
    }
}
