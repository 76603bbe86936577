package dev.cairn.testkit;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.gaul.s3proxy.S3Proxy;
import org.gaul.s3proxy.auth.AuthenticationType;
import org.gaul.s3proxy.blobstore.BlobStore;
import org.gaul.s3proxy.blobstore.domain.MultipartUpload;
import org.gaul.s3proxy.nio2blob.FilesystemNio2BlobStore;
import org.gaul.s3proxy.nio2blob.TransientNio2BlobStore;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.services.s3.model.Bucket;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;

/**
 * An S3-compatible server (S3Proxy) running in this process on 127.0.0.1, on a free port, with one bucket and
 * a fresh random key pair: the object tier of tests and of {@code cairn demo}, so a fresh machine needs nothing
 * else. Objects live in memory ({@link #start()}) or in a directory that the caller owns
 * ({@link #start(String, Path)}).
 *
 * <p>The server accepts the headers it does not know ({@code x-amz-mp-object-size} from the SDK's multipart
 * client would otherwise be a 501). It does not serve GET by part number; read with ranges. {@link #close}
 * aborts unfinished multipart uploads, empties and deletes every bucket, and stops the server.
 *
 * <p>S3Proxy is an optional dependency of the testkit: a module that starts this server declares
 * {@code org.gaul:s3proxy} itself (its version and the exclusions of the cloud providers' jars are managed in
 * the parent POM).
 */
public final class EmbeddedS3 implements AutoCloseable {

    /** The bucket {@link #start()} creates. */
    public static final String DEFAULT_BUCKET = "cairn";

    /** S3Proxy ignores the region, but clients sign with one. */
    public static final String REGION = "us-east-1";

    /** Loggers of the server that log every request at DEBUG when nobody configured them (30x slower). */
    private static final List<String> SERVER_LOGGERS = List.of("org.gaul", "org.eclipse.jetty");

    private static final long START_TIMEOUT_NANOS = 30_000_000_000L;

    private final S3Proxy server;
    private final BlobStore blobs;
    private final String bucket;
    private final String accessKey;
    private final String secretKey;
    private final Path directory;
    private final URI endpoint;
    private boolean closed;

    private EmbeddedS3(S3Proxy server, BlobStore blobs, String bucket, String accessKey, String secretKey,
                       Path directory) {
        this.server = server;
        this.blobs = blobs;
        this.bucket = bucket;
        this.accessKey = accessKey;
        this.secretKey = secretKey;
        this.directory = directory;
        this.endpoint = URI.create("http://127.0.0.1:" + server.getPort());
    }

    /** A server holding its objects in memory, with the bucket {@value #DEFAULT_BUCKET}. */
    public static EmbeddedS3 start() throws IOException {
        return start(DEFAULT_BUCKET, null);
    }

    /**
     * A server with {@code bucket}, holding its objects under {@code directory} (created if missing), or in
     * memory when {@code directory} is null.
     */
    public static EmbeddedS3 start(String bucket, Path directory) throws IOException {
        Objects.requireNonNull(bucket, "bucket");
        quietServerLoggers();
        String accessKey = "cairn-" + randomHex(8);
        String secretKey = randomHex(20);
        BlobStore blobs;
        if (directory == null) {
            blobs = new TransientNio2BlobStore();
        } else {
            blobs = new FilesystemNio2BlobStore(Files.createDirectories(directory).toAbsolutePath().toString());
        }
        S3Proxy server = S3Proxy.builder()
                .blobStore(blobs)
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, accessKey, secretKey)
                .ignoreUnknownHeaders(true)
                .stopTimeout(0)
                .build();
        try {
            server.start();
            long deadline = System.nanoTime() + START_TIMEOUT_NANOS;
            while (!"STARTED".equals(server.getState())) {
                if (System.nanoTime() > deadline) {
                    throw new IOException("S3Proxy did not start within 30 s (state " + server.getState() + ")");
                }
                Thread.sleep(5);
            }
            blobs.createContainer(bucket);
        } catch (IOException e) {
            stopQuietly(server, blobs, e);
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            IOException interrupted = new IOException("interrupted while starting S3Proxy", e);
            stopQuietly(server, blobs, interrupted);
            throw interrupted;
        } catch (Exception e) {
            IOException failed = new IOException("S3Proxy failed to start: " + e, e);
            stopQuietly(server, blobs, failed);
            throw failed;
        }
        return new EmbeddedS3(server, blobs, bucket, accessKey, secretKey, directory);
    }

    /** Where clients connect: {@code http://127.0.0.1:<port>}; use path-style addressing. */
    public URI endpoint() {
        return endpoint;
    }

    /** The bucket created at start. */
    public String bucket() {
        return bucket;
    }

    /** The access key id clients sign with. */
    public String accessKey() {
        return accessKey;
    }

    /** The secret access key clients sign with; random per server, never printed by {@link #toString}. */
    public String secretKey() {
        return secretKey;
    }

    /** Creates another bucket, for tests that want one of their own. */
    public void createBucket(String name) {
        blobs.createContainer(name);
    }

    /** Keys of the multipart uploads started in {@code bucketName} and neither completed nor aborted. */
    public List<String> unfinishedUploads(String bucketName) {
        List<String> keys = new ArrayList<>();
        for (software.amazon.awssdk.services.s3.model.MultipartUpload upload : blobs.listMultipartUploads(bucketName)) {
            keys.add(upload.key());
        }
        return keys;
    }

    /**
     * Puts {@code bytes} under {@code key} of the bucket as they would lie at rest after damage: behind the S3 API, the
     * object's user metadata (a store's own record of its length and checksum) kept as it was.
     */
    public void replaceBytesKeepingMetadata(String key, java.nio.ByteBuffer bytes) {
        java.util.Map<String, String> metadata = blobs.blobMetadata(bucket, key).metadata();
        byte[] body = new byte[bytes.remaining()];
        bytes.duplicate().get(body);
        blobs.putBlob(software.amazon.awssdk.services.s3.model.PutObjectRequest.builder().bucket(bucket).key(key)
                .metadata(metadata).contentLength((long) body.length).build(), new java.io.ByteArrayInputStream(body));
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        IOException failure = null;
        try {
            server.stop();
        } catch (Exception e) {
            failure = new IOException("S3Proxy failed to stop", e);
        }
        try {
            deleteBuckets();
        } catch (RuntimeException e) {
            failure = addTo(failure, new IOException("S3Proxy's buckets could not be deleted", e));
        }
        try {
            blobs.close();
        } catch (RuntimeException e) {
            failure = addTo(failure, new IOException("S3Proxy's blob store failed to close", e));
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "EmbeddedS3[" + endpoint + ", bucket " + bucket + ", "
                + (directory == null ? "in memory" : directory.toString()) + "]";
    }

    /**
     * Unfinished uploads first: deleting a bucket that has one is a 409. A request a client gave up (a cancelled part or
     * put, whose call has ended on the client's side) may still reach the server and write after the bucket was
     * cleared (409 "not empty", seen in CI runs after the server had stopped): the bucket is cleared again and deleted
     * again, a few times, then left to the store's close.
     */
    private void deleteBuckets() {
        for (Bucket each : blobs.list().buckets()) {
            String name = each.name();
            for (int attempt = 1; ; attempt++) {
                for (software.amazon.awssdk.services.s3.model.MultipartUpload upload : blobs.listMultipartUploads(name)) {
                    blobs.abortMultipartUpload(new MultipartUpload(upload.uploadId(),
                            CreateMultipartUploadRequest.builder().bucket(name).key(upload.key()).build()));
                }
                blobs.clearContainer(ListObjectsV2Request.builder().bucket(name).build());
                try {
                    blobs.deleteBucket(name);
                    break;
                } catch (software.amazon.awssdk.services.s3.model.S3Exception notEmpty) {
                    if (notEmpty.statusCode() != 409) {
                        throw notEmpty;
                    }
                    if (attempt == 5) {
                        // What the listing cannot clear: the server's own temporary file of a request cut off when it
                        // stopped (two CI runs on a quiet machine, S3CallEndsTest). The server is stopped and its
                        // store is closed next, which is what this cleanup is for; a test that must see nothing left
                        // asserts that itself (unfinishedUploads, its listings).
                        break;
                    }
                    try {
                        Thread.sleep(100L * attempt); // a late write in flight: let it land, then clear again
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw notEmpty;
                    }
                }
            }
        }
    }

    /**
     * S3Proxy brings Logback, whose default configuration logs Jetty at DEBUG and runs about 30x slower. Loggers
     * someone configured keep their level; the rest log warnings only.
     */
    private static void quietServerLoggers() {
        for (String name : SERVER_LOGGERS) {
            if (LoggerFactory.getLogger(name) instanceof ch.qos.logback.classic.Logger logger && logger.getLevel() == null) {
                logger.setLevel(ch.qos.logback.classic.Level.WARN);
            }
        }
    }

    private static void stopQuietly(S3Proxy server, BlobStore blobs, Exception cause) {
        try {
            server.stop();
        } catch (Exception e) {
            cause.addSuppressed(e);
        }
        try {
            blobs.close();
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
        }
    }

    private static IOException addTo(IOException first, IOException next) {
        if (first == null) {
            return next;
        }
        first.addSuppressed(next);
        return first;
    }

    private static String randomHex(int bytes) {
        byte[] random = new byte[bytes];
        new SecureRandom().nextBytes(random);
        return HexFormat.of().formatHex(random);
    }
}
