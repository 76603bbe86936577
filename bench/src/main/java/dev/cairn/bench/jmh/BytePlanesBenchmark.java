package dev.cairn.bench.jmh;

import dev.cairn.tiers.Kernels;
import dev.cairn.tiers.Kernels.ChunkCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The plane splits and joins against zstd level 1 on the same chunk and the same core, and the codecs end to end:
 * {@code split}/{@code join} ({@code Kernels.bytePlanesSplit}, the previous codec's transform) and {@code floatSplit}/
 * {@code floatJoin} ({@code Kernels.floatPlanesSplit}: sign rotated, nibble planes) alone, {@code zstd1} (plain zstd level 1
 * encode), {@code zstd1Decode}, {@code chosenEncode} (the per-chunk choice the pipeline runs: 64 KiB sample both
 * ways, then planesNr+zstd or zstd), {@code chosenDecode}, and {@code planesV1Encode}/{@code planesV1Decode} (the
 * previous codec, one zstd frame of the byte planes). Data: N(0, 0.02) values as fp32 (element size 4) or as bf16
 * (element size 2, the top half of each fp32). Bytes per second = chunkBytes / score. A split must beat
 * {@code zstd1} by a wide margin, or planes would slow the pipeline.
 */
public class BytePlanesBenchmark extends Fp32ChunkBenchmark {
    @Param({"f32", "bf16"})
    public String dtype;

    private int width;
    private ByteBuffer raw;
    private ByteBuffer planes;
    private ByteBuffer encoded;
    private ByteBuffer stored;
    private ByteBuffer decoded;
    private ByteBuffer plain;
    private ByteBuffer v1;
    private int encodedLength;
    private int plainLength;
    private int v1Length;
    private String v1Codec;
    private ChunkCodec codec;
    private final Kernels.Encoded chosen = new Kernels.Encoded();

    @Setup(Level.Trial)
    public void setUp() {
        width = "bf16".equals(dtype) ? 2 : 4;
        raw = width == 2 ? bf16Chunk() : fp32Chunk();
        planes = ByteBuffer.allocateDirect(chunkBytes);
        encoded = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(chunkBytes));
        decoded = ByteBuffer.allocateDirect(chunkBytes);
        codec = new ChunkCodec(1);
        stored = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(chunkBytes));
        encodedLength = codec.encodeChoosing(raw, 0, chunkBytes, width, stored, chosen).length();
        plain = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(chunkBytes));
        plainLength = codec.encode(raw, 0, chunkBytes, plain);
        v1Codec = Kernels.bytePlanesCodecName(width);
        v1 = ByteBuffer.allocateDirect(Kernels.maxEncodedBytes(chunkBytes));
        v1Length = codec.encodeBytePlanes(width, raw, 0, chunkBytes, v1);
        System.out.printf("%n%s N(0, 0.02), %d bytes: %s ratio %.3f; %s ratio %.3f; plain zstd-1 ratio %.3f%n", dtype,
                chunkBytes, chosen.codec(), (double) chunkBytes / encodedLength, v1Codec,
                (double) chunkBytes / v1Length, (double) chunkBytes / plainLength);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        codec.close();
    }

    @Benchmark
    public ByteBuffer split() {
        Kernels.bytePlanesSplit(raw, 0, chunkBytes, width, planes, 0);
        return planes;
    }

    @Benchmark
    public ByteBuffer join() {
        Kernels.bytePlanesJoin(planes, 0, chunkBytes, width, decoded, 0);
        return decoded;
    }

    @Benchmark
    public ByteBuffer floatSplit() {
        Kernels.floatPlanesSplit(raw, 0, chunkBytes, width, planes, 0);
        return planes;
    }

    @Benchmark
    public ByteBuffer floatJoin() {
        Kernels.floatPlanesJoin(planes, 0, chunkBytes, width, decoded, 0);
        return decoded;
    }

    @Benchmark
    public ByteBuffer zstd1Decode() throws IOException {
        codec.decode(plain, 0, plainLength, decoded, 0, chunkBytes);
        return decoded;
    }

    @Benchmark
    public int planesV1Encode() {
        return codec.encodeBytePlanes(width, raw, 0, chunkBytes, encoded);
    }

    @Benchmark
    public ByteBuffer planesV1Decode() throws IOException {
        codec.decode(v1, 0, v1Length, decoded, 0, chunkBytes);
        return decoded;
    }

    @Benchmark
    public int zstd1() {
        return codec.encode(raw, 0, chunkBytes, encoded);
    }

    @Benchmark
    public int chosenEncode() {
        return codec.encodeChoosing(raw, 0, chunkBytes, width, encoded, chosen).length();
    }

    @Benchmark
    public ByteBuffer chosenDecode() throws IOException {
        codec.decode(stored, 0, encodedLength, decoded, 0, chunkBytes);
        return decoded;
    }
}
