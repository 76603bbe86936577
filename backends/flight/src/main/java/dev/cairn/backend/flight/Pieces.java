package dev.cairn.backend.flight;

import java.util.List;
import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VarBinaryVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.ipc.message.ArrowFieldNode;

/**
 * Moves object bytes between off-heap buffers and batches of {@link PeerProtocol#SCHEMA}: one row per piece.
 * Sending slices the object; receiving a replica copies off-heap to off-heap (a read's answer is copied by
 * {@link DirectRead}); nothing of an object passes through the Java heap on our side.
 */
final class Pieces {
    private Pieces() {
    }

    /**
     * Makes {@code root} one row holding {@code length} bytes of {@code source} from {@code start}, without copying:
     * the row's data buffer is a slice of {@code source}, whose memory stays alive until the batch is written out
     * (Flight holds a reference while the message is in flight). So an object in transit costs its one staged copy,
     * however many of its pieces gRPC is holding. {@code source} must come from {@code allocator}.
     */
    static void slice(VectorSchemaRoot root, ArrowBuf source, long start, int length, BufferAllocator allocator) {
        VarBinaryVector bytes = (VarBinaryVector) root.getVector(0);
        try (ArrowBuf validity = allocator.buffer(8); ArrowBuf offsets = allocator.buffer(8)) {
            validity.setZero(0, validity.capacity());
            validity.setByte(0, 1);
            offsets.setInt(0, 0);
            offsets.setInt(Integer.BYTES, length);
            bytes.loadFieldBuffers(new ArrowFieldNode(1, 0), List.of(validity, offsets, source.slice(start, length)));
        }
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
}
