package dev.cairn.tiers;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

class WriteFormatTwoStore {
    @Test
    @EnabledIfSystemProperty(named = "cairn.writeFixture", matches = ".+")
    void write() throws Exception {
        FormatTwoStore.write(java.nio.file.Path.of(System.getProperty("cairn.writeFixture")));
    }
}
