package dev.cairn;

import java.util.Locale;

/** Element types of a tensor, with their width in bytes and the tag used in manifests. */
public enum DType {
    F64(8, true), F32(4, true), F16(2, true), BF16(2, true),
    F8_E4M3(1, true), F8_E5M2(1, true),
    I64(8, false), I32(4, false), I16(2, false), I8(1, false), U8(1, false), BOOL(1, false);

    private final int byteSize;
    private final boolean floating;

    DType(int byteSize, boolean floating) {
        this.byteSize = byteSize;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    public boolean isFloatingPoint() {
        return floating;
    }

    /** The name stored in manifests: {@code f32}, {@code bf16}, {@code f8_e4m3}, ... */
    public String tag() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The inverse of {@link #tag()}; an unknown tag is bad input, not a crash. */
    public static DType fromTag(String tag) {
        for (DType d : values()) {
            if (d.tag().equals(tag)) {
                return d;
            }
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "unknown dtype '" + tag + "'");
    }
}
