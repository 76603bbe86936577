package dev.cairn.backend.flight;

import java.nio.ByteBuffer;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;

/**
 * Moves object bytes between off-heap buffers and batches of {@link PeerProtocol#SCHEMA}: one row per piece.
 * Every copy is off-heap to off-heap; nothing of an object passes through the Java heap.
 */
final class Pieces {
    private Pieces() {
    }

    /** Makes {@code root} one row holding {@code length} bytes of {@code source} from {@code start}. */
    static void fill(VectorSchemaRoot root, ArrowBuf source, long start, int length) {
        VarBinaryVector bytes = (VarBinaryVector) root.getVector(0);
        bytes.allocateNew(Math.max(length, 1), 1); // fresh buffers: the previous batch may still be on the wire
        bytes.set(0, Math.toIntExact(start), length, source);
        bytes.setValueCount(1);
        root.setRowCount(1);
    }

    /** Appends every row of {@code root} to {@code target} at {@code position}; returns the new position. */
    static long appendTo(VectorSchemaRoot root, ArrowBuf target, long position) {
        VarBinaryVector bytes = (VarBinaryVector) root.getVector(0);
        for (int row = 0; row < root.getRowCount(); row++) {
            int length = bytes.getValueLength(row);
            if (position + length > target.capacity()) {
                throw new IllegalStateException("peer sent more than the " + target.capacity() + " bytes it announced");
            }
            target.setBytes(position, bytes.getDataBuffer(), bytes.getStartOffset(row), length);
            position += length;
        }
        return position;
    }

    /** Copies every row of {@code root} into {@code dst}, advancing its position; returns the bytes copied. */
    static int copyTo(VectorSchemaRoot root, ByteBuffer dst) {
        VarBinaryVector bytes = (VarBinaryVector) root.getVector(0);
        int copied = 0;
        for (int row = 0; row < root.getRowCount(); row++) {
            int length = bytes.getValueLength(row);
            if (length > dst.remaining()) {
                throw new IllegalStateException("peer sent " + length + " bytes where " + dst.remaining() + " were asked");
            }
            ByteBuffer window = dst.duplicate();
            window.limit(window.position() + length);
            bytes.getDataBuffer().getBytes(bytes.getStartOffset(row), window);
            dst.position(dst.position() + length);
            copied += length;
        }
        return copied;
    }
}
