package dev.cairn.bench;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.Tensor;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.backend.memory.MemoryObjectStore;
import dev.cairn.bench.Comparison.Measure;
import dev.cairn.examples.mlp.MlpSpec;
import dev.cairn.examples.mlp.MlpTraining;
import dev.cairn.tiers.Kernels;
import dev.cairn.tiers.Kernels.ChunkCodec;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.apache.arrow.compression.CommonsCompressionFactory;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.compression.CompressionUtil;
import org.apache.arrow.vector.ipc.ArrowStreamReader;
import org.apache.arrow.vector.ipc.ArrowStreamWriter;
import org.apache.arrow.vector.ipc.message.IpcOption;
import org.apache.arrow.vector.types.FloatingPointPrecision;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The compression benchmark: on the same bytes, in one run and on one thread (but for one figure), the compression ratio and the encode
 * and decode throughput of
 * <ol>
 * <li>Cairn's per-chunk codec choice ({@link ChunkCodec#encodeChoosing}, 4 MiB chunks, the engine's default level),
 *     and beside it the same on two threads (two codecs, the even and the odd chunks), as the engine's two encoder
 *     threads run it;</li>
 * <li>the same choice at zstd level {@value #STRONG_LEVEL} ({@code cairn9}), as a slower tier such as S3 may be set
 *     with {@code TierConfig.compressionLevel}: whether a stronger level pays on floats;</li>
 * <li>the previous float codec ({@code planesN+zstd}: one zstd frame of the byte planes), forced on every chunk;</li>
 * <li>zstd level 1 and zstd level 3 alone on the same 4 MiB chunks (zstd-jni),</li>
 * <li>Arrow IPC with its ZSTD body compression (arrow-compression's {@link CommonsCompressionFactory}, level
 *     {@value #ARROW_ZSTD_LEVEL}): one stream, one record batch per 4 MiB chunk, one column holding the bytes as they
 *     are: {@code Float4} for fp32, {@code SmallInt} for bf16 (Arrow Java has no bfloat16 type, and {@code Float2}
 *     is IEEE half, another format; a 16-bit integer column carries the bf16 bit patterns unchanged).</li>
 * </ol>
 * on synthetic fp32 values from N(0, 0.02), bf16 values (the upper 16 bits of such fp32 draws, truncated), and the
 * DJL example's MLP after real training (weights; Adam moments). Every decode is checked bit-exact once. Beside them:
 * a sequential write + fsync of the fp32 bytes (the disk the encoder feeds), and the bytes the real
 * {@link Checkpointer} writes to a memory tier for a save after 0 %, 1 %, 10 % and 100 % of the fp32 values changed,
 * the changes either scattered uniformly or in one contiguous run per tensor.
 */
public final class CodecBenchmark {
    public static final int CHUNK_BYTES = CairnConfig.DEFAULT_CHUNK_BYTES;
    public static final int ARROW_ZSTD_LEVEL = 1;
    public static final double BF16_RATIO_GOAL = 1.45;
    public static final double FP32_RATIO_GOAL = 1.2;
    public static final double ENCODE_OVER_WRITE_GOAL = 1.0;
    public static final String CAIRN = "cairn";
    /** Cairn's chooser at a strong zstd level, as a slower tier (S3) may be set: does a stronger level pay on floats? */
    public static final String CAIRN_STRONG = "cairn9";
    public static final int STRONG_LEVEL = 9;
    /** The previous float codec, one zstd frame of the byte planes ({@code planesN+zstd}), on the same bytes. */
    public static final String PLANES_V1 = "planesV1";
    public static final String ZSTD1 = "zstd1";
    public static final String ZSTD3 = "zstd3";
    public static final String ARROW = "arrowZstd";
    public static final String WRITE_FSYNC = "write.fsync";
    static final double[] FRACTIONS = {0, 0.01, 0.1, 1.0};
    private static final double STD = 0.02;
    private static final long SEED = PreparedState.SEED;

    /**
     * What the codec benchmark runs on.
     *
     * @param datasetBytes bytes of each synthetic data set (fp32 and bf16), rounded down to whole 4 MiB chunks
     * @param repetitions  measurements of each figure; medians are reported
     * @param parentDir    where the write + fsync baseline's file goes (deleted afterwards); null for the current directory
     * @param model        the DJL MLP to train for the real-state rows, or null to leave them out
     * @param modelSteps   optimizer steps to train it
     */
    public record Options(long datasetBytes, int repetitions, Path parentDir, MlpSpec model, int modelSteps) {
        public Options {
            if (datasetBytes < CHUNK_BYTES) {
                throw new IllegalArgumentException("data set size must be at least one chunk, "
                        + ByteSize.format(CHUNK_BYTES) + ", was " + ByteSize.format(datasetBytes));
            }
            if (repetitions < 1 || repetitions > 1000) {
                throw new IllegalArgumentException("repetitions must be in [1, 1000], was " + repetitions);
            }
            if (modelSteps < 0) {
                throw new IllegalArgumentException("model steps must not be negative, was " + modelSteps);
            }
            datasetBytes -= datasetBytes % CHUNK_BYTES;
        }

        /** The MLP the full run trains: about 5.8 million parameters (69 MB with the Adam moments). */
        public static MlpSpec benchModel() {
            MlpSpec s = MlpSpec.standard();
            return new MlpSpec(s.seed(), new int[] {256, 2048, 2048, 512, 16}, s.batch(), s.learningRate(), s.beta1(),
                    s.beta2(), s.epsilon());
        }
    }

    /**
     * One method on one data set: sizes, and each repetition's encode and decode time of all of it; for Cairn also
     * its encode on two threads ({@code encodeTwoThreads}, null for the other methods).
     */
    public record Row(String dataset, String method, long rawBytes, long storedBytes, Figure encode, Figure decode,
                      Figure encodeTwoThreads, Map<String, Integer> codecs) {
        public double ratio() {
            return (double) rawBytes / storedBytes;
        }
    }

    /** What the checkpointer wrote for one save after {@code fraction} of the values changed. */
    public record Change(String pattern, double fraction, long valuesChanged, long chunks, long chunksWritten,
                         long bytesWritten, long fullSaveBytes, int fullEvery, long saveNanos, long restoreNanos) {
        /** Whether differential chunks were on for this save. */
        public boolean differential() {
            return fullEvery > 1;
        }

        /** Bytes written over the share of a full save that changed; NaN for no change. */
        public double overProportional() {
            return fraction == 0 ? Double.NaN : bytesWritten / (fraction * fullSaveBytes);
        }
    }

    /** A ratio goal: the value reached and the least one asked. */
    public record Goal(String key, String label, double value, double goal) {
        public boolean met() {
            return value >= goal;
        }
    }

    /** What a run measured. */
    public record Results(Instant date, MachineInfo machine, Options options, List<String> datasets, List<Row> rows,
                          List<Figure> figures, List<Comparison> comparisons, List<Goal> goals, List<Change> changes,
                          double loadBefore, double loadAfter) implements MeasuredRun {
        public Row row(String dataset, String method) {
            return rows.stream().filter(r -> r.dataset().equals(dataset) && r.method().equals(method)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no row " + dataset + "/" + method));
        }

        @Override
        public boolean goalsMet() {
            return MeasuredRun.super.goalsMet() && goals.stream().allMatch(Goal::met);
        }
    }

    /** A data set: its tensors' bytes and the width of its floats. */
    record Dataset(String key, String description, int elementSize, List<ByteBuffer> buffers) {
        long bytes() {
            return buffers.stream().mapToLong(ByteBuffer::capacity).sum();
        }
    }

    private final Options options;
    private final PrintStream log;

    private CodecBenchmark(Options options, PrintStream log) {
        this.options = options;
        this.log = log;
    }

    /** Runs the benchmark, printing progress to {@code log}; works in (and deletes) a new directory under the parent. */
    public static Results run(Options options, PrintStream log) throws IOException {
        return new CodecBenchmark(options, log).execute();
    }

    private Results execute() throws IOException {
        try (WorkDirectory work = WorkDirectory.create(options.parentDir(), "cairn-codec-bench-")
                .deletedOnShutdown("cairn-codec-bench-cleanup")) {
            MachineInfo machine = MachineInfo.probe(work.path());
            double loadBefore = MachineInfo.loadAverage();
            log.println("machine: " + machine.describe());
            long n = options.datasetBytes();
            List<Row> rows = new ArrayList<>();
            List<String> datasets = new ArrayList<>();
            List<Figure> figures = new ArrayList<>();

            log.printf("generating %s of fp32 ~ N(0, 0.02)...%n", ByteSize.format(n));
            SyntheticState fp32State = SyntheticState.generate(n, CHUNK_BYTES, SEED);
            Dataset fp32 = new Dataset("fp32", ByteSize.format(n) + " of fp32 ~ N(0, 0.02)", 4, fp32State.buffers());
            datasets.add(fp32.key() + ": " + fp32.description());
            rows.addAll(measure(fp32));
            Figure write = writeBaseline(fp32, work.path());
            figures.add(write);

            Dataset bf16 = bf16(n);
            datasets.add(bf16.key() + ": " + bf16.description());
            rows.addAll(measure(bf16));

            if (options.model() != null) {
                for (Dataset d : model()) {
                    datasets.add(d.key() + ": " + d.description());
                    rows.addAll(measure(d));
                }
            }
            List<Change> changes = changes(fp32State);

            List<Comparison> comparisons = new ArrayList<>();
            for (Row r : rows) {
                figures.add(r.encode());
                figures.add(r.decode());
                if (r.encodeTwoThreads() != null) {
                    figures.add(r.encodeTwoThreads());
                }
            }
            for (String d : List.of("fp32", "bf16")) {
                Row cairn = rows.stream().filter(r -> r.dataset().equals(d) && r.method().equals(CAIRN)).findFirst().orElseThrow();
                // Same byte count on both sides (bf16 is generated at the fp32 size), so the time ratio is the rate ratio.
                comparisons.add(new Comparison(d + "EncodeOverWrite", "Cairn encode " + d + ", 1 thread, vs write+fsync",
                        cairn.encode(), write, Measure.THROUGHPUT, ENCODE_OVER_WRITE_GOAL));
                comparisons.add(new Comparison(d + "Encode2OverWrite", "Cairn encode " + d + ", 2 threads, vs write+fsync",
                        cairn.encodeTwoThreads(), write, Measure.THROUGHPUT, ENCODE_OVER_WRITE_GOAL));
            }
            List<Goal> goals = new ArrayList<>();
            goals.add(new Goal("bf16Ratio", "Cairn ratio on bf16 ~ N(0, 0.02)",
                    rows.stream().filter(r -> r.dataset().equals("bf16") && r.method().equals(CAIRN)).findFirst().orElseThrow().ratio(),
                    BF16_RATIO_GOAL));
            goals.add(new Goal("fp32Ratio", "Cairn ratio on fp32 ~ N(0, 0.02)",
                    rows.stream().filter(r -> r.dataset().equals("fp32") && r.method().equals(CAIRN)).findFirst().orElseThrow().ratio(),
                    FP32_RATIO_GOAL));
            return new Results(Instant.now(), machine, options, datasets, rows, figures, comparisons, goals, changes,
                    loadBefore, MachineInfo.loadAverage());
        }
    }

    /** bf16 bit patterns: the upper 16 bits of fp32 draws from N(0, 0.02), little-endian, filled on every core. */
    private Dataset bf16(long bytes) {
        log.printf("generating %s of bf16 ~ N(0, 0.02)...%n", ByteSize.format(bytes));
        List<ByteBuffer> buffers = SyntheticState.allocateLike(SyntheticState.sizes(bytes));
        int block = 1 << 19;
        List<int[]> blocks = new ArrayList<>();
        for (int t = 0; t < buffers.size(); t++) {
            for (int off = 0; off < buffers.get(t).capacity(); off += block) {
                blocks.add(new int[] {t, off, Math.min(block, buffers.get(t).capacity() - off)});
            }
        }
        IntStream.range(0, blocks.size()).parallel().forEach(i -> {
            int[] b = blocks.get(i);
            SplittableRandom random = new SplittableRandom(SEED * 31 + i);
            ByteBuffer buf = buffers.get(b[0]).duplicate().order(ByteOrder.LITTLE_ENDIAN);
            for (int off = b[1]; off < b[1] + b[2]; off += 2) {
                buf.putShort(off, (short) (Float.floatToRawIntBits((float) (random.nextGaussian() * STD)) >>> 16));
            }
        });
        return new Dataset("bf16", ByteSize.format(bytes) + " of bf16 ~ N(0, 0.02) (upper 16 bits of fp32 draws)", 2, buffers);
    }

    /** Trains the DJL example's MLP and copies out its weights and its Adam moments (live views otherwise). */
    private List<Dataset> model() {
        if (System.getenv("DJL_CACHE_DIR") == null && System.getProperty("DJL_CACHE_DIR") == null) {
            // Where the examples (cairn demo) unpack PyTorch's native library; nothing is downloaded.
            System.setProperty("DJL_CACHE_DIR", Path.of(System.getProperty("user.home"), ".cairn", "djl").toString());
        }
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        MlpSpec spec = options.model();
        log.printf("training the DJL example's MLP %s for %d steps...%n", java.util.Arrays.toString(spec.widths()),
                options.modelSteps());
        List<ByteBuffer> weights = new ArrayList<>();
        List<ByteBuffer> moments = new ArrayList<>();
        float loss = Float.NaN;
        long params;
        try (MlpTraining training = new MlpTraining(spec)) {
            for (int s = 0; s < options.modelSteps(); s++) {
                loss = training.trainStep();
            }
            params = spec.parameterCount();
            TrainingState state = training.state();
            for (var e : state.entries()) {
                if (e instanceof Tensor t) {
                    ByteBuffer copy = ByteBuffer.allocateDirect(Math.toIntExact(t.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
                    for (ByteBuffer b : t.buffers()) {
                        copy.put(b.duplicate());
                    }
                    (t.name().startsWith("optim/") ? moments : weights).add(copy.clear());
                }
            }
        }
        String what = String.format(Locale.ROOT, "DJL MLP %s, %,d parameters, after %d Adam steps (loss %.4g)",
                java.util.Arrays.toString(spec.widths()), params, options.modelSteps(), loss);
        log.println("  " + what);
        return List.of(new Dataset("djl.weights", what + ": weights, fp32", 4, weights),
                new Dataset("djl.adam", what + ": Adam first and second moments, fp32", 4, moments));
    }

    /** Every method on {@code d}, repetitions interleaved; each method's decode checked bit-exact once. */
    private List<Row> measure(Dataset d) throws IOException {
        List<int[]> chunks = new ArrayList<>(); // {buffer, offset, length, output offset, stored length}
        long outBytes = 0;
        for (int b = 0; b < d.buffers().size(); b++) {
            int cap = d.buffers().get(b).capacity();
            for (int off = 0; off < cap; off += CHUNK_BYTES) {
                int len = Math.min(CHUNK_BYTES, cap - off);
                chunks.add(new int[] {b, off, len, Math.toIntExact(outBytes), 0});
                outBytes += Kernels.maxEncodedBytes(len);
            }
        }
        ByteBuffer out = ByteBuffer.allocateDirect(Math.toIntExact(outBytes + (1 << 20)));
        List<ByteBuffer> slices = new ArrayList<>();
        for (int[] c : chunks) {
            slices.add(out.slice(c[3], Kernels.maxEncodedBytes(c[2])));
        }
        List<ByteBuffer> dst = SyntheticState.allocateLike(d.buffers().stream().map(b -> (long) b.capacity()).toList());
        List<String> methods = List.of(CAIRN, CAIRN_STRONG, PLANES_V1, ZSTD1, ZSTD3, ARROW);
        int v1 = d.elementSize() == 2 ? 2 : d.elementSize() == 4 ? 4 : 8;
        Kernels.Encoded chosen = new Kernels.Encoded();
        int reps = options.repetitions();
        long[] enc2 = new long[reps];
        long[][] enc = new long[methods.size()][reps];
        long[][] dec = new long[methods.size()][reps];
        long[] stored = new long[methods.size()];
        Map<String, Integer> codecs = new TreeMap<>();
        log.printf("[%s] %s in %d chunks, %d repetitions%n", d.key(), ByteSize.format(d.bytes()), chunks.size(), reps);
        try (ChunkCodec cairn = new ChunkCodec(CairnConfig.DEFAULT_COMPRESSION_LEVEL);
             ChunkCodec strong = new ChunkCodec(STRONG_LEVEL);
             ZstdCompressCtx z1 = new ZstdCompressCtx().setLevel(1);
             ZstdCompressCtx z3 = new ZstdCompressCtx().setLevel(3);
             ZstdDecompressCtx zd = new ZstdDecompressCtx();
             BufferAllocator allocator = new RootAllocator();
             TwoEncoders two = new TwoEncoders(d, chunks, slices)) {
            for (int r = 0; r < reps; r++) {
                enc2[r] = two.encodeAll();
                log.printf(Locale.ROOT, "  rep %d cairn, 2 threads: encode %s%n", r + 1,
                        ReportTable.rate(d.bytes() * 1e9 / enc2[r]));
                for (int m = 0; m < methods.size(); m++) {
                    String method = methods.get(m);
                    long[] sizes = new long[1];
                    long t0 = System.nanoTime();
                    switch (method) {
                        case CAIRN, CAIRN_STRONG -> {
                            ChunkCodec codec = method.equals(CAIRN) ? cairn : strong;
                            for (int i = 0; i < chunks.size(); i++) {
                                int[] c = chunks.get(i);
                                int n = codec.encodeChoosing(d.buffers().get(c[0]), c[1], c[2], d.elementSize(), slices.get(i),
                                        chosen).length();
                                sizes[0] += n;
                                if (r == 0 && codec == cairn) {
                                    codecs.merge(chosen.codec(), 1, Integer::sum);
                                }
                                c[4] = n;
                            }
                        }
                        case PLANES_V1 -> {
                            for (int i = 0; i < chunks.size(); i++) {
                                int[] c = chunks.get(i);
                                int n = cairn.encodeBytePlanes(v1, d.buffers().get(c[0]), c[1], c[2], slices.get(i));
                                sizes[0] += n;
                                c[4] = n;
                            }
                        }
                        case ZSTD1, ZSTD3 -> {
                            ZstdCompressCtx z = method.equals(ZSTD1) ? z1 : z3;
                            for (int[] c : chunks) {
                                int cap = Kernels.maxEncodedBytes(c[2]);
                                int n = z.compressDirectByteBuffer(out, c[3], cap, d.buffers().get(c[0]), c[1], c[2]);
                                sizes[0] += n;
                                c[4] = n;
                            }
                        }
                        default -> sizes[0] = arrowWrite(d, chunks, out, allocator);
                    }
                    enc[m][r] = System.nanoTime() - t0;
                    stored[m] = sizes[0];
                    t0 = System.nanoTime();
                    switch (method) {
                        case CAIRN, CAIRN_STRONG, PLANES_V1 -> {
                            for (int[] c : chunks) {
                                cairn.decode(out, c[3], c[4], dst.get(c[0]), c[1], c[2]);
                            }
                        }
                        case ZSTD1, ZSTD3 -> {
                            for (int[] c : chunks) {
                                int n = zd.decompressDirectByteBuffer(dst.get(c[0]), c[1], c[2], out, c[3], c[4]);
                                if (n != c[2]) {
                                    throw new IOException("zstd frame decoded to " + n + " bytes, expected " + c[2]);
                                }
                            }
                        }
                        default -> arrowRead(chunks, out, Math.toIntExact(sizes[0]), dst, allocator);
                    }
                    dec[m][r] = System.nanoTime() - t0;
                    if (r == 0) {
                        for (int b = 0; b < dst.size(); b++) {
                            if (dst.get(b).duplicate().clear().mismatch(d.buffers().get(b).duplicate().clear()) != -1) {
                                throw new IllegalStateException(method + " did not decode " + d.key() + " bit-exact");
                            }
                            dst.set(b, zeroed(dst.get(b)));
                        }
                    }
                    log.printf(Locale.ROOT, "  rep %d %-9s ratio %.4f, encode %s, decode %s%n", r + 1, method,
                            (double) d.bytes() / stored[m], ReportTable.rate(d.bytes() * 1e9 / enc[m][r]),
                            ReportTable.rate(d.bytes() * 1e9 / dec[m][r]));
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (int m = 0; m < methods.size(); m++) {
            String key = d.key() + "." + methods.get(m);
            boolean cairn = methods.get(m).equals(CAIRN);
            rows.add(new Row(d.key(), methods.get(m), d.bytes(), stored[m],
                    new Figure(key + ".encode", "encode " + d.key() + " with " + methods.get(m) + ", 1 thread", d.bytes(), enc[m]),
                    new Figure(key + ".decode", "decode " + d.key() + " with " + methods.get(m) + ", 1 thread", d.bytes(), dec[m]),
                    cairn ? new Figure(key + ".encode2", "encode " + d.key() + " with cairn, 2 threads", d.bytes(), enc2) : null,
                    cairn ? Map.copyOf(codecs) : Map.of()));
        }
        return rows;
    }

    /**
     * Two threads, each with its own {@link ChunkCodec} (as the engine's encoder threads have), encoding the even and
     * the odd chunks into their own slices of the output: what two encoder threads can feed a disk.
     */
    private static final class TwoEncoders implements AutoCloseable {
        private final ExecutorService threads = Executors.newFixedThreadPool(2);
        private final List<Callable<Void>> halves = new ArrayList<>();
        private final ChunkCodec[] codecs = {new ChunkCodec(CairnConfig.DEFAULT_COMPRESSION_LEVEL),
                new ChunkCodec(CairnConfig.DEFAULT_COMPRESSION_LEVEL)};

        TwoEncoders(Dataset d, List<int[]> chunks, List<ByteBuffer> slices) {
            for (int k = 0; k < 2; k++) {
                ChunkCodec codec = codecs[k];
                Kernels.Encoded chosen = new Kernels.Encoded();
                int first = k;
                halves.add(() -> {
                    for (int i = first; i < chunks.size(); i += 2) {
                        int[] c = chunks.get(i);
                        codec.encodeChoosing(d.buffers().get(c[0]), c[1], c[2], d.elementSize(), slices.get(i), chosen);
                    }
                    return null;
                });
            }
        }

        /** Encodes every chunk once; returns the nanoseconds from start until both threads are done. */
        long encodeAll() throws IOException {
            long t0 = System.nanoTime();
            try {
                for (Future<Void> f : threads.invokeAll(halves)) {
                    f.get();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while encoding on two threads", e);
            } catch (ExecutionException e) {
                throw new IOException("encoding on two threads failed", e.getCause());
            }
            return System.nanoTime() - t0;
        }

        @Override
        public void close() {
            threads.shutdownNow();
            for (ChunkCodec c : codecs) {
                c.close();
            }
        }
    }

    private static ByteBuffer zeroed(ByteBuffer b) {
        ByteBuffer d = b.duplicate().clear();
        byte[] zeros = new byte[1 << 16];
        while (d.hasRemaining()) {
            d.put(zeros, 0, Math.min(zeros.length, d.remaining()));
        }
        return b;
    }

    /** One Arrow IPC stream of the data set into {@code out} from 0, a record batch per chunk; returns its length. */
    private static long arrowWrite(Dataset d, List<int[]> chunks, ByteBuffer out, BufferAllocator allocator) throws IOException {
        ArrowType type = d.elementSize() == 4 ? new ArrowType.FloatingPoint(FloatingPointPrecision.SINGLE)
                : new ArrowType.Int(16, true);
        Schema schema = new Schema(List.of(new Field("values", FieldType.notNullable(type), null)));
        int capacity = CHUNK_BYTES / d.elementSize();
        BufferChannel channel = new BufferChannel(out.duplicate().clear());
        try (VectorSchemaRoot root = VectorSchemaRoot.create(schema, allocator)) {
            BaseFixedWidthVector v = (BaseFixedWidthVector) root.getVector(0);
            v.allocateNew(capacity);
            v.getValidityBuffer().setOne(0, v.getValidityBuffer().capacity());
            try (ArrowStreamWriter writer = new ArrowStreamWriter(root, null, channel, IpcOption.DEFAULT,
                    CommonsCompressionFactory.INSTANCE, CompressionUtil.CodecType.ZSTD, Optional.of(ARROW_ZSTD_LEVEL))) {
                writer.start();
                for (int[] c : chunks) {
                    v.getDataBuffer().setBytes(0, d.buffers().get(c[0]), c[1], c[2]);
                    root.setRowCount(c[2] / d.elementSize());
                    writer.writeBatch();
                }
                writer.end();
            }
        }
        return channel.buffer.position();
    }

    /** Reads the stream back, copying each batch's values into its place in {@code dst}. */
    private static void arrowRead(List<int[]> chunks, ByteBuffer out, int length, List<ByteBuffer> dst,
                                  BufferAllocator allocator) throws IOException {
        BufferChannel channel = new BufferChannel(out.duplicate().clear().limit(length));
        try (ArrowStreamReader reader = new ArrowStreamReader(channel, allocator, CommonsCompressionFactory.INSTANCE)) {
            VectorSchemaRoot root = reader.getVectorSchemaRoot();
            for (int[] c : chunks) {
                if (!reader.loadNextBatch()) {
                    throw new IOException("Arrow stream ended early");
                }
                BaseFixedWidthVector v = (BaseFixedWidthVector) root.getVector(0);
                if ((long) v.getValueCount() * v.getTypeWidth() != c[2]) {
                    throw new IOException("Arrow batch of " + v.getValueCount() + " values, expected " + c[2] + " bytes");
                }
                v.getDataBuffer().getBytes(0, dst.get(c[0]).duplicate().clear().position(c[1]).limit(c[1] + c[2]));
            }
        }
    }

    /** A channel over a buffer: writes append at its position, reads consume up to its limit. */
    private static final class BufferChannel implements ByteChannel {
        final ByteBuffer buffer;

        BufferChannel(ByteBuffer buffer) {
            this.buffer = buffer;
        }

        @Override
        public int write(ByteBuffer src) {
            int n = src.remaining();
            buffer.put(src);
            return n;
        }

        @Override
        public int read(ByteBuffer dst) {
            if (!buffer.hasRemaining()) {
                return -1;
            }
            int n = Math.min(dst.remaining(), buffer.remaining());
            dst.put(buffer.slice(buffer.position(), n));
            buffer.position(buffer.position() + n);
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    /** Sequential write + fsync of the fp32 bytes into one new file, {@code repetitions} times. */
    private Figure writeBaseline(Dataset d, Path work) throws IOException {
        long[] t = new long[options.repetitions()];
        for (int r = 0; r < t.length; r++) {
            Path file = work.resolve("write-" + r);
            Baselines.settle(work);
            t[r] = Baselines.writeAndForce(d.buffers(), file);
            Files.delete(file);
            log.printf("  write+fsync rep %d: %s%n", r + 1, ReportTable.rate(d.bytes() * 1e9 / t[r]));
        }
        return new Figure(WRITE_FSYNC, "sequential write + fsync of the fp32 bytes, one file", d.bytes(), t);
    }

    /**
     * Bytes the checkpointer writes to a memory tier for a save after part of the fp32 values changed, with
     * differential chunks off and on (the default chain bound), each from the same starting state and the same
     * changes; with the wall time of each save (commit included) and of a restore of it, whose chains grow by one link
     * per row up to the bound.
     */
    private List<Change> changes(SyntheticState state) {
        List<Change> out = new ArrayList<>();
        ByteBuffer[] start = snapshot(state);
        for (int fullEvery : new int[] {1, CairnConfig.DEFAULT_DIFFERENTIAL_FULL_EVERY}) {
            restoreSnapshot(state, start);
            out.addAll(changes(state, fullEvery));
        }
        return out;
    }

    private List<Change> changes(SyntheticState state, int fullEvery) {
        long bytes = state.bytes();
        int cores = Runtime.getRuntime().availableProcessors();
        long staging = Math.max(bytes + bytes / 4, CairnConfig.minimumStagingBytes(CHUNK_BYTES, cores));
        List<Change> out = new ArrayList<>();
        log.printf("[changes] %s of fp32 through the checkpointer, memory tier, differential %s%n", ByteSize.format(bytes),
                fullEvery > 1 ? "on (whole every " + fullEvery + ")" : "off");
        SplittableRandom random = new SplittableRandom(SEED ^ 0x5DEECE66DL);
        try (MemoryObjectStore memory = new MemoryObjectStore(4 * bytes + (64L << 20));
             Checkpointer cp = Checkpointer.open(CairnConfig.builder("bench-codecs")
                     // The codecs and differential chunks are what is measured: a memory tier stores raw unless it sets a level.
                     .tier(TierConfig.of("memory", memory).compressionLevel(CairnConfig.DEFAULT_COMPRESSION_LEVEL).keepLast(2))
                     .chunkBytes(CHUNK_BYTES)
                     .encoderThreads(cores)
                     .stagingBytes(staging)
                     .gcGrace(Duration.ZERO)
                     .deadline(CheckpointWait.LIMIT)
                     .differential(fullEvery)
                     .build())) {
            // Restores go into buffers allocated once, as a framework restores into its model: a new 256 MiB of
            // direct memory per restore would time the JVM's direct-memory reclamation, not the restore.
            dev.cairn.TrainingState targets = state.emptyLike();
            long step = 0;
            long full = save(cp, ++step, state);
            for (String pattern : List.of("scattered", "contiguous")) {
                for (double f : FRACTIONS) {
                    long changed = change(state, pattern, f, random);
                    long t0 = System.nanoTime();
                    CommitReport c = saveReport(cp, ++step, state);
                    long t1 = System.nanoTime();
                    cp.restore(dev.cairn.RestoreRequest.step(step).into(targets));
                    long t2 = System.nanoTime();
                    out.add(new Change(pattern, f, changed, c.chunks(), c.chunksWritten(), c.bytesWritten(), full, fullEvery,
                            t1 - t0, t2 - t1));
                    log.printf(Locale.ROOT, "  %-10s %5.1f%% changed: %d of %d chunks written, %s, save %.0f ms, restore %.0f ms%n",
                            pattern, 100 * f, c.chunksWritten(), c.chunks(), ByteSize.format(c.bytesWritten()), (t1 - t0) / 1e6,
                            (t2 - t1) / 1e6);
                }
            }
        }
        return out;
    }

    private static ByteBuffer[] snapshot(SyntheticState state) {
        List<ByteBuffer> bufs = state.buffers();
        ByteBuffer[] copy = new ByteBuffer[bufs.size()];
        for (int i = 0; i < copy.length; i++) {
            ByteBuffer b = bufs.get(i);
            copy[i] = ByteBuffer.allocate(b.capacity()).put(0, b, 0, b.capacity());
        }
        return copy;
    }

    private static void restoreSnapshot(SyntheticState state, ByteBuffer[] copy) {
        List<ByteBuffer> bufs = state.buffers();
        for (int i = 0; i < copy.length; i++) {
            bufs.get(i).put(0, copy[i], 0, copy[i].capacity());
        }
    }

    private static long save(Checkpointer cp, long step, SyntheticState state) {
        return saveReport(cp, step, state).bytesWritten();
    }

    private static CommitReport saveReport(Checkpointer cp, long step, SyntheticState state) {
        CheckpointHandle h = cp.save(step, state.state());
        List<CommitReport> reports = CheckpointWait.await(h.done());
        cp.gc(false);
        return reports.get(0);
    }

    /** Changes {@code fraction} of the values: uniformly scattered, or the leading run of each tensor. */
    private static long change(SyntheticState state, String pattern, double fraction, SplittableRandom random) {
        long changed = 0;
        for (ByteBuffer b : state.buffers()) {
            int values = b.capacity() / 4;
            int n = (int) Math.round(fraction * values);
            if (fraction >= 1 || pattern.equals("contiguous")) {
                for (int i = 0; i < n; i++) {
                    b.putFloat(4 * i, fresh(b.getFloat(4 * i), random));
                }
            } else {
                for (int i = 0; i < n; i++) {
                    int at = 4 * random.nextInt(values);
                    b.putFloat(at, fresh(b.getFloat(at), random));
                }
            }
            changed += n;
        }
        return changed;
    }

    /** A new draw that differs from {@code old}, so that a change is a change. */
    private static float fresh(float old, SplittableRandom random) {
        float f;
        do {
            f = (float) (random.nextGaussian() * STD);
        } while (Float.floatToRawIntBits(f) == Float.floatToRawIntBits(old));
        return f;
    }
}
