package dev.cairn;

import java.nio.ByteBuffer;
import java.util.List;

/** One named item of a {@link TrainingState}: a {@link Tensor} or a {@link Blob}. */
public sealed interface Entry permits Tensor, Blob {
    String name();

    /** Total bytes across {@link #buffers()}. */
    long byteSize();

    /**
     * The bytes, in order, as independent views (position 0, limit = size of that piece). Writing into them
     * writes into the entry; restore uses this to fill caller buffers.
     */
    List<ByteBuffer> buffers();
}
