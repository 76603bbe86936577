package dev.cairn.cli.command;

import dev.cairn.bench.BenchOptions;
import dev.cairn.bench.BenchResults;
import dev.cairn.bench.CodecBenchmark;
import dev.cairn.bench.CodecReport;
import dev.cairn.bench.EndToEndBenchmark;
import dev.cairn.bench.GoodputBenchmark;
import dev.cairn.bench.GoodputReport;
import dev.cairn.bench.Report;
import dev.cairn.bench.S3BenchResults;
import dev.cairn.bench.S3Benchmark;
import dev.cairn.bench.S3Report;
import dev.cairn.bench.ScaleReport;
import dev.cairn.bench.ScalePlot;
import dev.cairn.bench.simulate.ScaleSimulation;
import dev.cairn.bench.ShardedBenchmark;
import dev.cairn.bench.ShardedReport;
import dev.cairn.cli.ByteSizeConverter;
import dev.cairn.cli.CairnCli;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code cairn bench}: the end-to-end benchmark, each figure beside the machine's own limit from the same run. */
@Command(name = "bench",
        mixinStandardHelpOptions = true,
        description = {
            "Measures, on --size bytes of fp32 state and in the same run on the same bytes:",
            "(a) the stall of save() in COPY mode against one plain copy into off-heap memory (goal: at most 1.2x),"
                + " and the ZERO_COPY stall;",
            "(b) persist throughput to local disk (save() until committed) against a sequential write + fsync of one"
                + " file (goal: at least 0.8x), and the compression ratio;",
            "(c) restore throughput from disk against reading the stored chunk files and zstd-decoding them.",
            "Reports medians of --reps repetitions. Reads come from the page cache on both sides.",
            "With --s3, instead: an S3-compatible server (S3Proxy) in this JVM on 127.0.0.1, keeping its objects as"
                + " files under --dir, and on the same bytes (d) save() until committed in an S3 tier (S3 only, and"
                + " memory then S3) against the AWS SDK's S3 TransferManager uploading them as one object (goal: at"
                + " least 1.0x), (e) restore from S3 against a TransferManager download and ranged GETs of it.",
            "With --codecs, instead: on one thread and the same bytes, the compression ratio and encode/decode throughput"
                + " of Cairn's per-chunk codec choice (4 MiB chunks), zstd level 1 and 3 alone, and Arrow IPC with ZSTD"
                + " body compression, on --size (default 256m) each of fp32 and bf16 ~ N(0, 0.02) and on the DJL example's"
                + " MLP after --model-steps Adam steps (goals: bf16 >= 1.45x, fp32 >= 1.2x, encode faster than a"
                + " write+fsync measured in the same run); and the bytes a save writes after 0, 1, 10 and 100 %% of the"
                + " fp32 values changed (memory tier).",
            "With --ranks, instead: 4 ranks of a sharded model in 4 JVMs on 127.0.0.1, each with the peer-memory tier"
                + " (Arrow Flight, ring replication), a shared disk tier and an S3 tier (S3Proxy in this JVM): the aggregate"
                + " save throughput beside a memory copy, then rank 2 is killed and a replacement restores its slices from"
                + " peer memory, disk and S3, each beside plain reads of the same stored chunks.",
            "With --goodput, instead: the DJL example's MLP (and a 50 M-parameter one) trained for a fixed number of"
                + " steps in fresh JVMs, each after unmeasured steps until the JIT is quiet, (a) without checkpoints, (b) every step into memory, (c) every step into memory,"
                + " every 10 into disk and every 20 into S3 (S3Proxy in this JVM), (d, large model) every 10 steps into"
                + " memory and disk, (e) and (f) as (b) and (c) with whenBusy SKIP, (g), (h) and (i, large model) as (b), (c)"
                + " and (d) captured during the next step's forward and backward pass (ZERO_COPY; CAIRN_BENCH_GOODPUT_SETTINGS"
                + " names a subset, e.g. bg), every checkpointer opened with prepareFirstSave: median step time and overhead against (a) (goals: (b) <= 3%%, (c) <= 5%%), the"
                + " save() stall p50/p99/max beside one memory copy of the state (goal: p99 <= 2x), the first save's"
                + " stall beside later ones (goal: <= 2x), and the pipeline's CPU per step (all threads but training's,"
                + " and the engine's own threads alone).",
            "With --simulate, instead: --ranks N ranks (16 to 10,000) save --checkpoints checkpoints of a model of"
                + " --model-bytes (default 570 MB of bf16 weights, fp32 master weights and Adam moments per rank: 5.7 TB"
                + " and about 1.37 M chunks at 10,000 ranks) into one simulated S3 bucket (S3's per-prefix rates and"
                + " latencies, 503 SlowDown beyond them) on simulated time, running the engine's own index writes,"
                + " multi-rank commit, retention and GC; then --restore-ranks M ranks (default N/2) plan a restore of the"
                + " last checkpoint. Reports per checkpoint requests by kind, LIST calls, the busiest key's rate, SlowDown"
                + " answers, manifest and index bytes, commit latency, and each restoring rank's metadata bytes, beside"
                + " issue 15's goals. At 10,000 ranks: minutes and about 6 GiB of heap (-Xmx6g).",
            "Needs about 2x --size of direct memory (-XX:MaxDirectMemorySize) and 5x --size of RAM in all.",
            "Exit status 0 when every figure was taken, whether or not it met its goal."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar bench",
                "  java -Xmx2g -XX:MaxDirectMemorySize=3g -jar cli/target/cairn.jar bench --size 1g --reps 7",
                "  java -jar cli/target/cairn.jar bench --size 256m --json > bench.json",
                "  java -Xmx2g -XX:MaxDirectMemorySize=3g -jar cli/target/cairn.jar bench --s3 --reps 5",
                "  java -Xmx2g -XX:MaxDirectMemorySize=3g -jar cli/target/cairn.jar bench --codecs",
                "  java -jar cli/target/cairn.jar bench --goodput --rounds 3",
                "  java -Xmx6g -jar cli/target/cairn.jar bench --simulate --ranks 10000 --json > sim.json",
                "  java -jar cli/target/cairn.jar bench --simulate --ranks 256 --svg scale.svg"})
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--size", paramLabel = "BYTES", defaultValue = "1g", converter = ByteSizeConverter.class,
            description = "Bytes of state, such as 1g or 512m; rounded down to whole 4 MiB chunks"
                    + " (default: ${DEFAULT-VALUE}).")
    long size;

    @Option(names = "--reps", paramLabel = "N", defaultValue = "5",
            description = "Repetitions of every measurement (default: ${DEFAULT-VALUE}).")
    int repetitions;

    @Option(names = "--dir", paramLabel = "DIR",
            description = "Where to make the working directory for the disk figures (with --s3: the server's objects), deleted afterwards"
                    + " (default: the current directory). Put it on the disk you want measured.")
    Path dir;

    @Option(names = "--s3", description = "Run the S3 benchmark (engine vs the AWS SDK's TransferManager against an"
            + " embedded S3Proxy) instead of the memory and disk one.")
    boolean s3;

    @Option(names = "--codecs", description = "Run the compression benchmark (Cairn's codecs vs zstd 1 and 3 and Arrow"
            + " IPC with ZSTD, and bytes written per change) instead of the memory and disk one.")
    boolean codecs;

    @Option(names = "--model-steps", paramLabel = "N", defaultValue = "200",
            description = "With --codecs: Adam steps of the DJL example's MLP before its state is measured; 0 leaves"
                    + " it out (default: ${DEFAULT-VALUE}).")
    int modelSteps;

    @Option(names = "--ranks", paramLabel = "N", arity = "0..1", fallbackValue = "0",
            description = "Run the multi-rank benchmark (4 ranks in 4 JVMs on loopback: peer memory over"
            + " Arrow Flight, shared disk, S3Proxy): aggregate save throughput and restore time of a lost rank per tier."
            + " With --simulate: the number of simulated ranks, 16 to 10,000.")
    Integer ranks;

    @Option(names = "--simulate", description = "Run the scale simulation of --ranks N ranks against a simulated S3"
            + " (see above) instead of the memory and disk benchmark.")
    boolean simulate;

    @Option(names = "--restore-ranks", paramLabel = "M", description = "With --simulate: ranks that restore the last"
            + " checkpoint (default: N/2).")
    Integer restoreRanks;

    @Option(names = "--model-bytes", paramLabel = "BYTES", converter = ByteSizeConverter.class,
            description = "With --simulate: bytes of model state in all, such as 5700g (default: 570 MB per rank).")
    Long modelBytes;

    @Option(names = "--checkpoints", paramLabel = "K", defaultValue = "4", description = "With --simulate: checkpoints"
            + " saved, each 15 simulated minutes after the one before ended; retention (keep 2) retires one from the third on, and rank 0's GC"
            + " deletes its chunks at the next commit once its 10-minute grace has passed (default: ${DEFAULT-VALUE}).")
    int checkpoints;

    @Option(names = "--scale", defaultValue = "16", description = "With --ranks: size of the sharded model (1 = about 6 MiB"
            + " of global state, 16 = about 96 MiB; default ${DEFAULT-VALUE}).")
    int scale;

    @Option(names = "--goodput", description = "Run the goodput benchmark (training with checkpoints on vs off)"
            + " instead of the memory and disk one.")
    boolean goodput;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "400",
            description = "With --goodput: measured steps of each default-MLP run (default: ${DEFAULT-VALUE}).")
    int goodputSteps;

    @Option(names = "--rank-steps", paramLabel = "N", defaultValue = "16",
            description = "With --ranks: steps each rank saves; the save figures are the median of steps 2..N, so that"
                    + " they describe JVMs whose save path the JIT has compiled, as a training run's is after its first"
                    + " minutes (default: ${DEFAULT-VALUE}).")
    int rankSteps;

    @Option(names = "--large-steps", paramLabel = "N", defaultValue = "40",
            description = "With --goodput: measured steps of each 50 M-parameter run; 0 leaves that model out"
                    + " (default: ${DEFAULT-VALUE}).")
    int largeSteps;

    @Option(names = "--rounds", paramLabel = "N", defaultValue = "2",
            description = "With --goodput: runs of every setting, interleaved (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--json", description = "Print the figures as JSON on stdout (progress goes to stderr).")
    boolean json;

    @Option(names = "--svg", paramLabel = "FILE", description = "With --simulate: add this run's requests per checkpoint"
            + " and commit latency to the plot against N in FILE (an SVG, made if missing; a point of the same N is"
            + " replaced), beside issue 15's goals.")
    Path svg;

    @ParentCommand
    CairnCli cli;

    @Spec
    CommandSpec spec;

    /** {@code --simulate}: the scale simulation of issue 15. */
    private Integer simulate() {
        if (ranks == null || ranks == 0) {
            throw new ParameterException(spec.commandLine(), "--simulate needs --ranks N, 16 to 10,000");
        }
        if (ranks < 16 || ranks > ScaleSimulation.MAX_RANKS) {
            throw new ParameterException(spec.commandLine(), "--ranks must be in [16, 10000] with --simulate, was " + ranks);
        }
        if (svg != null && java.nio.file.Files.exists(svg)) {
            try {
                ScalePlot.read(svg); // refused before the run, not after it
            } catch (IOException e) {
                throw new ParameterException(spec.commandLine(), "--svg " + svg + ": " + e.getMessage());
            }
        }
        ScaleSimulation.Options options;
        try {
            options = ScaleSimulation.Options.defaults(ranks).withCheckpoints(checkpoints);
            if (restoreRanks != null) {
                options = options.withRestoreRanks(restoreRanks);
            }
            if (modelBytes != null) {
                options = options.withModelBytes(modelBytes);
            }
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        try {
            ScaleSimulation.Results results = ScaleSimulation.run(options, cli.err());
            if (json) {
                cli.out().println(ScaleReport.json(results));
            } else {
                ScaleReport.printText(results, cli.out());
            }
            if (svg != null) {
                ScalePlot.add(svg, ScalePlot.Point.of(results));
                cli.err().println("plot: " + svg);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("scale simulation interrupted", e);
        } catch (IOException e) {
            throw new ParameterException(spec.commandLine(), "--svg " + svg + ": " + e.getMessage());
        }
        return CairnCli.OK;
    }

    @Override
    public Integer call() throws IOException {
        BenchOptions options;
        try {
            options = new BenchOptions(size, repetitions, dir);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        if (codecs) {
            long bytes = spec.commandLine().getParseResult().hasMatchedOption("--size") ? size : 256L << 20;
            CodecBenchmark.Options codecOptions;
            try {
                codecOptions = new CodecBenchmark.Options(bytes, repetitions, dir,
                        modelSteps > 0 ? CodecBenchmark.Options.benchModel() : null, modelSteps);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
            CodecBenchmark.Results results = CodecBenchmark.run(codecOptions, json ? cli.err() : cli.out());
            if (json) {
                cli.out().println(CodecReport.json(results));
            } else {
                CodecReport.printText(results, cli.out());
            }
            return CairnCli.OK;
        }
        if (goodput) {
            GoodputBenchmark.Options goodputOptions;
            try {
                goodputOptions = new GoodputBenchmark.Options(goodputSteps, largeSteps, rounds, dir);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), e.getMessage());
            }
            try {
                GoodputBenchmark.Results results = GoodputBenchmark.run(goodputOptions, cli.err());
                if (json) {
                    cli.out().println(GoodputReport.json(results));
                } else {
                    GoodputReport.printText(results, cli.out());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("goodput benchmark interrupted", e);
            }
            return CairnCli.OK;
        }
        if (svg != null && !simulate) {
            throw new ParameterException(spec.commandLine(), "--svg plots the scale simulation: it needs --simulate");
        }
        if (simulate) {
            return simulate();
        }
        if (ranks != null) {
            if (ranks != 0) {
                throw new ParameterException(spec.commandLine(), "--ranks N takes a number only with --simulate; the"
                        + " multi-rank benchmark always runs 4 ranks (--ranks alone)");
            }
            if (scale < 1 || scale > 1024) {
                throw new ParameterException(spec.commandLine(), "--scale must be in [1, 1024], was " + scale);
            }
            if (rankSteps < 3 || rankSteps > 200) {
                throw new ParameterException(spec.commandLine(), "--rank-steps must be in [3, 200] (disk and S3 take every"
                        + " 3rd step), was " + rankSteps);
            }
            try {
                ShardedBenchmark.Results results = ShardedBenchmark.run(scale, rankSteps, repetitions, dir, cli.err());
                if (json) {
                    cli.out().println(ShardedReport.json(results));
                } else {
                    ShardedReport.printText(results, cli.out());
                }
            } catch (IOException e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException("multi-rank benchmark failed: " + e.getMessage(), e);
            }
            return CairnCli.OK;
        }
        if (s3) {
            S3BenchResults results = S3Benchmark.run(options, json ? cli.err() : cli.out());
            if (json) {
                cli.out().println(S3Report.json(results));
            } else {
                S3Report.printText(results, cli.out());
            }
            return CairnCli.OK;
        }
        BenchResults results = EndToEndBenchmark.run(options, json ? cli.err() : cli.out());
        if (json) {
            cli.out().println(Report.json(results));
        } else {
            Report.printText(results, cli.out());
        }
        return CairnCli.OK;
    }
}
