package dev.cairn.cli;

import static dev.cairn.cli.CairnCliTest.cairn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.cli.CairnCliTest.Run;
import dev.cairn.cli.safetensors.SafetensorsImport;
import dev.cairn.testkit.ForwardingObjectStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code cairn import} reads the files as memory maps: what it stores must be consistent even if they change. */
class ImportOfChangingFilesTest {
    @TempDir
    Path tmp;

    @Test
    void aSourceFileRewrittenDuringTheImportNeverYieldsAChunkThatFailsItsOwnHash() throws IOException {
        Path disk = tmp.resolve("disk");
        try (FileSystemObjectStore store = new FileSystemObjectStore(disk)) {
            Checkpoints.save(store, Checkpoints.RUN, 10);
        }
        Path exported = tmp.resolve("export");
        Run export = cairn("export", "10", "--store", disk.toString(), "--out", exported.toString());
        assertEquals(0, export.status(), export.err());
        Path file = exported.resolve("model.safetensors");

        // The import's own configuration (ImportCommand), on a store that rewrites every tensor byte of the source
        // file in place the first time the encoder asks it anything between hashing a chunk and encoding it (whether
        // the store is in memory, for the differential form): the exact moment another process's write would hurt.
        Path target = tmp.resolve("target");
        AtomicBoolean rewritten = new AtomicBoolean();
        try (SafetensorsImport files = SafetensorsImport.open(file);
             ForwardingObjectStore store = new ForwardingObjectStore(new FileSystemObjectStore(target)) {
                 @Override
                 public boolean inMemory() {
                     if (rewritten.compareAndSet(false, true)) {
                         flipTensorBytes(file);
                     }
                     return super.inMemory();
                 }
             }) {
            CairnConfig config = CairnConfig.builder(Checkpoints.RUN)
                    .tier(TierConfig.of("target", store).keepLast(Integer.MAX_VALUE))
                    .gcGrace(Duration.ofDays(365L * 1000))
                    .chunkBytes(Checkpoints.CHUNK)
                    .deadline(Duration.ofHours(24))
                    .build();
            try (Checkpointer cp = Checkpointer.open(config)) {
                cp.save(11, files.read(), SaveMode.ZERO_COPY).done().join();
            }
        }
        assertTrue(rewritten.get(), "the file was rewritten during the import");

        Run verify = cairn("verify", "--store", target.toString());
        assertEquals(0, verify.status(), verify.out() + verify.err());
    }

    /** Inverts every byte after the safetensors header, in place (same length, the way a rewrite shows in a map). */
    private static void flipTensorBytes(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(head, 0);
            long dataStart = 8 + head.getLong(0);
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(ch.size() - dataStart));
            while (data.hasRemaining() && ch.read(data, dataStart + data.position()) > 0) {
                // read it all
            }
            for (int i = 0; i < data.capacity(); i++) {
                data.put(i, (byte) ~data.get(i));
            }
            data.rewind();
            while (data.hasRemaining()) {
                ch.write(data, dataStart + data.position());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
