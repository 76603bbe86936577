package dev.cairn.backend.fs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.constraints.Chars;
import net.jqwik.api.constraints.StringLength;

class KeyPathsProperties {
    private static final Path ROOT = Path.of("/srv/cairn/root");

    @Property(tries = 2000)
    void anAcceptedKeyNamesAFileStrictlyInsideTheRootAndMapsBackToItself(
            @ForAll @StringLength(max = 16) @Chars({'a', 'b', '.', '/', '\\', '-', 't', 'm', 'p', '\u0000', '\n', ' '}) String key) {
        Path file;
        try {
            file = KeyPaths.resolve(ROOT, key);
        } catch (IOException rejected) {
            Statistics.collect("rejected");
            return;
        }
        Statistics.collect("accepted");
        assertEquals(file.normalize(), file, key);
        assertTrue(file.startsWith(ROOT), key);
        assertNotEquals(ROOT, file, key);
        assertEquals(key, KeyPaths.keyOf(ROOT, file));
        assertTrue(!KeyPaths.isTemporary(file), key);
    }

    @Property(tries = 2000)
    void keysMadeOfOrdinarySegmentsAreAccepted(
            @ForAll @StringLength(min = 1, max = 6) @Chars({'a', 'b', '-', '_', '.', 'Z', '9'}) String first,
            @ForAll @StringLength(min = 1, max = 6) @Chars({'a', 'b', '-', '_', '.', 'Z', '9'}) String second)
            throws IOException {
        if (first.equals(".") || first.equals("..") || second.equals(".") || second.equals("..")
                || first.startsWith(KeyPaths.TEMP_PREFIX) || second.startsWith(KeyPaths.TEMP_PREFIX)) {
            return;
        }
        String key = first + "/" + second;
        assertEquals(ROOT.resolve(first).resolve(second), KeyPaths.resolve(ROOT, key), key);
    }
}
