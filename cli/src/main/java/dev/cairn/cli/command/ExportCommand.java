package dev.cairn.cli.command;

import dev.cairn.cli.ByteSizeConverter;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Text;
import dev.cairn.cli.safetensors.SafetensorsExport;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code cairn export <step> --format safetensors --out <dir>}: a checkpoint's tensors as safetensors files. */
@Command(name = "export",
        mixinStandardHelpOptions = true,
        description = {
            "Writes the tensors of a committed step as safetensors files that PyTorch (safetensors.torch.load_file) and"
                + " Hugging Face tools load: model.safetensors, or, above --max-shard-size, model-00001-of-0000N.safetensors"
                + " files and model.safetensors.index.json. Every chunk is verified against its hash (a bad one is taken"
                + " from the next --store). Blobs go base64-encoded into the first file's __metadata__ as"
                + " cairn.blob.<name>, beside cairn.run and cairn.step, so that import brings them back.",
            "Existing files of the same names are never overwritten."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar export 40 --store /ckpt/disk \\", "      --format safetensors --out ./step-40",
                "  java -jar cli/target/cairn.jar export 40 --store s3://bucket/ckpt \\", "      --out ./step-40 --max-shard-size 2g"})
public final class ExportCommand implements Callable<Integer> {

    /** The formats export writes. */
    public enum Format { safetensors }

    @Parameters(index = "0", paramLabel = "STEP", description = "The step to export.")
    long step;

    @Option(names = "--format", paramLabel = "FORMAT", defaultValue = "safetensors",
            description = "Output format: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    Format format;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Directory for the files (created if missing).")
    Path out;

    @Option(names = "--max-shard-size", paramLabel = "BYTES", defaultValue = "5g", converter = ByteSizeConverter.class,
            description = "Largest file before the tensors are split into shards, such as 5g or 500m"
                    + " (default: ${DEFAULT-VALUE}, as transformers).")
    long maxShard;

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print what was written as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @ParentCommand
    CairnCli cli;

    @Override
    public Integer call() throws IOException {
        if (maxShard < 1) {
            throw new ParameterException(spec.commandLine(), "--max-shard-size must be positive, was " + maxShard);
        }
        SafetensorsExport.Report report;
        try (StoreSession session = stores.openRun()) {
            StoreSession.Located located = session.locate(step);
            report = SafetensorsExport.export(located.manifest(), session.admin(), session.readOrder(located.source()), out,
                    maxShard, cli.err());
        }
        if (json) {
            Json.print(cli.out(), report);
        } else {
            cli.out().printf("step %d of run %s: %d tensors (%s) and %d blobs written to %s: %s%n", report.step(), report.run(),
                    report.tensors(), Text.bytes(report.tensorBytes()), report.blobs(), report.dir(), String.join(", ", report.files()));
        }
        return CairnCli.OK;
    }
}
