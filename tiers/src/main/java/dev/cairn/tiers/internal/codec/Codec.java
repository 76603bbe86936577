package dev.cairn.tiers.internal.codec;

/**
 * The stored forms of a chunk, a closed set: each has the name manifests record for it (stable: a manifest written
 * by any release names its chunks' codecs so) and, except {@link #ZSTD}, the id byte its {@link StoredChunkHeader}
 * carries. A name or id this release does not know is not a codec of this enum ({@link #byName}, {@link #byId}
 * answer null): a reader refuses such a chunk.
 */
public enum Codec {
    /** A plain zstd frame of the raw bytes, without a header (format 1, and still written). */
    ZSTD("zstd", StoredChunkHeader.NO_ID, 0, 0),
    /** The raw bytes in a zstd frame of raw blocks: decoding is a copy. */
    RAW("raw", (byte) 'r', 0, 0),
    /** One zstd frame of the {@link BytePlanes} of 2-byte elements (the codec before the rotated one). */
    PLANES2("planes2+zstd", (byte) '2', 2, 0),
    /** One zstd frame of the {@link BytePlanes} of 4-byte elements. */
    PLANES4("planes4+zstd", (byte) '4', 4, 0),
    /** One zstd frame of the {@link BytePlanes} of 8-byte elements. */
    PLANES8("planes8+zstd", (byte) '8', 8, 0),
    /** The {@link FloatPlanes} split of 2-byte floats, each piece its own zstd frame or stored raw. */
    PLANES2R("planes2r+zstd", (byte) 'h', 0, 2),
    /** The {@link FloatPlanes} split of 4-byte floats. */
    PLANES4R("planes4r+zstd", (byte) 's', 0, 4),
    /** The {@link FloatPlanes} split of 8-byte floats. */
    PLANES8R("planes8r+zstd", (byte) 'd', 0, 8),
    /** A differential chunk: the zstd frame of its raw bytes XOR its base's ({@link XorDelta}). */
    XOR("xor+zstd", (byte) 'x', 0, 0);

    private static final Codec[] VALUES = values();

    private final String manifestName;
    private final byte id;
    private final int bytePlanesWidth;
    private final int floatPlanesWidth;

    Codec(String manifestName, byte id, int bytePlanesWidth, int floatPlanesWidth) {
        this.manifestName = manifestName;
        this.id = id;
        this.bytePlanesWidth = bytePlanesWidth;
        this.floatPlanesWidth = floatPlanesWidth;
    }

    /** The name manifests record, such as {@code "planes4r+zstd"}. */
    public String manifestName() {
        return manifestName;
    }

    /** The id byte of its header; {@link StoredChunkHeader#NO_ID} for {@link #ZSTD}, which has no header. */
    byte id() {
        return id;
    }

    /** Whether its stored form starts with a {@link StoredChunkHeader}. */
    public boolean hasHeader() {
        return this != ZSTD;
    }

    /** Whether it is stored against a base ({@link #XOR}). */
    public boolean differential() {
        return this == XOR;
    }

    /** The element size of a byte-planes codec ({@link BytePlanes}), or 0. */
    int bytePlanesWidth() {
        return bytePlanesWidth;
    }

    /** The element size of a rotated-planes codec ({@link FloatPlanes}), or 0. */
    int floatPlanesWidth() {
        return floatPlanesWidth;
    }

    /** The codec a manifest names {@code name}, or null when this release does not know it. */
    public static Codec byName(String name) {
        for (Codec c : VALUES) {
            if (c.manifestName.equals(name)) {
                return c;
            }
        }
        return null;
    }

    /** The codec whose header carries {@code id}, or null when no codec does. */
    static Codec byId(byte id) {
        for (Codec c : VALUES) {
            if (c.id == id && c.hasHeader()) {
                return c;
            }
        }
        return null;
    }

    /** The byte-planes codec for {@code width}-byte elements (2, 4 or 8). */
    static Codec bytePlanes(int width) {
        return width == 2 ? PLANES2 : width == 4 ? PLANES4 : PLANES8;
    }

    /** The rotated-planes codec for {@code width}-byte floats (2, 4 or 8). */
    static Codec floatPlanes(int width) {
        return width == 2 ? PLANES2R : width == 4 ? PLANES4R : PLANES8R;
    }

    @Override
    public String toString() {
        return manifestName;
    }
}
