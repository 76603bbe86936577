package dev.cairn.cli.command;

import dev.cairn.CheckpointDescription;
import dev.cairn.cli.CairnCli;
import dev.cairn.cli.Json;
import dev.cairn.cli.Table;
import dev.cairn.cli.Text;
import dev.cairn.cli.store.StoreOptions;
import dev.cairn.cli.store.StoreSession;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code cairn inspect <step>}: what one checkpoint holds, from its manifest. */
@Command(name = "inspect",
        mixinStandardHelpOptions = true,
        description = {
            "Shows one committed step from its manifest: format version, world size, chunk size, and every tensor"
                + " (dtype, shape, the rank that wrote it, bytes, chunks, codec, stored bytes, compression ratio) and"
                + " blob. Reads the manifest from the first --store that holds a readable one; reads no chunks (use"
                + " verify for that). --json adds every chunk's offset, lengths, hash and codec."},
        footerHeading = "%nExamples:%n",
        footer = {"  java -jar cli/target/cairn.jar inspect 40 --store /ckpt/disk",
                "  java -jar cli/target/cairn.jar inspect 40 --store s3://bucket/ckpt \\", "      --s3-endpoint http://127.0.0.1:9000 --json"})
public final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "STEP", description = "The step to show.")
    long step;

    @Mixin
    StoreOptions stores;

    @Option(names = "--json", description = "Print the manifest as JSON, chunks included.")
    boolean json;

    @ParentCommand
    CairnCli cli;

    /** One chunk; {@code bases}: what a differential chunk is stored against, nearest first (empty when whole). */
    public record Chunk(long offset, long rawLength, String hash, String codec, long storedLength, List<String> bases) {
    }

    /** One entry of one rank; for a tensor slice, {@code globalShape} and {@code shardOffsets} place it. */
    public record Entry(String name, String kind, String dtype, long[] shape, long[] globalShape, long[] shardOffsets, int rank,
                        long rawBytes, long storedBytes, String ratio, List<String> codecs, int chunkCount, List<Chunk> chunks) {
    }

    /** @param contentHash what the chunk hashes are of: "xxh3-128" (format 3) or "murmur3-128" (formats 1 and 2) */
    public record Inspection(String run, long step, String store, int formatVersion, String contentHash, int worldSize,
                             int chunkBytes, Instant createdAt, long rawBytes, long storedBytes, long chunkCount, List<Entry> tensors,
                             List<Entry> blobs) {
    }

    @Override
    public Integer call() throws IOException {
        Inspection inspection;
        try (StoreSession session = stores.openRun()) {
            StoreSession.Located located = session.locate(step);
            inspection = inspect(located.manifest(), located.source().location());
        }
        if (json) {
            Json.print(cli.out(), inspection);
        } else {
            printText(inspection);
        }
        return CairnCli.OK;
    }

    static Inspection inspect(CheckpointDescription m, String store) {
        List<Entry> tensors = new ArrayList<>();
        List<Entry> blobs = new ArrayList<>();
        for (CheckpointDescription.Entry r : m.entries()) {
            long stored = 0;
            TreeSet<String> codecs = new TreeSet<>();
            List<Chunk> chunks = new ArrayList<>();
            for (CheckpointDescription.Chunk c : r.chunks()) {
                stored += c.storedLength();
                codecs.add(c.codec());
                chunks.add(new Chunk(c.offset(), c.rawLength(), c.hash(), c.codec(), c.storedLength(), c.bases()));
            }
            Entry e = new Entry(r.name(), kind(r.kind()),
                    r.isTensor() ? r.dtype().name() : null, r.isTensor() ? r.shape() : null, r.isTensor() ? r.globalShape() : null,
                    r.isTensor() ? r.shardOffsets() : null, r.rank(), r.byteSize(), stored, Text.ratio(r.byteSize(), stored),
                    List.copyOf(codecs), chunks.size(), chunks);
            (r.isTensor() ? tensors : blobs).add(e);
        }
        return new Inspection(m.run(), m.step(), store, m.formatVersion(), m.contentHash(), m.worldSize(), m.chunkBytes(),
                m.createdAt(),
                m.rawBytes(), m.storedBytes(), m.chunkCount(), tensors, blobs);
    }

    private static String kind(CheckpointDescription.Kind kind) {
        return switch (kind) {
            case TENSOR -> "tensor";
            case BLOB -> "blob";
            case RANK_BLOB -> "rank-blob";
        };
    }

    private void printText(Inspection i) {
        var out = cli.out();
        out.printf("run %s, step %d (from %s)%n", i.run(), i.step(), i.store());
        out.printf("format version %d (%s content hashes), world size %d, chunk size %s, committed %s%n", i.formatVersion(),
                i.contentHash(), i.worldSize(), Text.bytes(i.chunkBytes()), i.createdAt());
        out.printf("%d tensors, %d blobs, %d chunks; %s raw, %s stored (distinct chunks), ratio %s%n", i.tensors().size(),
                i.blobs().size(), i.chunkCount(), Text.bytes(i.rawBytes()), Text.bytes(i.storedBytes()),
                Text.ratio(i.rawBytes(), i.storedBytes()));
        if (!i.tensors().isEmpty()) {
            out.println();
            Table t = new Table("TENSOR", "DTYPE", "SHAPE", "RANK", "BYTES", "CHUNKS", "CODEC", "STORED", "RATIO");
            for (Entry e : i.tensors()) {
                String shape = java.util.Arrays.equals(e.shape(), e.globalShape()) ? Text.shape(e.shape())
                        : Text.shape(e.shape()) + " of " + Text.shape(e.globalShape()) + " at " + Text.shape(e.shardOffsets());
                t.row(e.name(), e.dtype(), shape, e.rank() + "/" + i.worldSize(), Text.bytes(e.rawBytes()),
                        e.chunkCount(), codecs(e), Text.bytes(e.storedBytes()), e.ratio());
            }
            t.print(out);
        }
        if (!i.blobs().isEmpty()) {
            out.println();
            Table t = new Table("BLOB", "RANK", "BYTES", "CHUNKS", "CODEC", "STORED", "RATIO");
            for (Entry e : i.blobs()) {
                t.row(e.name(), e.rank() + "/" + i.worldSize(), Text.bytes(e.rawBytes()), e.chunkCount(), codecs(e),
                        Text.bytes(e.storedBytes()), e.ratio());
            }
            t.print(out);
        }
    }

    private static String codecs(Entry e) {
        return e.codecs().isEmpty() ? "-" : String.join(",", e.codecs());
    }
}
