package dev.cairn.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class S3StoreConfigTest {

    @Test
    void aStoreUriGivesTheBucketAndThePrefix() {
        S3StoreConfig config = S3StoreConfig.fromUri("s3://my-bucket/runs/llama").build();
        assertEquals("my-bucket", config.bucket());
        assertEquals("runs/llama/", config.prefix());
        assertEquals("s3://my-bucket/runs/llama/", config.describe());
        assertEquals("", S3StoreConfig.fromUri("s3://my-bucket").build().prefix());
        assertEquals("", S3StoreConfig.fromUri("s3://my-bucket/").build().prefix());
        assertEquals("a/", S3StoreConfig.fromUri("s3://my-bucket/a/").build().prefix());
    }

    @Test
    void badUrisAreRefusedWithoutEchoingCredentials() {
        for (String uri : new String[] {"file:///tmp/x", "s3:///prefix", "s3://Bad_Bucket/x", "s3://b/a//c",
            "s3://b/../x", "s3://bucket/x?versionId=1"}) {
            assertThrows(IllegalArgumentException.class, () -> S3StoreConfig.fromUri(uri), uri);
        }
        IllegalArgumentException withSecret = assertThrows(IllegalArgumentException.class,
                () -> S3StoreConfig.fromUri("s3://AKIAEXAMPLE:topsecret@bucket/x"));
        assertFalse(withSecret.getMessage().contains("topsecret"), withSecret.getMessage());
    }

    @Test
    void defaultsSuitAwsAndAnEndpointTurnsOnPathStyle() {
        S3StoreConfig aws = S3StoreConfig.builder("bucket").build();
        assertEquals(8L << 20, aws.partSize());
        assertFalse(aws.pathStyle());
        assertNull(aws.endpoint());
        assertNull(aws.credentials(), "the SDK's default chain");

        S3StoreConfig local = S3StoreConfig.builder("bucket").endpoint(URI.create("http://127.0.0.1:9000")).build();
        assertTrue(local.pathStyle());
        assertEquals("s3://bucket/ (endpoint http://127.0.0.1:9000)", local.describe());
        assertFalse(S3StoreConfig.builder("bucket").endpoint(URI.create("http://h:1")).pathStyle(false).build().pathStyle());
    }

    @Test
    void settersRefuseBadValuesAtOnce() {
        S3StoreConfig.Builder builder = S3StoreConfig.builder("bucket");
        assertThrows(IllegalArgumentException.class, () -> builder.partSize(1 << 20));
        assertThrows(IllegalArgumentException.class, () -> builder.uploadConcurrency(0));
        assertThrows(IllegalArgumentException.class, () -> builder.deadline(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> builder.retries(0, Duration.ofMillis(1), Duration.ofMillis(2)));
        assertThrows(IllegalArgumentException.class, () -> builder.retries(3, Duration.ofSeconds(2), Duration.ofSeconds(1)));
        assertThrows(IllegalArgumentException.class, () -> builder.endpoint(URI.create("ftp://host")));
        assertThrows(IllegalArgumentException.class, () -> builder.endpoint(URI.create("http://user:pw@host")));
        assertThrows(IllegalArgumentException.class, () -> builder.region("EU WEST"));
    }

    @Test
    void theAttemptTimeoutNeverExceedsTheDeadline() {
        S3StoreConfig config = S3StoreConfig.builder("bucket").deadline(Duration.ofSeconds(2))
                .attemptTimeout(Duration.ofSeconds(30)).build();
        assertEquals(Duration.ofSeconds(2), config.attemptTimeout());
    }

    @Test
    void toStringNamesNoSecret() {
        S3StoreConfig config = S3StoreConfig.builder("bucket").credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG").build();
        assertFalse(config.toString().contains("wJalrXUtnFEMI"), config.toString());
        assertTrue(config.toString().contains("credentials given"), config.toString());
    }
}
