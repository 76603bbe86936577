package dev.cairn.djl;

import ai.djl.ndarray.types.DataType;
import dev.cairn.CheckpointException;
import dev.cairn.DType;

/** DJL's element types as Cairn's; a type Cairn cannot store is bad input naming the entry. */
final class DTypes {
    private DTypes() {
    }

    static DType of(String entry, DataType type) {
        return switch (type) {
            case FLOAT64 -> DType.F64;
            case FLOAT32 -> DType.F32;
            case FLOAT16 -> DType.F16;
            case BFLOAT16 -> DType.BF16;
            case INT64 -> DType.I64;
            case INT32 -> DType.I32;
            case INT16 -> DType.I16;
            case INT8 -> DType.I8;
            case UINT8 -> DType.U8;
            case BOOLEAN -> DType.BOOL;
            default -> throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT,
                    "entry '" + entry + "' has DJL data type " + type + ", which Cairn does not store");
        };
    }
}
