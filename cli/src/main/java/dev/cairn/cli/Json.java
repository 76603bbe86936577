package dev.cairn.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.io.CharacterEscapes;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.databind.ser.std.ToStringSerializer;
import java.time.Instant;
import java.io.PrintStream;
import java.util.Locale;

/**
 * The {@code --json} output of every command: one pretty-printed document on stdout (records and maps as objects).
 * Strings escape, besides what JSON requires, every character {@link Text#unsafe} names (DEL, C1, bidirectional
 * controls) as a {@code \\u} escape: the document stays the same JSON and is safe to show on a terminal.
 */
public final class Json {
    /** Instants as ISO-8601 strings ({@code 2026-11-26T18:55:00Z}), as the manifests record them. */
    public static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .registerModule(new SimpleModule("cairn").addSerializer(Instant.class, ToStringSerializer.instance));

    static {
        MAPPER.getFactory().setCharacterEscapes(new TerminalEscapes());
    }

    private Json() {
    }

    public static void print(PrintStream out, Object document) {
        try {
            out.println(MAPPER.writeValueAsString(document));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** JSON's own escapes, plus DEL and every non-ASCII character a terminal could act on. */
    private static final class TerminalEscapes extends CharacterEscapes {
        private static final int[] ASCII = standardAsciiEscapesForJSON();

        static {
            ASCII[0x7f] = ESCAPE_STANDARD;
        }

        @Override
        public int[] getEscapeCodesForAscii() {
            return ASCII;
        }

        @Override
        public SerializableString getEscapeSequence(int ch) {
            return ch <= 0xffff && Text.unsafe((char) ch)
                    ? new SerializedString(String.format(Locale.ROOT, "\\u%04x", ch)) : null;
        }
    }
}
