package dev.cairn;

import java.util.Arrays;

/**
 * Which slice of a global tensor one rank holds: the global shape, and along each dimension the offset and length
 * of the slice. A rank's {@link Tensor} holds exactly the slice's elements, row-major in the slice's own shape
 * ({@link #lengths()}). A checkpoint saved with one split restores with any other: each rank asks for its own
 * slices and reads only the chunks that overlap them.
 *
 * <pre>{@code
 * ShardSpec.split(new long[] {4096, 1024}, 0, worldSize, rank)   // rows split across ranks, uneven allowed
 * ShardSpec.of(new long[] {8, 6}, new long[] {2, 3}, new long[] {4, 3})  // rows 2..5, columns 3..5
 * }</pre>
 */
public final class ShardSpec {
    private final long[] globalShape;
    private final long[] offsets;
    private final long[] lengths;

    private ShardSpec(long[] globalShape, long[] offsets, long[] lengths) {
        this.globalShape = globalShape;
        this.offsets = offsets;
        this.lengths = lengths;
    }

    /** A slice; every offset and length must lie within the global shape. */
    public static ShardSpec of(long[] globalShape, long[] offsets, long[] lengths) {
        if (globalShape == null || offsets == null || lengths == null) {
            throw invalid("a shard spec needs a global shape, offsets and lengths");
        }
        if (offsets.length != globalShape.length || lengths.length != globalShape.length) {
            throw invalid("shard spec offsets " + Arrays.toString(offsets) + " and lengths " + Arrays.toString(lengths)
                    + " do not match the rank of global shape " + Arrays.toString(globalShape));
        }
        for (int d = 0; d < globalShape.length; d++) {
            if (globalShape[d] < 0 || offsets[d] < 0 || lengths[d] < 0 || offsets[d] > globalShape[d] - lengths[d]) {
                throw invalid("shard spec slice [" + Arrays.toString(offsets) + " + " + Arrays.toString(lengths)
                        + "] lies outside global shape " + Arrays.toString(globalShape) + " in dimension " + d);
            }
        }
        return new ShardSpec(globalShape.clone(), offsets.clone(), lengths.clone());
    }

    /** The whole tensor: offsets zero, lengths the shape. */
    public static ShardSpec whole(long[] shape) {
        return of(shape, new long[shape.length], shape);
    }

    /**
     * Part {@code index} of {@code parts} contiguous parts along {@code dim}; when the dimension does not divide
     * evenly the first parts get one more row each (as {@code torch.chunk}-style even splits do).
     */
    public static ShardSpec split(long[] globalShape, int dim, int parts, int index) {
        if (globalShape == null || dim < 0 || dim >= globalShape.length) {
            throw invalid("cannot split along dimension " + dim + " of shape " + Arrays.toString(globalShape));
        }
        if (parts < 1 || index < 0 || index >= parts) {
            throw invalid("part " + index + " of " + parts + " does not exist");
        }
        long n = globalShape[dim];
        long base = n / parts;
        long extra = n % parts;
        long offset = index * base + Math.min(index, extra);
        long length = base + (index < extra ? 1 : 0);
        long[] offsets = new long[globalShape.length];
        long[] lengths = globalShape.clone();
        offsets[dim] = offset;
        lengths[dim] = length;
        return of(globalShape, offsets, lengths);
    }

    public long[] globalShape() {
        return globalShape.clone();
    }

    public long[] offsets() {
        return offsets.clone();
    }

    /** The slice's own shape: the shape of the rank's tensor. */
    public long[] lengths() {
        return lengths.clone();
    }

    public int dimensions() {
        return globalShape.length;
    }

    /** Whether this slice is the whole global tensor. */
    public boolean isWhole() {
        return Arrays.equals(globalShape, lengths);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ShardSpec s && Arrays.equals(globalShape, s.globalShape) && Arrays.equals(offsets, s.offsets)
                && Arrays.equals(lengths, s.lengths);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(globalShape) + Arrays.hashCode(offsets)) + Arrays.hashCode(lengths);
    }

    @Override
    public String toString() {
        return "ShardSpec[global " + Arrays.toString(globalShape) + ", offsets " + Arrays.toString(offsets) + ", lengths "
                + Arrays.toString(lengths) + "]";
    }

    private static CheckpointException invalid(String message) {
        return new CheckpointException(CheckpointException.Reason.INVALID_INPUT, message);
    }
}
