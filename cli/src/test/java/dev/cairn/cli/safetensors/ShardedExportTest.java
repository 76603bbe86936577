package dev.cairn.cli.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointDescription.Chunk;
import dev.cairn.CheckpointDescription.Entry;
import dev.cairn.CheckpointDescription.Kind;
import dev.cairn.CheckpointException;
import dev.cairn.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which multi-rank slices export can stream as one tensor. */
class ShardedExportTest {
    private static final String H = "0123456789abcdef0123456789abcdef";

    private static Entry slice(int rank, long[] offsets, long[] lengths) {
        long bytes = lengths[0] * lengths[1] * 4;
        return new Entry("w", Kind.TENSOR, DType.F32, lengths, new long[] {4, 6}, offsets, rank, bytes,
                List.of(new Chunk(0, bytes, H, "zstd", 10, List.of(), 0, "xxh3-128", "r/chunks/01/" + H)));
    }

    @Test
    void rowSlicesInAnyOrderWithReplicasBecomeOneTensorInRowOrder() {
        Entry whole = SafetensorsExport.wholeByRows(1, List.of(
                slice(1, new long[] {3, 0}, new long[] {1, 6}), slice(0, new long[] {0, 0}, new long[] {3, 6}),
                slice(2, new long[] {3, 0}, new long[] {1, 6})));
        assertArrayEquals(new long[] {4, 6}, whole.shape());
        assertEquals(96, whole.byteSize());
        assertEquals(2, whole.chunks().size(), "the replica of rows 3..4 is read once");
        assertEquals(72, whole.chunks().get(1).offset());
    }

    @Test
    void columnSlicesAndMissingRowsAreRefused() {
        CheckpointException columns = assertThrows(CheckpointException.class, () -> SafetensorsExport.wholeByRows(1, List.of(
                slice(0, new long[] {0, 0}, new long[] {4, 3}), slice(1, new long[] {0, 3}, new long[] {4, 3}))));
        assertEquals(CheckpointException.Reason.INVALID_INPUT, columns.reason());
        assertTrue(columns.getMessage().contains("dimension 1"), columns.getMessage());
        CheckpointException gap = assertThrows(CheckpointException.class, () -> SafetensorsExport.wholeByRows(1, List.of(
                slice(0, new long[] {0, 0}, new long[] {2, 6}))));
        assertEquals(CheckpointException.Reason.CORRUPT, gap.reason());
    }
}
