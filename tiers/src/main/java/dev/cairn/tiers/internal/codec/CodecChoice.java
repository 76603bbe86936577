package dev.cairn.tiers.internal.codec;

/**
 * What {@link ChunkCodec#encodeChoosing} chose for a chunk the last time it probed (codec, and for float planes the
 * pieces worth compressing), kept by its caller per chunk position so that the next saves of that position encode
 * straight in it ({@link ChunkCodec#encodeReusing}) instead of compressing a sample several ways first.
 *
 * <p>Why it holds: a chunk position of a training run keeps the same kind of values (weights, first or second
 * moments) from save to save, and what suits them drifts slowly. A choice is used again for at most
 * {@value #REPROBE_EVERY} saves, and never when the chunk's length, its float width or the zstd level differ; a reuse whose stored size
 * grew by more than 1/32 of the raw size over the size at the probe probes again at once. None of this changes what
 * is stored: any codec's form decodes to the same bytes, and each is one the probe could have chosen.
 *
 * @param codec        the whole-chunk codec chosen (never differential)
 * @param pieces       for a float-planes codec, the bit set of pieces compressed (bit p: piece p); else unused
 * @param level        the zstd level it was chosen at
 * @param rawLength    the chunk's raw length
 * @param elementSize  the width of the chunk's floats it was chosen for, 0 for other data
 * @param storedLength the stored length of the encoding that made or last confirmed the choice
 * @param uses         saves that reused it since the probe
 */
public record CodecChoice(Codec codec, int pieces, int level, int rawLength, int elementSize, int storedLength, int uses) {
    /** Saves of a chunk position between two probes, the probing one included. */
    public static final int REPROBE_EVERY = 16;

    /**
     * Whether a chunk of {@code rawLength} bytes of {@code elementSize}-byte floats (0: not floats) encoded at
     * {@code level} may reuse this choice instead of probing.
     */
    boolean reusableFor(int level, int rawLength, int elementSize) {
        return this.level == level && this.rawLength == rawLength && this.elementSize == elementSize
                && uses + 1 < REPROBE_EVERY;
    }

    /** Whether a reuse that stored {@code stored} bytes drifted from the probe's size by more than 1/32 of the raw. */
    boolean drifted(int stored) {
        return stored > storedLength + (rawLength >>> 5);
    }

    CodecChoice reused() {
        return new CodecChoice(codec, pieces, level, rawLength, elementSize, storedLength, uses + 1);
    }
}
