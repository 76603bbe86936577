package dev.cairn.tiers;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.TrainingState;
import java.nio.ByteBuffer;

/** The restored state of a {@link FormatThreeStore} rank equals the one saved: tensors, per-rank and global blobs. */
final class TrainingStateAssert {
    private TrainingStateAssert() {
    }

    static void restored(TrainingState expected, TrainingState restored) {
        assertEquals(ReshardingProperties.concat(expected.tensor("w")), ReshardingProperties.concat(restored.tensor("w")));
        assertEquals(ReshardingProperties.concat(expected.tensor("bias")), ReshardingProperties.concat(restored.tensor("bias")));
        assertEquals(ByteBuffer.wrap(expected.blob("rng").toByteArray()), ByteBuffer.wrap(restored.blob("rng").toByteArray()));
        assertEquals(expected.blob("config").toUtf8(), restored.blob("config").toUtf8());
    }
}
