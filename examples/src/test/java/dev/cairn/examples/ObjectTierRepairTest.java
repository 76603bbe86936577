package dev.cairn.examples;

import dev.cairn.examples.mlp.S3Target;
import dev.cairn.examples.mlp.TrainArgs;
import dev.cairn.examples.mlp.TrainMain;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The DJL training with three tiers (memory, disk, S3 on an {@link EmbeddedS3}), in this JVM: each
 * {@link TrainMain#run} opens its own checkpointer and memory tier, as a new process would. The node-loss scenario
 * with real processes and SIGKILL is {@link ResumeScenarioTest}.
 */
class ObjectTierRepairTest {
    private static final String ID_PROPERTY = "aws.accessKeyId";
    private static final String SECRET_PROPERTY = "aws.secretAccessKey";

    private EmbeddedS3 s3;
    private String idBefore;
    private String secretBefore;

    @BeforeEach
    void startS3() throws Exception {
        s3 = EmbeddedS3.start();
        idBefore = System.getProperty(ID_PROPERTY);
        secretBefore = System.getProperty(SECRET_PROPERTY);
        // TrainMain takes credentials from these system properties (or the environment), never from arguments.
        System.setProperty(ID_PROPERTY, s3.accessKey());
        System.setProperty(SECRET_PROPERTY, s3.secretKey());
    }

    @AfterEach
    void stopS3() throws Exception {
        restore(ID_PROPERTY, idBefore);
        restore(SECRET_PROPERTY, secretBefore);
        s3.close();
    }

    @Test
    void chunkCorruptedOnDiskIsRepairedFromS3AndTrainingContinuesBitExact(@TempDir Path dir) throws Exception {
        RunTranscript whole = train(args(dir, "whole", 30, false));
        RunTranscript first = train(args(dir, "split", 20, false));
        assertEquals(20, first.checkpoints().stream().filter(c -> c.failure() == null).count(), first.lines().toString());
        assertTrue(first.checkpoints().stream().anyMatch(c -> c.step() == 20 && c.writtenByTier().containsKey("s3")),
                first.lines().toString());

        Path disk = dir.resolve("split").resolve(TrainMain.DISK);
        Path chunk = largestChunkOf(disk, 20);
        byte[] good = Files.readAllBytes(chunk);
        byte[] bad = good.clone();
        for (int i = bad.length / 2; i < bad.length / 2 + 64; i++) {
            bad[i] ^= (byte) 0x5a;
        }
        Files.write(chunk, bad); // same length: only the content hash can tell

        RunTranscript resumed = train(args(dir, "split", 30, true));

        RunTranscript.Restored r = resumed.restored();
        assertNotNull(r, resumed.lines().toString());
        System.out.println("corrupted " + disk.relativize(chunk) + " (" + good.length + " bytes); resumed: " + r);
        assertEquals(20, r.step(), resumed.lines().toString());
        assertEquals(TrainMain.DISK, r.tier(), "the fastest tier holding step 20 is disk");
        assertTrue(r.repaired() > 0, resumed.lines().toString());
        assertTrue(r.readByTier().getOrDefault(TrainMain.S3, 0L) > 0, "the good copy comes from s3: " + r);
        for (long step = 21; step <= 30; step++) {
            assertEquals(whole.lossBits().get(step), resumed.lossBits().get(step), "loss of step " + step);
        }
        assertEquals(whole.finalHash(), resumed.finalHash());
        assertNotNull(whole.finalHash());
        assertTrue(resumed.errors().isEmpty(), resumed.errors().toString());
    }

    @Test
    void trainMainNeverPrintsTheCredentials(@TempDir Path dir) throws Exception {
        RunTranscript t = train(args(dir, "quiet", 4, false));

        String all = String.join("\n", t.lines());
        assertTrue(all.contains("s3 every 4 keep 2 at s3://" + s3.bucket() + "/quiet/"), all);
        assertFalse(all.contains(s3.secretKey()), "the secret must never be printed");
        assertFalse(all.contains(s3.accessKey()), "nor the key id");
        assertFalse(String.join(" ", args(dir, "quiet", 4, false).toArgs()).contains(s3.secretKey()));
    }

    @Test
    void argumentsRoundTripAndS3FlagsNeedABucket() {
        TrainArgs a = TrainArgs.parse("--dir", "/tmp/x", "--every", "5", "--s3-bucket", "b1", "--s3-endpoint",
                "http://127.0.0.1:9000", "--s3-prefix", "runs/a");
        assertEquals(new S3Target(java.net.URI.create("http://127.0.0.1:9000"), "b1", "runs/a", "us-east-1", 10), a.s3());
        assertEquals(a, TrainArgs.parse(a.toArgs().toArray(new String[0])));
        assertEquals(null, TrainArgs.parse("--dir", "/tmp/x").s3());
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TrainArgs.parse("--dir", "/tmp/x", "--s3-endpoint", "http://127.0.0.1:9000"));
        assertTrue(e.getMessage().contains("--s3-bucket"), e.getMessage());
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> TrainArgs.parse("--dir", "/tmp/x", "--s3-bucket", "b", "--s3-endpoint", "http://id:secret@h:1"))
                .getMessage().contains("credentials"));
    }

    private TrainArgs args(Path dir, String name, long steps, boolean resume) {
        return TrainArgs.of(dir.resolve(name), steps, 5, resume)
                .withS3(new S3Target(s3.endpoint(), s3.bucket(), name, EmbeddedS3.REGION, name.equals("quiet") ? 4 : 10));
    }

    /** The file of the largest chunk that step {@code step}'s manifest on disk names. */
    private static Path largestChunkOf(Path disk, long step) throws Exception {
        StoreLayout layout = new StoreLayout(TrainMain.RUN);
        byte[] bytes = Files.readAllBytes(disk.resolve(layout.manifestKey(step)));
        Manifest m;
        try (BufferAllocator allocator = new RootAllocator()) {
            m = ManifestFormat.read(ByteBuffer.wrap(bytes), "MANIFEST of step " + step, allocator);
        }
        ChunkRef largest = m.entries().stream().map(EntryRecord::chunks).flatMap(List::stream)
                .max(Comparator.comparingLong(ChunkRef::storedLength)).orElseThrow();
        Path file = disk.resolve(layout.chunkKey(largest.hash()));
        assertTrue(Files.isRegularFile(file), file.toString());
        return file;
    }

    private static RunTranscript train(TrainArgs args) throws Exception {
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            assertEquals(0, TrainMain.run(args, out));
        }
        return RunTranscript.parse(captured.toString(StandardCharsets.UTF_8).lines().toList());
    }

    private static void restore(String property, String value) {
        if (value == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, value);
        }
    }
}
