package dev.cairn.cli.command;

import dev.cairn.CheckpointAdmin;
import dev.cairn.ObjectStore;
import dev.cairn.StoreRef;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Progress;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import dev.cairn.cli.store.StoreUris;
import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code cairn restore <step> --to <store>}: copies a committed checkpoint between stores, verified and resumable. */
@Command(name = "restore",
        mixinStandardHelpOptions = true,
        description = {
            "Copies a committed step from the --store(s) into the store --to (for example from S3 to local disk before"
                + " a restart), in the engine's commit order: chunks first, as stored (each decoded and checked against its"
                + " content hash before it is sent; a chunk missing or corrupt in the first store is taken from the next"
                + " --store), then the rank indexes, then the MANIFEST with a create-only write, last.",
            "Chunks the target already holds are skipped once the target's copy is checked against its content hash"
                + " (a damaged one is replaced by the verified copy), so an interrupted copy is resumed, and a damaged"
                + " copy of the step in the target repaired, by running the same command again; the step exists in the"
                + " target only once the copy is complete. A different MANIFEST already in the target for this step is"
                + " a conflict and is never overwritten."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar restore 40 --store s3://bucket/ckpt \\",
                "      --to /ckpt/disk",
                "  java -jar cli/target/cairn.jar restore 40 --store /ckpt/disk \\",
                "      --store s3://bucket/ckpt --s3-endpoint http://127.0.0.1:9000 \\",
                "      --to /mnt/other"})
public final class RestoreCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "STEP", description = "The step to copy.")
    long step;

    @Option(names = "--to", paramLabel = "URI", required = true,
            description = "The target store (a directory, created if missing, a file: URI, or s3://bucket/prefix).")
    String to;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "4",
            description = "Chunks copied at once (default: ${DEFAULT-VALUE}).")
    int threads;

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print what was copied as JSON.")
    boolean json;

    @Spec
    CommandSpec spec;

    @ParentCommand
    CairnCli cli;

    @Override
    public Integer call() throws IOException {
        if (threads < 1 || threads > 64) {
            throw new ParameterException(spec.commandLine(), "--threads must be in [1, 64], was " + threads);
        }
        CheckpointAdmin.CopyReport report;
        try (StoreSession session = stores.openRun(to);
             ObjectStore target = StoreUris.open(to, stores.s3Endpoint(), true);
             Progress progress = Progress.of(cli.err(), "copy " + step)) {
            report = session.admin().copy(session.run(), step, new StoreRef("target", to, target), threads, progress);
        }
        if (json) {
            Json.print(cli.out(), report);
        } else if (report.alreadyCommitted() && report.chunksCopied() == 0 && report.indexesCopied() == 0) {
            cli.out().printf("step %d of run %s is already committed in %s and its %d chunks there are intact: nothing to"
                    + " copy%n", report.step(), report.run(), to, report.chunks());
        } else if (report.alreadyCommitted()) {
            cli.out().printf("step %d of run %s is already committed in %s: %d damaged or missing chunk(s) repaired (%s),"
                    + " %d intact%s%n", report.step(), report.run(), to, report.chunksCopied(), Text.bytes(report.bytesCopied()),
                    report.chunksSkipped(), report.indexesCopied() == 0 ? ""
                            : ", " + report.indexesCopied() + " missing or damaged index(es) sent again");
        } else {
            cli.out().printf("step %d of run %s: %s -> %s: %d chunks copied (%s), %d already there, %d index(es), committed%n",
                    report.step(), report.run(), report.from(), report.to(), report.chunksCopied(),
                    Text.bytes(report.bytesCopied()), report.chunksSkipped(), report.indexesCopied());
        }
        return CairnCli.OK;
    }
}
