package dev.cairn.backend.flight;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.testkit.EmbeddedS3;
import io.netty.util.Version;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The peer tier (gRPC on Netty) and the S3 tier (the AWS SDK's Netty client) in one JVM, as a training process
 * that checkpoints to both runs them: one Netty version on the class path, and both tiers moving objects at once.
 */
class BesideTheS3TierTest {

    @Test
    void theClassPathHoldsOneNettyVersion() {
        Map<String, String> versions = new TreeMap<>();
        Version.identify().forEach((artifact, version) -> versions.put(artifact, version.artifactVersion()));
        Set<String> distinct = versions.values().stream().collect(Collectors.toSet());
        assertEquals(1, distinct.size(), "Netty artifacts of several versions: " + versions);
    }

    @Test
    void anObjectGoesToAPeerAndToS3AndComesBackFromBothInOneJvm() throws Exception {
        byte[] content = PeerReplicationTest.randomBytes(9, 6 << 20);
        try (EmbeddedS3 s3 = EmbeddedS3.start();
             S3ObjectStore bucket = new S3ObjectStore(S3StoreConfig.builder(s3.bucket()).prefix("beside-flight")
                     .endpoint(s3.endpoint()).region(EmbeddedS3.REGION).credentials(s3.accessKey(), s3.secretKey()).build());
             PeerGroup group = PeerGroup.start(2)) {
            group.peer(0).put("run/chunks/ab/abcdef", ByteBuffer.wrap(content));
            bucket.put("run/chunks/ab/abcdef", ByteBuffer.wrap(content));
            group.awaitReplication();

            // Promotion as the engine does it: read from the peer tier, write to S3, read back from both.
            bucket.put("run/chunks/ab/copy", group.peer(1).readAll("run/chunks/ab/abcdef"));
            assertArrayEquals(content, PeerReplicationTest.bytesOf(bucket.readAll("run/chunks/ab/copy")));
            assertArrayEquals(content, PeerReplicationTest.bytesOf(group.peer(1).readAll("run/chunks/ab/abcdef")));
            assertEquals(2, bucket.list("run/").size());
        }
    }
}
