package dev.cairn.cli.command;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointException;
import dev.cairn.Checkpointer;
import dev.cairn.CommitReport;
import dev.cairn.ObjectStore;
import dev.cairn.SaveMode;
import dev.cairn.TierConfig;
import dev.cairn.TrainingState;
import dev.cairn.cli.ByteSizeConverter;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.EngineDefaults;
import dev.cairn.cli.Json;
import dev.cairn.cli.Text;
import dev.cairn.cli.safetensors.SafetensorsExport;
import dev.cairn.cli.safetensors.SafetensorsImport;
import dev.cairn.cli.store.StoreUris;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code cairn import <path> --store <uri> --run <name> --step <n>}: safetensors files into a new committed step. */
@Command(name = "import",
        mixinStandardHelpOptions = true,
        defaultValueProvider = EngineDefaults.class,
        description = {
            "Saves the tensors of safetensors files as a new committed step of a run, through the library's own"
                + " Checkpointer (chunked, hashed, compressed, committed with its MANIFEST last), so every other command"
                + " and restore() read it like any checkpoint. PATH is a .safetensors file, a"
                + " model.safetensors.index.json, or a directory holding either. Blobs exported by 'cairn export'"
                + " (cairn.blob.* metadata) come back as blobs; --run and --step default to the files' cairn.run and"
                + " cairn.step metadata.",
            "Only this step is written: retention and garbage collection of the store are left alone."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar import ./step-40 --store /ckpt/disk \\", "      --run my-run --step 40",
                "  java -jar cli/target/cairn.jar import model.safetensors \\", "      --store s3://bucket/ckpt --run finetune --step 0"})
public final class ImportCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "PATH", description = "A .safetensors file, an index JSON, or a directory.")
    Path input;

    @Option(names = "--store", paramLabel = "URI", required = true,
            description = "The store to write (a directory, created if missing, a file: URI, or s3://bucket/prefix).")
    String store;

    @Option(names = "--s3-endpoint", paramLabel = "URL", description = "URL of an S3-compatible server for an s3:// store.")
    String s3Endpoint;

    @Option(names = "--run", paramLabel = "NAME", description = "The run (default: the files' cairn.run metadata).")
    String run;

    @Option(names = "--step", paramLabel = "N", description = "The step to commit (default: the files' cairn.step metadata).")
    Long step;

    @Option(names = "--chunk-size", paramLabel = "BYTES", converter = ByteSizeConverter.class,
            description = "Chunk size, as CairnConfig.chunkBytes (default: ${DEFAULT-VALUE}).")
    long chunkBytes;

    @Option(names = "--json", description = "Print the commit report as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @ParentCommand
    CairnCli cli;

    @Override
    public Integer call() throws IOException {
        checkChunkSize();
        CommitReport report;
        try (SafetensorsImport files = SafetensorsImport.open(input)) {
            TrainingState state = files.read();
            String runName = run != null ? run : files.metadata().get(SafetensorsExport.RUN_KEY);
            String stepText = step != null ? step.toString() : files.metadata().get(SafetensorsExport.STEP_KEY);
            if (runName == null || stepText == null) {
                throw new ParameterException(spec.commandLine(),
                        "give --run and --step: the files carry no cairn.run / cairn.step metadata");
            }
            long target = step != null ? step : stepOf(stepText, files);
            StoreUris.checkEndpointUsed(s3Endpoint, java.util.List.of(store));
            ObjectStore objects = StoreUris.open(store, s3Endpoint, true);
            CairnConfig config = CairnConfig.builder(runName)
                    // keepLast and gcGrace this large: the commit's own collection must delete nothing already there.
                    .tier(TierConfig.of("target", objects).keepLast(Integer.MAX_VALUE))
                    .gcGrace(Duration.ofDays(365L * 1000))
                    .chunkBytes(Math.toIntExact(chunkBytes))
                    .deadline(Duration.ofHours(24))
                    .build();
            try (objects; Checkpointer cp = Checkpointer.open(config)) {
                List<CommitReport> done = cp.save(target, state, SaveMode.ZERO_COPY).done().join();
                report = done.get(0);
            } catch (RuntimeException | InternalError e) {
                CheckpointException truncated = files.explain(e);
                if (truncated != null) {
                    throw truncated;
                }
                if (e instanceof CompletionException && e.getCause() instanceof CheckpointException c) {
                    throw c;
                }
                throw e;
            }
        }
        if (json) {
            Json.print(cli.out(), report);
        } else {
            cli.out().printf("step %d committed in %s: %d chunks (%d new), %s raw, %s stored%n", report.step(), store,
                    report.chunks(), report.chunksWritten(), Text.bytes(report.rawBytes()), Text.bytes(report.storedBytes()));
        }
        return CairnCli.OK;
    }

    /** A bad --chunk-size is bad usage (exit 2), checked before any file is read: the bounds are CairnConfig's. */
    private void checkChunkSize() {
        try {
            CairnConfig.builder("x").chunkBytes((int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, chunkBytes)));
        } catch (CheckpointException e) {
            throw new ParameterException(spec.commandLine(), "--chunk-size " + chunkBytes + " is out of range: "
                    + e.getMessage().replaceFirst("^[A-Z_]+: ", ""));
        }
    }

    /** The step in the files' {@code cairn.step} metadata: a number from 0, or INVALID_INPUT naming the key and value. */
    private static long stepOf(String text, SafetensorsImport files) {
        try {
            long step = Long.parseLong(text.strip());
            if (step >= 0) {
                return step;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new CheckpointException(CheckpointException.Reason.INVALID_INPUT, "metadata " + SafetensorsExport.STEP_KEY
                + " of " + files.files().get(0) + " is '" + text + "', not a step number (0 or more); give --step");
    }
}
