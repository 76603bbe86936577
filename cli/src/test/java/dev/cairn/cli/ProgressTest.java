package dev.cairn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The bar is drawn by the progressbar library on a terminal, and not at all anywhere else. */
class ProgressTest {
    @Test
    void onATerminalTheLibraryDrawsTheLabelTheBytesAndTheEnd() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Progress p = Progress.start(new PrintStream(out, true, StandardCharsets.UTF_8), "copy 7\u001b[2J", 0, true)) {
            assertTrue(p.drawing());
            p.start(8L << 20);
            p.advance(3L << 20);
            p.advance(5L << 20);
        }
        String drawn = out.toString(StandardCharsets.UTF_8);
        assertTrue(drawn.contains("copy 7"), drawn);
        assertFalse(drawn.contains("\u001b"), "the label reaches the terminal escaped: " + drawn);
        assertTrue(drawn.contains("100%") && drawn.contains("8/8MiB"), drawn);
        assertTrue(drawn.endsWith(System.lineSeparator()) || drawn.endsWith("\n"), "the line ends when the bar closes");
    }

    @Test
    void offATerminalNothingIsDrawn() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (Progress p = Progress.start(new PrintStream(out, true, StandardCharsets.UTF_8), "verify", 0, false)) {
            assertFalse(p.drawing());
            p.start(1 << 20);
            p.advance(1 << 20);
        }
        assertEquals(0, out.size());
    }
}
