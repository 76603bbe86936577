package dev.cairn.tiers;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/** Writes the format-4 fixture ({@link FormatFourStore#write}) when asked: {@code -Dcairn.writeFixture4=<folder>}. */
class FormatFourStoreWriter {
    @Test
    @EnabledIfSystemProperty(named = "cairn.writeFixture4", matches = ".+")
    void writesTheFixture() throws Exception {
        FormatFourStore.write(Path.of(System.getProperty("cairn.writeFixture4")));
    }
}
