package dev.cairn.backend.s3;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.CheckpointException;
import dev.cairn.ObjectStores;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class S3StoreConfigTest {

    /** Bad settings fail as the API promises: CheckpointException with INVALID_CONFIG. */
    private static CheckpointException invalid(Executable setting, String what) {
        CheckpointException e = assertThrows(CheckpointException.class, setting, what);
        assertEquals(CheckpointException.Reason.INVALID_CONFIG, e.reason(), what);
        return e;
    }

    /**
     * Two tiers on one bucket and prefix are one store however the endpoint is written (a trailing slash, a default
     * port, upper case): the configuration compares locations, and before this compared the endpoints as written.
     */
    @Test
    void aLocationNamesTheEndpointOneWay() {
        String a = S3StoreConfig.builder("bucket").prefix("ckpt").endpoint(URI.create("http://minio:9000")).build().location();
        assertEquals(a, S3StoreConfig.builder("bucket").prefix("ckpt/").endpoint(URI.create("HTTP://MinIO:9000/")).build().location());
        assertEquals(S3StoreConfig.builder("bucket").endpoint(URI.create("https://s3.example.com")).build().location(),
                S3StoreConfig.builder("bucket").endpoint(URI.create("https://s3.example.com:443/")).build().location());
        assertFalse(a.equals(S3StoreConfig.builder("bucket").prefix("ckpt").endpoint(URI.create("http://minio:9001")).build()
                .location()), "another port is another server");
        assertFalse(a.equals(S3StoreConfig.builder("bucket").prefix("ckpt").build().location()), "the SDK's default is another");
    }

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
    void badUrisAreABadConfigurationRefusedWithoutEchoingCredentials() {
        for (String uri : new String[] {"file:///tmp/x", "s3:///prefix", "s3://Bad_Bucket/x", "s3://b/a//c",
            "s3://b/../x", "s3://bucket/x?versionId=1"}) {
            invalid(() -> S3StoreConfig.fromUri(uri), uri);
        }
        CheckpointException withSecret = invalid(() -> S3StoreConfig.fromUri("s3://AKIAEXAMPLE:topsecret@bucket/x"),
                "user info");
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
    void settersRefuseBadValuesAtOnceAsABadConfiguration() {
        S3StoreConfig.Builder builder = S3StoreConfig.builder("bucket");
        invalid(() -> builder.partSize(1 << 20), "part size");
        invalid(() -> builder.uploadConcurrency(0), "upload concurrency");
        invalid(() -> builder.deadline(Duration.ZERO), "deadline");
        invalid(() -> builder.retries(0, Duration.ofMillis(1), Duration.ofMillis(2)), "attempts");
        invalid(() -> builder.retries(3, Duration.ofSeconds(2), Duration.ofSeconds(1)), "backoff");
        invalid(() -> builder.endpoint(URI.create("ftp://host")), "endpoint scheme");
        invalid(() -> builder.endpoint(URI.create("http://user:pw@host")), "endpoint credentials");
        invalid(() -> builder.region("EU WEST"), "region");
    }

    @Test
    void anEndpointSettingThatIsNoUriIsABadConfigurationToo() {
        invalid(() -> ObjectStores.open("s3://bucket/x", Map.of(ObjectStores.S3_ENDPOINT, "http://host:port/ with spaces")),
                "endpoint");
    }

    @Test
    void theDefaultDeadlineIsTheEngines() {
        assertEquals(dev.cairn.CairnConfig.DEFAULT_DEADLINE, S3StoreConfig.builder("bucket").build().deadline());
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
