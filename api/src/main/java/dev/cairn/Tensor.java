package dev.cairn;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A named, typed, shaped array of bytes, held in one or more buffers (several when it is larger than one
 * buffer can be, 2 GiB). Bytes are in the caller's layout (row-major, little-endian for the framework's
 * native tensors); Cairn stores them as they are and gives them back bit for bit.
 */
public final class Tensor implements Entry {
    /** Largest piece {@link #allocate} puts in one buffer. */
    public static final int MAX_BUFFER_BYTES = 1 << 30;

    private final String name;
    private final DType dtype;
    private final long[] shape;
    private final ByteBuffer[] buffers;
    private final long byteSize;
    private final ShardSpec shard;
    private final boolean optimizerState;

    private Tensor(String name, DType dtype, long[] shape, ByteBuffer[] buffers) {
        this(name, dtype, shape, null, buffers);
    }

    private Tensor(String name, DType dtype, long[] shape, ShardSpec shard, ByteBuffer[] buffers) {
        this(name, dtype, shape, shard, buffers, false);
    }

    private Tensor(String name, DType dtype, long[] shape, ShardSpec shard, ByteBuffer[] buffers, boolean optimizerState) {
        this.optimizerState = optimizerState;
        this.name = EntryNames.check("tensor name", name);
        if (dtype == null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' has no dtype");
        }
        this.dtype = dtype;
        if (shape == null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' has no shape");
        }
        this.shape = shape.clone();
        this.buffers = new ByteBuffer[buffers.length];
        long total = 0;
        for (int i = 0; i < buffers.length; i++) {
            if (buffers[i] == null) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' buffer " + i + " is null");
            }
            this.buffers[i] = buffers[i].slice().order(ByteOrder.LITTLE_ENDIAN);
            total += this.buffers[i].remaining();
        }
        this.byteSize = total;
        long expected = expectedBytes(name, dtype, this.shape);
        if (expected != total) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' holds " + total
                    + " bytes but shape " + Arrays.toString(this.shape) + " of " + dtype.tag() + " needs " + expected);
        }
        this.shard = shard == null ? ShardSpec.whole(this.shape) : shard;
    }

    /** A tensor over the remaining bytes of {@code buffers}, in order. The buffers are not copied. */
    public static Tensor of(String name, DType dtype, long[] shape, ByteBuffer... buffers) {
        return new Tensor(name, dtype, shape == null ? null : shape, buffers);
    }

    /**
     * This rank's slice {@code shard} of the global tensor {@code name}, over the remaining bytes of {@code buffers}
     * (row-major in the slice's shape, {@link ShardSpec#lengths()}). Several ranks may hold the same slice (data
     * parallel replicas): equal bytes are stored once.
     */
    public static Tensor sharded(String name, DType dtype, ShardSpec shard, ByteBuffer... buffers) {
        if (shard == null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' has no shard spec");
        }
        return new Tensor(name, dtype, shard.lengths(), shard, buffers);
    }

    /**
     * This tensor, over the same buffers, marked as optimizer state (Adam's moments, momentum buffers): the only
     * tensors lossy mode ({@link CairnConfig.Builder#lossy}) may round. Unmarked tensors, weights among them, are
     * always stored exactly; a lossy pattern that would round one fails the save.
     */
    public Tensor asOptimizerState() {
        return new Tensor(name, dtype, shape, shard, buffers, true);
    }

    /** Whether this tensor was marked by {@link #asOptimizerState()}. */
    public boolean isOptimizerState() {
        return optimizerState;
    }

    /** A zero-filled slice {@code shard} of tensor {@code name}, in new direct buffers: a restore target. */
    public static Tensor allocate(String name, DType dtype, ShardSpec shard) {
        Tensor t = allocate(name, dtype, shard.lengths());
        return new Tensor(name, dtype, shard.lengths(), shard, t.buffers);
    }

    /** A zero-filled tensor in new direct buffers of at most {@link #MAX_BUFFER_BYTES} each. */
    public static Tensor allocate(String name, DType dtype, long... shape) {
        long bytes = expectedBytes(name, dtype, shape);
        List<ByteBuffer> pieces = new ArrayList<>();
        for (long left = bytes; left > 0; left -= MAX_BUFFER_BYTES) {
            pieces.add(ByteBuffer.allocateDirect((int) Math.min(left, MAX_BUFFER_BYTES)));
        }
        if (pieces.isEmpty()) {
            pieces.add(ByteBuffer.allocateDirect(0));
        }
        return new Tensor(name, dtype, shape, pieces.toArray(new ByteBuffer[0]));
    }

    /** Elements times element width, failing on negative dimensions and on overflow. */
    public static long expectedBytes(String name, DType dtype, long[] shape) {
        if (shape == null) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "tensor '" + name + "' has no shape");
        }
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                        "tensor '" + name + "' has negative dimension in shape " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                        "tensor '" + name + "' shape " + Arrays.toString(shape) + " overflows 64 bits");
            }
        }
        try {
            return Math.multiplyExact(n, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                    "tensor '" + name + "' byte size overflows 64 bits");
        }
    }

    @Override
    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape of the bytes held (the slice's shape for a shard); empty for a scalar. */
    public long[] shape() {
        return shape.clone();
    }

    /** Which slice of the global tensor this is; {@link ShardSpec#whole} unless made by {@link #sharded}. */
    public ShardSpec shard() {
        return shard;
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public List<ByteBuffer> buffers() {
        List<ByteBuffer> views = new ArrayList<>(buffers.length);
        for (ByteBuffer b : buffers) {
            views.add(b.duplicate().order(ByteOrder.LITTLE_ENDIAN));
        }
        return views;
    }

    @Override
    public String toString() {
        return "Tensor[" + name + ", " + dtype.tag() + Arrays.toString(shape) + (shard.isWhole() ? "" : " of " + shard)
                + ", " + byteSize + " bytes]";
    }
}
