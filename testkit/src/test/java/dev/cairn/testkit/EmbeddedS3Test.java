package dev.cairn.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedS3Test {

    @Test
    void startsOnLoopbackAndAnswersAsAnS3Server() throws Exception {
        try (EmbeddedS3 s3 = EmbeddedS3.start()) {
            assertEquals("127.0.0.1", s3.endpoint().getHost());
            assertTrue(s3.endpoint().getPort() > 0);
            HttpResponse<String> answer = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(s3.endpoint() + "/" + s3.bucket() + "/missing")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            // S3Proxy answers an unsigned GET of a missing key with S3's own error document.
            assertEquals(404, answer.statusCode(), answer.body());
            assertTrue(answer.body().contains("<Code>NoSuchKey</Code>"), answer.body());
            assertEquals(List.of(), s3.unfinishedUploads(s3.bucket()));
            assertFalse(s3.toString().contains(s3.secretKey()), s3.toString());
        }
    }

    @Test
    void twoServersHaveTheirOwnPortsAndKeys(@TempDir Path temp) throws Exception {
        try (EmbeddedS3 first = EmbeddedS3.start(); EmbeddedS3 second = EmbeddedS3.start("other", temp.resolve("s3"))) {
            assertNotEquals(first.endpoint(), second.endpoint());
            assertNotEquals(first.secretKey(), second.secretKey());
            assertEquals("other", second.bucket());
            assertTrue(Files.isDirectory(temp.resolve("s3")));
        }
    }

    @Test
    void closingTwiceIsHarmless() throws Exception {
        EmbeddedS3 s3 = EmbeddedS3.start();
        s3.close();
        s3.close();
    }
}
