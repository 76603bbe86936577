package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ByteSizeTest {

    @Test
    void parsesBinaryUnitsInAnyCaseWithOrWithoutB() {
        assertEquals(1L << 30, ByteSize.parse("1g"));
        assertEquals(1L << 30, ByteSize.parse("1GiB"));
        assertEquals(512L << 20, ByteSize.parse("512M"));
        assertEquals(64L << 10, ByteSize.parse("64kb"));
        assertEquals(2L << 40, ByteSize.parse("2t"));
        assertEquals(12345, ByteSize.parse("12345"));
    }

    @Test
    void rejectsTextThatIsNotASizeNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("lots"));
        assertTrue(e.getMessage().contains("'lots'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("-1g"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("1.5g"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("99999999999t"));
    }

    @Test
    void formatsWholeAndFractionalSizes() {
        assertEquals("1 GiB", ByteSize.format(1L << 30));
        assertEquals("1.25 GiB", ByteSize.format(5L << 28));
        assertEquals("4 MiB", ByteSize.format(4 << 20));
        assertEquals("100 B", ByteSize.format(100));
    }
}
