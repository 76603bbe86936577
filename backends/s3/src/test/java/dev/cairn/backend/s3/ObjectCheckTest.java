package dev.cairn.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ObjectCheckTest {
    private static final byte[] BODY = "the bytes of an object".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @Test
    void theRecordNamesTheLengthAndTheCrc32cOfTheRemainingBytes() throws IOException {
        ByteBuffer body = ByteBuffer.wrap(BODY);
        Map<String, String> record = ObjectCheck.of(body);
        assertEquals(0, body.position(), "the caller's position is untouched");
        assertEquals(Long.toString(BODY.length), record.get(ObjectCheck.LENGTH));
        assertEquals(8, record.get(ObjectCheck.CRC32C).length());
        ObjectCheck.checkWhole(record, ByteBuffer.wrap(BODY), "read");
        ObjectCheck.checkSize(record, BODY.length, "stat");
    }

    @Test
    void aFlippedBitAnotherSizeOrHalfARecordIsRefused() {
        Map<String, String> record = ObjectCheck.of(ByteBuffer.wrap(BODY));
        byte[] flipped = BODY.clone();
        flipped[5] ^= 0x10;
        assertThrows(IOException.class, () -> ObjectCheck.checkWhole(record, ByteBuffer.wrap(flipped), "read"));
        assertThrows(IOException.class, () -> ObjectCheck.checkSize(record, BODY.length + 1, "stat"));
        Map<String, String> half = new HashMap<>(record);
        half.remove(ObjectCheck.CRC32C);
        half.put("cairn-crc32d", record.get(ObjectCheck.CRC32C)); // its header's name garbled in transit
        assertThrows(IOException.class, () -> ObjectCheck.checkWhole(half, ByteBuffer.wrap(flipped), "read"));
    }

    @Test
    void anObjectWithoutARecordIsReadUncheckedAndKeysAreFoundWhateverTheirCase() throws IOException {
        ObjectCheck.checkWhole(Map.of(), ByteBuffer.wrap(BODY), "read");
        ObjectCheck.checkWhole(null, ByteBuffer.wrap(BODY), "read");
        Map<String, String> upper = new HashMap<>();
        ObjectCheck.of(ByteBuffer.wrap(BODY)).forEach((k, v) -> upper.put(k.toUpperCase(java.util.Locale.ROOT), v));
        byte[] flipped = BODY.clone();
        flipped[0] ^= 1;
        assertThrows(IOException.class, () -> ObjectCheck.checkWhole(upper, ByteBuffer.wrap(flipped), "read"));
    }
}
