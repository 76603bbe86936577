package dev.cairn.bench;

import dev.cairn.DType;
import dev.cairn.TrainingState;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.zip.CRC32C;

/**
 * Fp32 tensors of 256, 128 and 64 MiB in turn (the last one smaller if the total asks for it), each a whole number
 * of chunks, in direct buffers, with values drawn from N(0, 0.02) as freshly initialised weights are: about as
 * compressible as real weights, which is to say barely.
 */
final class SyntheticState {
    private static final long[] TENSOR_BYTES = {256L << 20, 128L << 20, 64L << 20};
    private static final int COLUMNS = 1024;
    private static final int FILL_BLOCK_FLOATS = 1 << 18;
    private static final double STD = 0.02;

    private final List<ByteBuffer> buffers;
    private final TrainingState state;
    private final int chunkBytes;
    private final long bytes;

    private SyntheticState(List<ByteBuffer> buffers, TrainingState state, int chunkBytes, long bytes) {
        this.buffers = buffers;
        this.state = state;
        this.chunkBytes = chunkBytes;
        this.bytes = bytes;
    }

    /** {@code bytes} (a whole number of chunks) of state, filled from {@code seed} on every core. */
    static SyntheticState generate(long bytes, int chunkBytes, long seed) {
        if (bytes % chunkBytes != 0 || chunkBytes % (4 * COLUMNS) != 0) {
            throw new IllegalArgumentException("state of " + bytes + " bytes is not a whole number of " + chunkBytes + "-byte chunks");
        }
        List<ByteBuffer> buffers = allocateLike(sizes(bytes));
        SyntheticState s = new SyntheticState(buffers, tensorsOver(buffers), chunkBytes, bytes);
        s.fill(seed);
        return s;
    }

    /** Tensor sizes for a state of {@code bytes}. */
    static List<Long> sizes(long bytes) {
        List<Long> sizes = new ArrayList<>();
        long left = bytes;
        for (int i = 0; left > 0; i++) {
            long size = Math.min(left, TENSOR_BYTES[i % TENSOR_BYTES.length]);
            sizes.add(size);
            left -= size;
        }
        return sizes;
    }

    /** Zeroed direct buffers of the given sizes, each touched so that its pages are mapped before anything is timed. */
    static List<ByteBuffer> allocateLike(List<Long> sizes) {
        List<ByteBuffer> out = new ArrayList<>();
        for (long size : sizes) {
            out.add(ByteBuffer.allocateDirect(Math.toIntExact(size)).order(ByteOrder.LITTLE_ENDIAN));
        }
        return out;
    }

    private void fill(long seed) {
        List<long[]> blocks = new ArrayList<>();
        for (int t = 0; t < buffers.size(); t++) {
            long floats = buffers.get(t).capacity() / 4;
            for (long f = 0; f < floats; f += FILL_BLOCK_FLOATS) {
                blocks.add(new long[] {t, f, Math.min(FILL_BLOCK_FLOATS, floats - f)});
            }
        }
        IntStream.range(0, blocks.size()).parallel().forEach(i -> {
            long[] block = blocks.get(i);
            SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + i);
            float[] values = new float[(int) block[2]];
            for (int v = 0; v < values.length; v++) {
                values[v] = (float) (random.nextGaussian() * STD);
            }
            FloatBuffer view = buffers.get((int) block[0]).duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            view.put((int) block[1], values);
        });
    }

    /**
     * Replaces the first value of every chunk with a fresh draw, so that every chunk hashes differently from any
     * earlier version and the engine has to encode and write all of it again (as after a real training step),
     * while the bytes stay, but for one value in a million, the bytes the baselines move.
     */
    void perturb(long round) {
        SplittableRandom random = new SplittableRandom(round * 0xBF58476D1CE4E5B9L);
        for (ByteBuffer buf : buffers) {
            for (int off = 0; off < buf.capacity(); off += chunkBytes) {
                buf.putFloat(off, (float) (random.nextGaussian() * STD));
            }
        }
    }

    /** Zeroed tensors of the same names and shapes, in buffers of their own: restore targets. */
    TrainingState emptyLike() {
        return tensorsOver(allocateLike(buffers.stream().map(b -> (long) b.capacity()).toList()));
    }

    /** The state's fp32 tensors, {@code layers.<i>.weight} of {@code COLUMNS} columns, one over each buffer. */
    private static TrainingState tensorsOver(List<ByteBuffer> buffers) {
        TrainingState.Builder b = TrainingState.builder();
        for (int i = 0; i < buffers.size(); i++) {
            ByteBuffer buf = buffers.get(i);
            b.tensor("layers." + i + ".weight", DType.F32, new long[] {buf.capacity() / 4 / COLUMNS, COLUMNS}, buf);
        }
        return b.build();
    }

    void zero() {
        byte[] zeros = new byte[1 << 20];
        for (ByteBuffer buf : buffers) {
            ByteBuffer d = buf.duplicate().clear();
            while (d.hasRemaining()) {
                d.put(zeros, 0, Math.min(zeros.length, d.remaining()));
            }
        }
    }

    /** CRC32C of every byte, in order: the check that a restore put back exactly what was saved. */
    long crc32c() {
        CRC32C crc = new CRC32C();
        for (ByteBuffer buf : buffers) {
            crc.update(buf.duplicate().clear());
        }
        return crc.getValue();
    }

    TrainingState state() {
        return state;
    }

    /** The tensors' buffers, shared (not copied): positions 0, limits at capacity. */
    List<ByteBuffer> buffers() {
        return buffers;
    }

    List<Long> tensorSizes() {
        return buffers.stream().map(b -> (long) b.capacity()).toList();
    }

    long bytes() {
        return bytes;
    }

    int chunkBytes() {
        return chunkBytes;
    }
}
