package dev.cairn.tiers.internal.manifest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.tiers.internal.codec.ContentHash;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

/** The streamed rows digest equals the hash of the whole canonical text, which every stored manifest was keyed by. */
class RowsDigestProperties {

    @Property(tries = 40)
    void equalsTheHashOfTheWholeTextForAnyLinesAndLength(@ForAll @IntRange(min = 0, max = 400) int lines,
                                                          @ForAll @IntRange(min = 0, max = 3000) int longest,
                                                          @ForAll long seed) {
        Random random = new Random(seed);
        List<String> text = new ArrayList<>();
        for (int i = 0; i < lines; i++) {
            text.add(randomLine(random, random.nextInt(longest + 1)));
        }
        for (ContentHash hash : ContentHash.values()) {
            assertEquals(whole(hash, text), RowsDigest.of(hash, text), hash.tag() + " of " + lines + " lines");
        }
    }

    @Test
    void equalsTheWholeHashAroundTheWindowAndForLinesLongerThanIt() {
        Random random = new Random(7);
        for (int total : new int[] {RowsDigest.WINDOW - 1, RowsDigest.WINDOW, RowsDigest.WINDOW + 1, RowsDigest.WINDOW + 63,
                3 * RowsDigest.WINDOW + 17, 5 * RowsDigest.WINDOW}) {
            List<String> oneLine = List.of("x".repeat(total - 1));
            List<String> manyLines = new ArrayList<>();
            for (int n = 0; n < total; ) {
                String s = randomLine(random, Math.min(total - n - 1, random.nextInt(200)));
                manyLines.add(s);
                n += s.getBytes(StandardCharsets.UTF_8).length + 1;
            }
            for (ContentHash hash : ContentHash.values()) {
                assertEquals(whole(hash, oneLine), RowsDigest.of(hash, oneLine), hash.tag() + " " + total);
                assertEquals(whole(hash, manyLines), RowsDigest.of(hash, manyLines), hash.tag() + " " + total);
            }
        }
    }

    private static String whole(ContentHash hash, List<String> lines) {
        StringBuilder b = new StringBuilder();
        lines.forEach(l -> b.append(l).append('\n'));
        return hash.hex(b.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** ASCII mostly, with 2-, 3- and 4-byte characters and a lone surrogate now and then. */
    private static String randomLine(Random random, int length) {
        StringBuilder b = new StringBuilder();
        while (b.length() < length) {
            int kind = random.nextInt(20);
            if (kind == 0) {
                b.append('é');
            } else if (kind == 1) {
                b.append('€');
            } else if (kind == 2) {
                b.appendCodePoint(0x1F600);
            } else if (kind == 3) {
                b.append('\uD800');
            } else {
                b.append((char) ('a' + random.nextInt(26)));
            }
        }
        return b.toString();
    }
}
