package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.cli.safetensors.SafetensorsFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Headers the reference safetensors library refuses: {@code cairn import} refuses them too, naming what is wrong. */
class ImportOfHostileHeadersTest {
    @TempDir
    Path tmp;

    @Test
    void aTensorNamedTwiceIsRefusedNotLastOneWins() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
        assertRefused(header, 16, "names tensor 'w' twice");
    }

    @Test
    void aFieldTwiceInOneTensorIsRefused() throws IOException {
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                "tensor 'w' has 'shape' twice");
    }

    @Test
    void aShapeDimensionOf2To64PlusFourIsRefusedNotReadAsFour() throws IOException {
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[18446744073709551620,4],\"data_offsets\":[0,64]}}", 64,
                "shape[0] = 18446744073709551620");
    }

    @Test
    void anOffsetOf2To64PlusEightIsRefused() throws IOException {
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551616,18446744073709551624]}}", 8,
                "data_offsets[0] = 18446744073709551616");
    }

    @Test
    void aDtypeThatIsNotAStringIsRefusedNamingTheDtype() throws IOException {
        assertRefused("{\"w\":{\"dtype\":[1,2],\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'w' has a dtype that is not a string");
        assertRefused("{\"w\":{\"dtype\":{\"shape\":[4]},\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                "tensor 'w' has a dtype that is not a string");
    }

    /** The length field alone says so, whatever the file's size; the reference library refuses it as too large too. */
    @Test
    void aHeaderLengthOverTheLimitIsRefusedAsOverTheLimit() throws IOException {
        byte[] json = "{}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(SafetensorsFormat.MAX_HEADER_BYTES + 8).put(json);
        assertRefused(b.array(), "header length 100000008 is over the 100000000 bytes that safetensors readers accept");
    }

    private void assertRefused(String header, int dataBytes, String why) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        assertRefused(b.array(), why);
    }

    private void assertRefused(byte[] bytes, String why) throws IOException {
        Path file = tmp.resolve("bad.safetensors");
        Files.write(file, bytes);
        try (FileChannel ch = FileChannel.open(file)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> SafetensorsFormat.readHeader(ch, file.toString()));
            assertEquals(CheckpointException.Reason.INVALID_INPUT, e.reason());
            assertTrue(e.getMessage().contains(why), e.getMessage());
        }
        Path store = tmp.resolve("store");
        Run r = cairn("import", file.toString(), "--store", store.toString(), "--run", "x", "--step", "1");
        assertEquals(CairnCli.FAILED, r.status(), r.out() + r.err());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains(why) && r.err().contains("INVALID_INPUT"), r.err());
        assertTrue(!Files.exists(store.resolve("x/steps/1/MANIFEST")), "nothing committed");
    }

    /**
     * Two files of one checkpoint that give a metadata key the import uses (a blob, the run, the step) two values:
     * refused, naming the key, where the first file in sorted order used to win silently. A key it does not use (a
     * tool's own, as {@code format}) may differ.
     */
    @Test
    void twoFilesThatDisagreeOnAMetadataValueTheImportUsesAreRefused() throws IOException {
        Path other = twoFiles("other", "format", "pt", "np");
        Run ok = cairn("import", other.toString(), "--store", tmp.resolve("ok").toString(), "--run", "x", "--step", "1");
        assertEquals(CairnCli.OK, ok.status(), ok.out() + ok.err());

        Path blob = twoFiles("blob", "cairn.blob.x", "one", "two");
        Path store = tmp.resolve("store");
        Run r = cairn("import", blob.toString(), "--store", store.toString(), "--run", "x", "--step", "1");
        assertEquals(CairnCli.FAILED, r.status(), r.out() + r.err());
        assertTrue(r.err().contains("'cairn.blob.x'") && r.err().contains("INVALID_INPUT"), r.err());
        assertTrue(!Files.exists(store.resolve("x/steps/1/MANIFEST")), "nothing committed");
    }

    /** A directory of two safetensors files, each with one tensor and metadata {@code key}: {@code a}, then {@code b}. */
    private Path twoFiles(String name, String key, String a, String b) throws IOException {
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        int n = 0;
        for (String value : new String[] {a, b}) {
            String header = "{\"__metadata__\":{\"" + key + "\":\"" + value + "\"},"
                    + "\"t" + n + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
            byte[] json = header.getBytes(StandardCharsets.UTF_8);
            ByteBuffer bytes = ByteBuffer.allocate(8 + json.length + 8).order(ByteOrder.LITTLE_ENDIAN);
            bytes.putLong(json.length).put(json);
            Files.write(dir.resolve("part-" + n++ + ".safetensors"), bytes.array());
        }
        return dir;
    }
}
