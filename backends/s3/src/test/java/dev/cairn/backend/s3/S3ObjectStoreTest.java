package dev.cairn.backend.s3;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.ObjectStore;
import dev.cairn.testkit.EmbeddedS3;
import dev.cairn.testkit.FaultyHttpProxy.Fault;
import dev.cairn.testkit.FaultyHttpProxy;
import dev.cairn.testkit.ObjectStoreContract;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import software.amazon.awssdk.core.SdkRequest;
import software.amazon.awssdk.core.SdkResponse;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.SdkHttpResponse;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Error;

/**
 * The contract against a real S3 server (S3Proxy) on loopback, one server for the class and a fresh key prefix per
 * test; then what only S3 has: multipart uploads, retries, deadlines and secrets, with faults injected by a real
 * HTTP proxy between the SDK and the server.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3ObjectStoreTest extends ObjectStoreContract {

    private static final long MIB = 1 << 20;

    private EmbeddedS3 s3;
    private int stores;

    @BeforeAll
    void startServer() throws IOException {
        s3 = EmbeddedS3.start();
    }

    @AfterAll
    void stopServer() throws IOException {
        if (s3 != null) {
            s3.close();
        }
    }

    @Override
    protected ObjectStore newStore() {
        return new S3ObjectStore(config(s3.endpoint()).build());
    }

    /** A fresh prefix per store, so that every test starts empty. */
    private S3StoreConfig.Builder config(URI endpoint) {
        return S3StoreConfig.builder(s3.bucket())
                .prefix("test-" + stores++)
                .endpoint(endpoint)
                .region(EmbeddedS3.REGION)
                .credentials(s3.accessKey(), s3.secretKey());
    }

    /** Fast retries, so that injected faults cost milliseconds. */
    private S3StoreConfig.Builder quickRetries(S3StoreConfig.Builder builder) {
        return builder.retries(4, Duration.ofMillis(5), Duration.ofMillis(50));
    }

    // ---- multipart -----------------------------------------------------------------------------------------

    @Test
    void anObjectOfSeveralPartsIsUploadedInParallelPartsAndReadsBackInRanges() throws Exception {
        int size = (int) (23 * MIB + 4321);
        byte[] content = randomBytes(40, size);
        ByteBuffer source = ByteBuffer.allocateDirect(size + 7);
        source.position(7);
        source.put(content).position(7);
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore parts = new S3ObjectStore(config(proxy.endpoint()).partSize(5 * MIB).uploadConcurrency(3).build())) {
            parts.put("big/object", source);
            assertEquals(7, source.position(), "the caller's buffer is untouched");

            assertEquals(1, proxy.count("POST", "?uploads"), "one multipart upload created");
            assertEquals(5, proxy.count("PUT", "partNumber="), "23 MiB in 5 MiB parts");
            assertEquals(1, proxy.count("POST", "uploadId="), "one completion");
            assertTrue(proxy.heads().stream().filter(h -> h.startsWith("PUT "))
                    .allMatch(h -> h.toLowerCase().contains("crc32c")), "every part carries a CRC32C checksum");
            assertEquals(List.of(), s3.unfinishedUploads(s3.bucket()));

            assertEquals(size, parts.stat("big/object").size());
            for (long offset : new long[] {0, 5 * MIB - 3, 10 * MIB, 20 * MIB + 17, size - 100}) {
                ByteBuffer range = ByteBuffer.allocateDirect((int) (2 * MIB));
                int n = parts.read("big/object", offset, range);
                assertEquals(Math.min(2 * MIB, size - offset), n);
                byte[] expected = new byte[n];
                System.arraycopy(content, (int) offset, expected, 0, n);
                assertArrayEquals(expected, bytesOf(range.flip()), "range at " + offset);
            }
            assertArrayEquals(content, bytesOf(parts.readAll("big/object")));
        }
    }

    @Test
    void deleteAllSendsOneDeleteObjectsRequestPerThousandKeys() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore batches = new S3ObjectStore(config(proxy.endpoint()).build())) {
            List<String> keys = new ArrayList<>();
            for (int i = 0; i < 2001; i++) {
                keys.add(String.format("run/chunks/%02x/c%05d", i % 256, i));
            }
            for (int i = 0; i < 2001; i += 100) {
                batches.put(keys.get(i), ByteBuffer.wrap(randomBytes(i, 10)));
            }
            batches.deleteAll(keys);
            assertEquals(3, proxy.count("POST", "?delete"), "2,001 keys: three DeleteObjects requests");
            assertEquals(0, proxy.count("DELETE", "/"), "no single DELETE");
            assertEquals(List.of(), batches.list("run/"));
        }
    }

    @Test
    void aKeyDeleteObjectsReportsNotDeletedFailsTheCallNamingItAndAKeyAlreadyGoneDoesNot() throws Exception {
        String prefix = "test-" + stores + "/"; // the prefix config() gives the store below
        // The answer S3 gives when it refuses some keys of a batch: S3Proxy deletes them all, so the answer is edited.
        ExecutionInterceptor refuses = new ExecutionInterceptor() {
            @Override
            public SdkResponse modifyResponse(
                    Context.ModifyResponse context,
                    ExecutionAttributes attributes) {
                if (context.response() instanceof DeleteObjectsResponse r) {
                    return r.toBuilder().errors(
                            S3Error.builder().key(prefix + "a/gone")
                                    .code("NoSuchKey").message("The specified key does not exist.").build(),
                            S3Error.builder().key(prefix + "a/locked")
                                    .code("AccessDenied").message("Access Denied").build()).build();
                }
                return context.response();
            }
        };
        try (S3ObjectStore store = new S3ObjectStore(config(s3.endpoint()).interceptor(refuses).build())) {
            store.put("a/locked", ByteBuffer.allocate(1));
            IOException e = assertThrows(IOException.class, () -> store.deleteAll(List.of("a/gone", "a/locked", "a/other")));
            assertTrue(e.getMessage().contains("'a/locked'") && e.getMessage().contains("AccessDenied"), e.getMessage());
            assertFalse(e.getMessage().contains("a/gone"), e.getMessage());
        }
    }

    /**
     * A server that ignores {@code If-None-Match: *} (here: the header stripped from every request) replaces an object
     * on a second create. The store finds out at its first create, which it makes again and sees succeed, and then
     * refuses every create, naming why; a server that honours the header costs that one request, once.
     */
    @Test
    void aServerThatIgnoresConditionalCreatesIsRefusedAtTheFirstCreate() throws Exception {
        ExecutionInterceptor strips = new ExecutionInterceptor() {
            @Override
            public SdkHttpRequest modifyHttpRequest(
                    Context.ModifyHttpRequest context,
                    ExecutionAttributes attributes) {
                return context.httpRequest().toBuilder().removeHeader("If-None-Match").build();
            }
        };
        try (S3ObjectStore ignoring = new S3ObjectStore(config(s3.endpoint()).interceptor(strips).build())) {
            IOException e = assertThrows(IOException.class, () -> ignoring.putIfAbsent("a", ByteBuffer.wrap(new byte[] {1})));
            assertTrue(e.getMessage().contains("If-None-Match") && e.getMessage().contains("'a'"), e.getMessage());
            IOException later = assertThrows(IOException.class, () -> ignoring.putIfAbsent("b", ByteBuffer.wrap(new byte[] {2})));
            assertEquals(e.getMessage(), later.getMessage());
            assertThrows(NoSuchFileException.class, () -> ignoring.stat("b"), "nothing sent once refused");
        }
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore honouring = new S3ObjectStore(config(proxy.endpoint()).build())) {
            assertTrue(honouring.putIfAbsent("a", ByteBuffer.wrap(new byte[] {1})));
            assertEquals(2, proxy.count("PUT", "/a"), "the first create, and once more to see it refused");
            assertTrue(honouring.putIfAbsent("b", ByteBuffer.wrap(new byte[] {2})));
            assertFalse(honouring.putIfAbsent("b", ByteBuffer.wrap(new byte[] {3})));
            assertEquals(2, proxy.count("PUT", "/b"), "later creates: one request each");
            assertEquals(2, honouring.readAll("b", 16).get(), "the first create's bytes");
        }
    }

    /**
     * A listing page that says it is cut short but names no continuation token fails the listing: taken for the last
     * page, it would hide the keys after it from a sweep, which deletes what no listed step names. Pages of two keys
     * here (the request edited), followed while their tokens come, refused once the tokens are dropped.
     */
    @Test
    void aListingPageCutShortWithoutAContinuationTokenFailsTheListing() throws Exception {
        AtomicBoolean dropTokens = new AtomicBoolean();
        ExecutionInterceptor pagesOfTwo = new ExecutionInterceptor() {
            @Override
            public SdkRequest modifyRequest(
                    Context.ModifyRequest context,
                    ExecutionAttributes attributes) {
                if (context.request() instanceof ListObjectsV2Request r) {
                    return r.toBuilder().maxKeys(2).build();
                }
                return context.request();
            }

            @Override
            public SdkResponse modifyResponse(
                    Context.ModifyResponse context,
                    ExecutionAttributes attributes) {
                if (dropTokens.get() && context.response() instanceof ListObjectsV2Response r) {
                    return r.toBuilder().nextContinuationToken(null).build();
                }
                return context.response();
            }
        };
        try (S3ObjectStore store = new S3ObjectStore(config(s3.endpoint()).interceptor(pagesOfTwo).build())) {
            for (String key : List.of("p/a", "p/b", "p/c", "p/d/x", "p/e/x")) {
                store.put(key, ByteBuffer.allocate(1));
            }
            assertEquals(5, store.list("p/").size(), "pages of two, each token followed");
            assertEquals(List.of("p/d/", "p/e/"), store.listFolders("p/"));
            dropTokens.set(true);
            IOException e = assertThrows(IOException.class, () -> store.list("p/"));
            assertTrue(e.getMessage().contains("continuation token"), e.getMessage());
            assertThrows(IOException.class, () -> store.listFolders("p/"));
        }
    }

    /**
     * A multipart upload whose completion happened but whose answer was lost: the retried completion finds the upload
     * gone (404 NoSuchUpload, as MinIO and Ceph answer; S3Proxy completes it again, so its answer is edited here), and
     * the put, which happened, succeeds (the object carries this upload's record) instead of failing as "no such
     * object".
     */
    @Test
    void aCompletionWhoseAnswerIsLostIsTakenForDoneWhenTheObjectIsThere() throws Exception {
        int size = (int) (11 * MIB + 17);
        byte[] content = randomBytes(44, size);
        ExecutionInterceptor uploadGone = new ExecutionInterceptor() {
            @Override
            public SdkHttpResponse modifyHttpResponse(
                    Context.ModifyHttpResponse context,
                    ExecutionAttributes attributes) {
                if (context.request() instanceof CompleteMultipartUploadRequest) {
                    return context.httpResponse().toBuilder().statusCode(404).build(); // only the retry's answer arrives
                }
                return context.httpResponse();
            }
        };
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             // The lost answer is waited for until the attempt's timeout: 5 s, not the default 30, and far above what
             // a 5 MiB part on loopback takes even on a busy machine.
             S3ObjectStore parts = new S3ObjectStore(quickRetries(config(proxy.endpoint())).interceptor(uploadGone)
                     .attemptTimeout(Duration.ofSeconds(5)).partSize(5 * MIB).uploadConcurrency(2).build())) {
            proxy.inject(head -> head.startsWith("POST ") && head.contains("uploadId="), Fault.LOSE_RESPONSE, 1);
            parts.put("completed", ByteBuffer.wrap(content));
            assertEquals(2, proxy.count("POST", "uploadId="), "the completion, and its retry");
            assertEquals(0, proxy.count("DELETE", "uploadId="), "nothing aborted");
            assertArrayEquals(content, bytesOf(parts.readAll("completed")));
        }
    }

    @Test
    void aSmallObjectIsOnePutWithACrc32cChecksum() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore single = new S3ObjectStore(config(proxy.endpoint()).build())) {
            single.put("small", ByteBuffer.wrap(randomBytes(41, 100_000)));
            assertEquals(1, proxy.count("PUT", "/small"));
            assertEquals(0, proxy.count("POST", "?uploads"));
            assertTrue(proxy.heads().get(0).toLowerCase().contains("crc32c"), proxy.heads().get(0));
        }
    }

    @Test
    void aFailedMultipartUploadIsAbortedAndLeavesNothingBehind() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore parts = new S3ObjectStore(quickRetries(config(proxy.endpoint()))
                     .partSize(5 * MIB).uploadConcurrency(2).build())) {
            proxy.inject(head -> head.startsWith("PUT ") && head.contains("partNumber=3"), Fault.BAD_REQUEST, 1);
            ByteBuffer source = ByteBuffer.allocateDirect((int) (16 * MIB));

            IOException failed = assertThrows(IOException.class, () -> parts.put("doomed", source));
            assertTrue(failed.getMessage().contains("doomed") && failed.getMessage().contains("HTTP 400"),
                    failed.getMessage());
            assertEquals(1, proxy.count("DELETE", "uploadId="), "aborted");
            assertEquals(List.of(), s3.unfinishedUploads(s3.bucket()));
            assertThrows(NoSuchFileException.class, () -> parts.stat("doomed"));
            assertEquals(List.of(), parts.list(""));
        }
    }

    // ---- retries and deadlines -----------------------------------------------------------------------------

    @Test
    void throttlingAndServerErrorsAreRetriedWithBackoffUntilTheWriteLands() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore retrying = new S3ObjectStore(quickRetries(config(proxy.endpoint())).build())) {
            proxy.inject(head -> head.startsWith("PUT "), Fault.SLOW_DOWN, 2)
                    .inject(head -> head.startsWith("PUT "), Fault.INTERNAL_ERROR, 1);
            byte[] content = randomBytes(42, 3000);
            retrying.put("throttled", ByteBuffer.wrap(content));

            assertEquals(4, proxy.count("PUT", "/throttled"), "three faults, then the write");
            assertEquals(3, proxy.injected());
            assertArrayEquals(content, bytesOf(retrying.readAll("throttled")));
        }
    }

    @Test
    void resetConnectionsDuringReadsAreRetried() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore retrying = new S3ObjectStore(quickRetries(config(proxy.endpoint())).build())) {
            byte[] content = randomBytes(43, 50_000);
            retrying.put("reset", ByteBuffer.wrap(content));
            proxy.inject(head -> head.startsWith("GET "), Fault.RESET, 2);

            ByteBuffer dst = ByteBuffer.allocate(content.length);
            assertEquals(content.length, retrying.read("reset", 0, dst));
            assertArrayEquals(content, dst.array());
            assertEquals(2, proxy.injected());
        }
    }

    @Test
    void throttlingIsRetriedBeyondTheAttemptBudgetAndPersistentThrottlingFailsAtTheDeadline() throws Exception {
        // Two stores on one proxy: the first's deadline (60 s) only bounds its 7 round trips on a busy machine; the
        // second's (10 s) is what ends its call, by then well past 4 attempts however slow the machine.
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore retrying = new S3ObjectStore(quickRetries(config(proxy.endpoint()))
                     .deadline(Duration.ofSeconds(60)).build());
             S3ObjectStore throttled = new S3ObjectStore(quickRetries(config(proxy.endpoint()))
                     .deadline(Duration.ofSeconds(10)).build())) {
            // 4 attempts; 6 SlowDowns are waited out (the request was refused unserved: back off and retry).
            proxy.inject(head -> head.startsWith("PUT "), Fault.SLOW_DOWN, 6);
            retrying.put("later", ByteBuffer.allocate(10));
            assertEquals(7, proxy.count("PUT", "/later"), "6 SlowDowns, then the PUT served");

            proxy.inject(head -> head.startsWith("PUT "), Fault.SLOW_DOWN, Integer.MAX_VALUE);
            IOException failed = assertThrows(IOException.class, () -> throttled.put("never", ByteBuffer.allocate(10)));
            assertTrue(failed.getMessage().contains("'never'"), failed.getMessage());
            assertTrue(failed.getMessage().contains("HTTP 503 SlowDown"), failed.getMessage());
            assertInstanceOf(TimeoutException.class, failed.getCause(), "the deadline, not the attempts, ended it");
            assertTrue(proxy.count("PUT", "/never") > 4, "beyond max attempts");
        }
    }

    @Test
    void aServerThatNeverAnswersFailsTheCallAtItsDeadline() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore stalled = new S3ObjectStore(config(proxy.endpoint())
                     .deadline(Duration.ofMillis(1500)).attemptTimeout(Duration.ofMillis(400))
                     .retries(100, Duration.ofMillis(5), Duration.ofMillis(20)).build())) {
            proxy.inject(head -> true, Fault.STALL, Integer.MAX_VALUE);

            for (String operation : List.of("put", "read", "list")) {
                long start = System.nanoTime();
                IOException failed = assertThrows(IOException.class, () -> {
                    switch (operation) {
                        case "put" -> stalled.put("stuck", ByteBuffer.allocate(100));
                        case "read" -> stalled.read("stuck", 0, ByteBuffer.allocate(100));
                        default -> stalled.list("stuck/");
                    }
                });
                long millis = (System.nanoTime() - start) / 1_000_000;
                // Not before the deadline; and far sooner than 100 attempts of 400 ms would take (40 s), with room for a
                // busy machine: the deadline, not the retry budget, ended the call.
                assertTrue(millis >= 1400 && millis < 20_000, operation + " took " + millis + " ms");
                assertInstanceOf(TimeoutException.class, failed.getCause(), operation);
                assertTrue(failed.getMessage().contains("deadline passed after"), failed.getMessage());
            }
        }
    }

    @Test
    void aCreateWhoseAcknowledgementWasLostStillReportsThatItWon() throws Exception {
        try (FaultyHttpProxy proxy = new FaultyHttpProxy(s3.endpoint());
             S3ObjectStore lossy = new S3ObjectStore(config(proxy.endpoint()).attemptTimeout(Duration.ofMillis(500))
                     .retries(4, Duration.ofMillis(5), Duration.ofMillis(20)).build())) {
            proxy.inject(head -> head.startsWith("PUT "), Fault.LOSE_RESPONSE, 1);
            byte[] mine = "manifest of step 7".getBytes(UTF_8);

            assertTrue(lossy.putIfAbsent("steps/7/MANIFEST", ByteBuffer.wrap(mine)), "the object is this call's");
            // The write, then the retry that found it; on a busy machine a retry may itself run past the 500 ms attempt
            // timeout and be retried again, so the count is a lower bound. What must hold is the answer and the bytes.
            assertTrue(proxy.count("PUT", "/steps/7/MANIFEST") >= 2, "the write, then the retry that found it");
            assertEquals(java.nio.ByteBuffer.wrap(mine), lossy.readAll("steps/7/MANIFEST"));
            assertFalse(lossy.putIfAbsent("steps/7/MANIFEST", ByteBuffer.wrap("other".getBytes(UTF_8))));

            // Lost acknowledgement of a create that another writer's content beat: still false.
            lossy.put("steps/8/MANIFEST", ByteBuffer.wrap("theirs".getBytes(UTF_8)));
            proxy.inject(head -> head.startsWith("PUT "), Fault.STALL, 1);
            assertFalse(lossy.putIfAbsent("steps/8/MANIFEST", ByteBuffer.wrap(mine)));
        }
    }

    // ---- secrets and descriptions --------------------------------------------------------------------------

    @Test
    void theSecretKeyAppearsInNoMessageDescriptionOrToString() throws Exception {
        String wrongSecret = "WRONG" + s3.secretKey().substring(5);
        S3StoreConfig bad = S3StoreConfig.builder(s3.bucket()).prefix("secret").endpoint(s3.endpoint())
                .credentials(s3.accessKey(), wrongSecret).retries(2, Duration.ofMillis(1), Duration.ofMillis(2)).build();
        List<Throwable> failures = new ArrayList<>();
        try (S3ObjectStore denied = new S3ObjectStore(bad)) {
            failures.add(assertThrows(IOException.class, () -> denied.put("k", ByteBuffer.allocate(10))));
            failures.add(assertThrows(IOException.class, () -> denied.putIfAbsent("k", ByteBuffer.allocate(10))));
            failures.add(assertThrows(IOException.class, () -> denied.read("k", 0, ByteBuffer.allocate(10))));
            failures.add(assertThrows(IOException.class, () -> denied.stat("k")));
            failures.add(assertThrows(IOException.class, () -> denied.list("")));
            failures.add(assertThrows(IOException.class, () -> denied.delete("k")));
            failures.add(assertThrows(IOException.class, () -> denied.put("big", ByteBuffer.allocate((int) (9 * MIB)))));
            // A request without a body always reads the 403; an upload may see the server hang up first (broken pipe).
            assertTrue(failures.get(4).getMessage().contains("HTTP 403"), failures.get(4).getMessage());
            for (Throwable failure : failures) {
                StringWriter trace = new StringWriter();
                failure.printStackTrace(new PrintWriter(trace));
                assertFalse(trace.toString().contains(wrongSecret), trace.toString());
                assertFalse(trace.toString().contains(s3.secretKey()), trace.toString());
            }
            for (String shown : List.of(denied.describe(), denied.toString(), bad.toString(), bad.describe(),
                    store.describe(), store.toString(), s3.toString())) {
                assertFalse(shown.contains(wrongSecret) || shown.contains(s3.secretKey()), shown);
            }
        }
    }

    @Test
    void describeNamesTheBucketThePrefixAndTheEndpoint() {
        assertTrue(store.describe().matches("s3://cairn/test-\\d+/ \\(endpoint http://127\\.0\\.0\\.1:\\d+\\)"),
                store.describe());
    }

    @Test
    void aClosedStoreRefusesCalls() throws IOException {
        store.close();
        IOException refused = assertThrows(IOException.class, () -> store.put("k", ByteBuffer.allocate(1)));
        assertTrue(refused.getMessage().contains("closed"), refused.getMessage());
    }
}
