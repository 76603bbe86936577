package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CairnConfig;
import dev.cairn.Checkpointer;
import dev.cairn.DType;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A tensor over 2 GiB, held in several buffers, and chunks that the zstd command line tool reads. */
class LargeStateTest {
    @TempDir
    Path dir;

    @Test
    void aTensorOverTwoGibInSeveralBuffersRoundTripsOnDisk() throws Exception {
        long elements = (2L << 30) / 4 + 3_000_017; // 2 GiB + ~12 MB of f32, not a multiple of the chunk size
        long bytes = elements * 4;
        int[] pieces = {(int) (bytes / 3), (int) (bytes / 3), (int) (bytes - 2 * (bytes / 3))};
        ByteBuffer[] buffers = new ByteBuffer[pieces.length];
        long at = 0;
        for (int p = 0; p < pieces.length; p++) {
            buffers[p] = ByteBuffer.allocateDirect(pieces[p]).order(ByteOrder.LITTLE_ENDIAN);
            // Mostly zeros (cheap to compress), with the byte position written every 4 KiB: any misplaced chunk shows.
            for (int i = 0; i + 8 <= pieces[p]; i += 4096) {
                buffers[p].putLong(i, at + i);
            }
            at += pieces[p];
        }
        Tensor big = Tensor.of("big", DType.F32, new long[] {elements}, buffers);
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("large").stagingBytes(256L << 20)
                     .deadline(Duration.ofMinutes(5)).tier(TierConfig.of("disk", disk)).build())) {
            cp.save(1, TrainingState.builder().add(big).build(), SaveMode.ZERO_COPY).done().get(5, TimeUnit.MINUTES);
            RestoreResult r = cp.restore(RestoreRequest.latest());
            Tensor back = r.state().tensor("big");
            assertEquals(bytes, back.byteSize());
            assertTrue(back.buffers().size() >= 3, "a restored tensor over 2 GiB comes back in several buffers");
            assertTrue(sameBytes(big.buffers(), back.buffers()), "bytes of the 2 GiB tensor");
        }
    }

    @Test
    void storedChunksAreStandardZstdFramesTheCommandLineToolDecodes() throws Exception {
        File zstd = new File("/usr/bin/zstd");
        TrainingState state = TrainingState.builder().add(Fixtures.randomTensor("w", DType.BF16, 300_000, 5)).build();
        try (FileSystemObjectStore disk = new FileSystemObjectStore(dir);
             Checkpointer cp = Checkpointer.open(Fixtures.smallConfig("z").tier(TierConfig.of("disk", disk)).build())) {
            cp.save(1, state).done().get(30, TimeUnit.SECONDS);
        }
        StoreLayout layout = new StoreLayout("z");
        Manifest m;
        try (RootAllocator alloc = new RootAllocator(); FileSystemObjectStore disk = new FileSystemObjectStore(dir)) {
            m = ManifestFormat.read(disk.readAll(layout.manifestKey(1)), "m", alloc);
        }
        ByteBuffer raw = Fixtures.concat(state.entry("w"));
        for (var c : m.entries().get(0).chunks()) {
            Path file = dir.resolve(layout.chunkKey(c.hash()));
            byte[] decoded;
            if (zstd.canExecute()) {
                Process p = new ProcessBuilder(zstd.getPath(), "-d", "-c", file.toString()).start();
                decoded = p.getInputStream().readAllBytes();
                assertEquals(0, p.waitFor(), "zstd -d exit code");
            } else {
                // Without the tool, the frame still decodes with the reference library's streaming decoder.
                try (var in = new com.github.luben.zstd.ZstdInputStream(Files.newInputStream(file))) {
                    decoded = in.readAllBytes();
                }
            }
            byte[] expected = new byte[(int) c.rawLength()];
            raw.duplicate().position((int) c.offset()).get(expected);
            assertTrue(java.util.Arrays.equals(expected, decoded), "chunk " + c.hash());
        }
    }

    /** Compares two buffer lists as one byte sequence each, without copying them to the heap. */
    private static boolean sameBytes(List<ByteBuffer> a, List<ByteBuffer> b) {
        int ia = 0;
        int ib = 0;
        ByteBuffer x = a.get(0).duplicate();
        ByteBuffer y = b.get(0).duplicate();
        while (true) {
            if (!x.hasRemaining()) {
                if (++ia == a.size()) {
                    break;
                }
                x = a.get(ia).duplicate();
                continue;
            }
            if (!y.hasRemaining()) {
                if (++ib == b.size()) {
                    return false;
                }
                y = b.get(ib).duplicate();
                continue;
            }
            int n = Math.min(x.remaining(), y.remaining());
            if (x.slice(x.position(), n).mismatch(y.slice(y.position(), n)) != -1) {
                return false;
            }
            x.position(x.position() + n);
            y.position(y.position() + n);
        }
        return !y.hasRemaining() && ib == b.size() - 1;
    }
}
