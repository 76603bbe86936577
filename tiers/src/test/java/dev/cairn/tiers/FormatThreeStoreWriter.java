package dev.cairn.tiers;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/** Writes the format-3 fixture ({@link FormatThreeStore#write}) when asked: {@code -Dcairn.writeFixture=<folder>}. */
class FormatThreeStoreWriter {
    @Test
    @EnabledIfSystemProperty(named = "cairn.writeFixture", matches = ".+")
    void writesTheFixture() throws Exception {
        FormatThreeStore.write(Path.of(System.getProperty("cairn.writeFixture")));
    }
}
