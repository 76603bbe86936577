package dev.cairn.backend.s3;

import dev.cairn.ObjectKeys;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.http.nio.netty.SdkEventLoopGroup;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.DefaultAwsRegionProviderChain;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.S3AsyncClientBuilder;
import software.amazon.awssdk.services.s3.model.AbortMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.ListMultipartUploadsRequest;
import software.amazon.awssdk.services.s3.model.ListMultipartUploadsResponse;
import software.amazon.awssdk.services.s3.model.MultipartUpload;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.Delete;
import software.amazon.awssdk.services.s3.model.DeleteObjectRequest;
import software.amazon.awssdk.services.s3.model.DeleteObjectsRequest;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectRequest;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Error;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * An {@link ObjectStore} on AWS S3 or an S3-compatible server, through the AWS SDK v2 asynchronous client on
 * Netty (not the CRT client, which cannot talk to every S3-compatible server).
 *
 * <ul>
 *   <li>{@link #put}: one PUT below the part size, else a multipart upload whose parts go out in parallel
 *       straight from the caller's buffer; a failed upload is aborted. CRC32C checksums on every upload.</li>
 *   <li>{@link #putIfAbsent}: one PUT with {@code If-None-Match: *}; 412 means another creator won. S3 decides,
 *       so exactly one of any number of racing creators wins, across processes and machines. Never a
 *       copy-and-delete.</li>
 *   <li>{@link #read}: one ranged GET straight into the caller's buffer (no GET by part number). The answer must be
 *       the range asked for, whole; an answer that holds the whole object must match the CRC32C and length that every
 *       put records in the object's user metadata ({@link ObjectCheck}); a mismatch is retried. A read of part of an
 *       object cannot be checked here (S3 keeps no checksum of an arbitrary range): its bytes are as the network
 *       delivered them, so callers that read parts check what they read (the engine hashes every chunk).</li>
 *   <li>{@link #deleteAll}: DeleteObjects, {@value #KEYS_PER_DELETE} keys a request, a few requests in flight; a key
 *       the answer reports as not deleted fails the call naming it (a key already gone is not an error).</li>
 *   <li>{@link #stat} checks the size against the same record; {@link #list} refuses an answer without its bucket
 *       name (an answer cut inside its headers, which the SDK takes for an empty 200), but a bit flipped inside a
 *       listing's XML cannot be detected over plain HTTP: use HTTPS, whose records are authenticated.</li>
 *   <li>Every call has a deadline ({@link S3StoreConfig#deadline}) and fails with an {@link IOException} carrying
 *       the key and the HTTP status when it passes; throttling, 5xx, resets and timeouts are retried with
 *       full-jitter backoff before that.</li>
 * </ul>
 *
 * <p>A put and a putIfAbsent that succeeded are durable: S3 acknowledges only stored objects. A put that failed may
 * or may not have replaced the object; a putIfAbsent whose acknowledgement was lost and whose retry then found the
 * object compares the stored bytes with its own, so it reports true when the object is its own.
 */
public final class S3ObjectStore implements ObjectStore {
    /** HEAD requests one {@link #statAll} keeps in flight at once. */
    private static final int STATS_IN_FLIGHT = 32;
    /** Keys in one DeleteObjects request: S3's limit. */
    static final int KEYS_PER_DELETE = 1000;
    /** DeleteObjects requests one {@link #deleteAll} keeps in flight at once. */
    private static final int DELETES_IN_FLIGHT = 4;

    private final S3StoreConfig config;
    private final EventLoopGroup eventLoops;
    private final S3AsyncClient client;
    private final ScheduledExecutorService timer;
    private final Retrier retrier;
    private final String where;
    private volatile boolean closed;
    /** Multipart uploads running: {@link #close} aborts them. */
    private final java.util.Set<MultipartPut> uploads = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Whether a first create has been made again to see the server refuse it ({@link #checkCreatesAreConditional}). */
    private final java.util.concurrent.atomic.AtomicBoolean createsChecked = new java.util.concurrent.atomic.AtomicBoolean();
    /** Why creates are refused here: this server was seen to ignore If-None-Match; null while it was not. */
    private volatile String createsIgnored;

    /** A store as {@code config} describes; the bucket must exist. */
    public S3ObjectStore(S3StoreConfig config) {
        this.config = config;
        this.where = config.describe();
        this.timer = newTimer();
        this.retrier = new Retrier(config, timer);
        this.eventLoops = newEventLoops();
        this.client = newClient(config, eventLoops);
    }

    /** The configuration this store was built from. */
    public S3StoreConfig config() {
        return config;
    }

    @Override
    public void put(String key, ByteBuffer data) throws IOException {
        String objectKey = objectKey(key);
        ByteBuffer body = data.slice();
        long deadline = deadline();
        Map<String, String> record = ObjectCheck.of(body);
        if (body.remaining() < config.partSize()) {
            putOnce(key, objectKey, body, record, deadline);
            return;
        }
        MultipartPut upload = new MultipartPut(client, retrier, config, objectKey, body, record, deadline);
        uploads.add(upload);
        try {
            checkOpen(); // after the add: a close either aborts this upload or is seen here
            CompletableFuture<Void> done = upload.run();
            try {
                await(done.copy(), "put", key); // a copy: await cancels what it gives up, and cancel() is how this stops
            } finally {
                if (!done.isDone()) { // interrupted, or past the guard: its parts must stop reading the caller's buffer
                    awaitEnd(() -> upload.cancel(new IOException("put '" + ObjectKeys.printable(key) + "' in " + where
                            + " was given up by its caller")));
                }
            }
        } finally {
            uploads.remove(upload);
        }
    }

    @Override
    public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
        if (createsIgnored != null) {
            throw new IOException(createsIgnored);
        }
        String objectKey = objectKey(key);
        ByteBuffer body = data.slice();
        Map<String, String> record = ObjectCheck.of(body);
        AtomicInteger attempts = new AtomicInteger();
        boolean won = createOnce(key, objectKey, body, record, attempts::incrementAndGet);
        if (!won && attempts.get() > 1) {
            // An earlier attempt may have created the object and lost its answer: then the object is ours.
            won = holds(key, body);
        }
        if (won && createsChecked.compareAndSet(false, true)) {
            checkCreatesAreConditional(objectKey, key, body, record);
        }
        return won;
    }

    /**
     * Creates the object just created once more, with the same bytes, and expects 412: a server that ignores
     * {@code If-None-Match: *} (some S3-compatible ones) answers 200 and replaces it. There every commit could replace
     * another writer's committed MANIFEST and every chunk's create another form of it, silently; this store then
     * refuses every create. One request more, at a store's first create; the object keeps its bytes either way.
     */
    private void checkCreatesAreConditional(String objectKey, String key, ByteBuffer body, Map<String, String> record)
            throws IOException {
        boolean replaced;
        try {
            replaced = createOnce(key, objectKey, body, record, () -> { });
        } catch (IOException e) {
            createsChecked.set(false); // not known: the next create asks again
            throw e;
        }
        if (replaced) {
            createsIgnored = "creates refused in " + where + ": the server ignores conditional writes (If-None-Match: *), "
                    + "a second create of '" + ObjectKeys.printable(key) + "' replaced it instead of failing with 412; "
                    + "on it two writers could both commit a step, the second replacing the first. Use a store that "
                    + "supports conditional writes (AWS S3, MinIO, Ceph RGW, S3Proxy)";
            throw new IOException(createsIgnored);
        }
    }

    @Override
    public int read(String key, long offset, ByteBuffer dst) throws IOException {
        String objectKey = objectKey(key);
        if (offset < 0) {
            throw new IOException("negative offset " + offset + " reading '" + ObjectKeys.printable(key) + "' in " + where);
        }
        if (!dst.hasRemaining()) {
            stat(key);
            return 0;
        }
        long last = offset + dst.remaining() - 1;
        String range = "bytes=" + offset + "-" + (last < offset ? Long.MAX_VALUE - 1 : last);
        Attempts<IntoBuffer> attempts = new Attempts<>(IntoBuffer::abandon);
        String what = "read '" + ObjectKeys.printable(key) + "' at " + offset + " in " + where;
        CompletableFuture<Integer> got = retrier.call(deadline(), timeout -> {
            IntoBuffer into = attempts.next(() -> new IntoBuffer(dst, offset, what));
            if (into == null) { // the read ended (interrupted, or past the guard) while this attempt was being started
                return CompletableFuture.failedFuture(new IOException(what + ": the read ended"));
            }
            return client.getObject(GetObjectRequest.builder().bucket(config.bucket()).key(objectKey).range(range)
                    .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build(), into);
        });
        try {
            int n = await(got, "read", key);
            dst.position(dst.position() + n);
            return n;
        } catch (IOException e) {
            if (S3Failures.status(e.getCause()) == 416) {
                return 0; // at or past the end: S3 has no bytes in that range
            }
            throw e;
        } finally {
            attempts.finish();
        }
    }

    /**
     * The attempts of one call that works on its caller's buffer (a GET writing into it, a PUT reading from it),
     * {@code end} being what stops one (abandoning its transformer, cancelling its request). A new attempt ends the one
     * before it; once the call {@linkplain #finish finished}, its attempt is ended and none starts any more, so nothing
     * touches the caller's buffer after the call returned or threw (the retrier's timer may be starting an attempt at
     * that very moment: it gets none).
     */
    static final class Attempts<A> {
        private final java.util.function.Consumer<A> end;
        private A current;
        private boolean finished;

        Attempts(java.util.function.Consumer<A> end) {
            this.end = end;
        }

        /** A new attempt, made by {@code start}, or null once the call finished. */
        synchronized A next(java.util.function.Supplier<A> start) {
            if (finished) {
                return null;
            }
            if (current != null) {
                end.accept(current);
            }
            current = start.get();
            return current;
        }

        /** Ends the attempt (waiting for a copy in progress, where ending one does) and refuses new ones. */
        synchronized void finish() {
            finished = true;
            if (current != null) {
                end.accept(current);
            }
        }
    }

    @Override
    public ObjectInfo stat(String key) throws IOException {
        String objectKey = objectKey(key);
        HeadObjectResponse head = await(head(objectKey), "stat", key);
        return new ObjectInfo(key, head.contentLength(), head.lastModified());
    }

    /** HEADs in flight together, {@value #STATS_IN_FLIGHT} at a time, instead of one round trip after another. */
    @Override
    public java.util.Map<String, ObjectInfo> statAll(java.util.Collection<String> keys) throws IOException {
        checkOpen();
        java.util.Map<String, ObjectInfo> held = new java.util.LinkedHashMap<>();
        List<String> all = List.copyOf(keys);
        for (int from = 0; from < all.size(); from += STATS_IN_FLIGHT) {
            List<String> batch = all.subList(from, Math.min(all.size(), from + STATS_IN_FLIGHT));
            List<CompletableFuture<HeadObjectResponse>> heads = new ArrayList<>(batch.size());
            for (String key : batch) {
                heads.add(head(objectKey(key)));
            }
            for (int i = 0; i < batch.size(); i++) {
                try {
                    HeadObjectResponse head = await(heads.get(i), "stat", batch.get(i));
                    held.put(batch.get(i), new ObjectInfo(batch.get(i), head.contentLength(), head.lastModified()));
                } catch (java.nio.file.NoSuchFileException absent) {
                    // left out
                }
            }
        }
        return held;
    }

    @Override
    public List<ObjectInfo> list(String prefix) throws IOException {
        checkOpen();
        checkPrefix(prefix);
        List<ObjectInfo> found = new ArrayList<>();
        String token = null;
        long deadline = deadline();
        do {
            String continuation = token;
            ListObjectsV2Response page = await(retrier.call(deadline, timeout -> client.listObjectsV2(
                    ListObjectsV2Request.builder().bucket(config.bucket()).prefix(config.prefix() + prefix)
                            .continuationToken(continuation)
                            .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())
                    .thenApply(this::wholeListing)), "list", prefix);
            for (S3Object object : page.contents()) {
                if (object.key() == null || object.size() == null || !object.key().startsWith(config.prefix())) {
                    throw new IOException("list '" + ObjectKeys.printable(prefix) + "' in " + where
                            + ": an entry without a key or a size, or outside the prefix");
                }
                found.add(new ObjectInfo(object.key().substring(config.prefix().length()), object.size(),
                        object.lastModified()));
            }
            token = nextPage(page, continuation, "list '" + ObjectKeys.printable(prefix) + "'");
        } while (token != null);
        found.sort(Comparator.comparing(ObjectInfo::key));
        return found;
    }

    /**
     * Aborts the multipart uploads under {@code prefix} (of this store's) started more than {@code olderThan} ago, and
     * no other (the bucket may hold other runs' and other applications' uploads): a writer killed
     * mid-put (or whose create was cancelled while S3 made the upload) leaves its parts stored, and billed, until a
     * bucket's lifecycle rule removes them, where there is one. ListMultipartUploads is paged by key and upload id
     * markers; an upload gone meanwhile (completed, or aborted by another collector) is not an error.
     */
    @Override
    public int deleteAbandonedWrites(String prefix, Duration olderThan) throws IOException {
        checkOpen();
        checkPrefix(prefix);
        String under = config.prefix() + prefix;
        java.time.Instant cutoff = java.time.Instant.now().minus(olderThan);
        long deadline = deadline();
        int aborted = 0;
        String keyMarker = null;
        String uploadMarker = null;
        while (true) {
            String keys = keyMarker;
            String uploads = uploadMarker;
            ListMultipartUploadsResponse page = await(retrier.call(deadline, timeout -> client.listMultipartUploads(
                    ListMultipartUploadsRequest.builder().bucket(config.bucket()).prefix(under)
                            .keyMarker(keys).uploadIdMarker(uploads)
                            .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())),
                    "list multipart uploads", "");
            for (MultipartUpload upload : page.uploads()) {
                if (upload.key() == null || !upload.key().startsWith(under) || upload.uploadId() == null
                        || upload.initiated() == null || !upload.initiated().isBefore(cutoff)) {
                    continue;
                }
                try {
                    await(retrier.call(deadline, timeout -> client.abortMultipartUpload(AbortMultipartUploadRequest.builder()
                            .bucket(config.bucket()).key(upload.key()).uploadId(upload.uploadId())
                            .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())),
                            "abort multipart upload", upload.key().substring(config.prefix().length()));
                    aborted++;
                } catch (NoSuchFileException goneMeanwhile) {
                    // completed or aborted since the listing
                }
            }
            if (!Boolean.TRUE.equals(page.isTruncated())) {
                return aborted;
            }
            if (page.nextKeyMarker() == null || (page.nextKeyMarker().equals(keys)
                    && java.util.Objects.equals(page.nextUploadIdMarker(), uploads))) {
                throw new IOException("list multipart uploads in " + where + ": a page cut short without its next markers");
            }
            keyMarker = page.nextKeyMarker();
            uploadMarker = page.nextUploadIdMarker();
        }
    }

    /** ListObjectsV2 with delimiter '/', paged: a request per 1,000 folders (and objects directly under the prefix). */
    @Override
    public List<String> listFolders(String prefix) throws IOException {
        checkOpen();
        checkPrefix(prefix);
        java.util.TreeSet<String> found = new java.util.TreeSet<>();
        String token = null;
        long deadline = deadline();
        String under = config.prefix() + prefix;
        do {
            String continuation = token;
            ListObjectsV2Response page = await(retrier.call(deadline, timeout -> client.listObjectsV2(
                    ListObjectsV2Request.builder().bucket(config.bucket()).prefix(under).delimiter("/")
                            .continuationToken(continuation)
                            .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())
                    .thenApply(this::wholeListing)), "list folders", prefix);
            for (software.amazon.awssdk.services.s3.model.CommonPrefix folder : page.commonPrefixes()) {
                String p = folder.prefix();
                if (p == null || !p.startsWith(under) || !p.endsWith("/") || p.length() == under.length()) {
                    throw new IOException("list folders '" + ObjectKeys.printable(prefix) + "' in " + where
                            + ": a folder without a name, or outside the prefix");
                }
                found.add(p.substring(config.prefix().length()));
            }
            token = nextPage(page, continuation, "list folders '" + ObjectKeys.printable(prefix) + "'");
        } while (token != null);
        return List.copyOf(found);
    }

    /**
     * The continuation token of the page after {@code page}, or null after the last one. A page that says it is cut
     * (IsTruncated) without a new token fails the listing: taken for the last page, it would hide the keys after it,
     * and a collection deletes what it does not see named (a sweep took a listing without the newest steps for one
     * where nothing names their chunks). No IsTruncated at all counts as the last page only without a token.
     */
    private String nextPage(ListObjectsV2Response page, String previous, String what) throws IOException {
        String next = page.nextContinuationToken();
        boolean truncated = page.isTruncated() == null ? next != null : page.isTruncated();
        if (!truncated) {
            return null;
        }
        if (next == null || next.isEmpty() || next.equals(previous)) {
            throw new IOException(what + " in " + where + ": a page cut short (IsTruncated) without a new continuation"
                    + " token" + (next == null || next.isEmpty() ? "" : " (the same one again)"));
        }
        return next;
    }

    @Override
    public void delete(String key) throws IOException {
        String objectKey = objectKey(key);
        try {
            await(retrier.call(deadline(), timeout -> client.deleteObject(DeleteObjectRequest.builder()
                    .bucket(config.bucket()).key(objectKey)
                    .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())), "delete", key);
        } catch (NoSuchFileException alreadyGone) {
            // S3 answers 204 for a missing key; some compatible servers answer 404.
        }
    }

    /**
     * DeleteObjects in batches of {@value #KEYS_PER_DELETE} keys ({@value #DELETES_IN_FLIGHT} in flight), quiet mode:
     * the answer lists only the keys it failed to delete. A key S3 reports gone ({@code NoSuchKey}, from a
     * compatible server; S3 itself reports a missing key as deleted) is not an error; any other error fails the call
     * with an {@link IOException} naming the first such key, its code and message, after every batch has been sent.
     * A batch is retried whole like any request: deleting a key twice is harmless.
     */
    @Override
    public void deleteAll(java.util.Collection<String> keys) throws IOException {
        checkOpen();
        List<String> all = List.copyOf(keys);
        List<String> objectKeys = new ArrayList<>(all.size());
        for (String key : all) {
            objectKeys.add(objectKey(key));
        }
        IOException first = null;
        int failed = 0;
        for (int from = 0; from < all.size(); from += KEYS_PER_DELETE * DELETES_IN_FLIGHT) {
            List<CompletableFuture<DeleteObjectsResponse>> batches = new ArrayList<>();
            List<Integer> starts = new ArrayList<>();
            for (int b = from; b < Math.min(all.size(), from + KEYS_PER_DELETE * DELETES_IN_FLIGHT); b += KEYS_PER_DELETE) {
                List<ObjectIdentifier> ids = new ArrayList<>(KEYS_PER_DELETE);
                for (String objectKey : objectKeys.subList(b, Math.min(all.size(), b + KEYS_PER_DELETE))) {
                    ids.add(ObjectIdentifier.builder().key(objectKey).build());
                }
                Delete delete = Delete.builder().objects(ids).quiet(true).build();
                long deadline = deadline();
                batches.add(retrier.call(deadline, timeout -> client.deleteObjects(DeleteObjectsRequest.builder()
                        .bucket(config.bucket()).delete(delete)
                        .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())));
                starts.add(b);
            }
            for (int i = 0; i < batches.size(); i++) {
                String firstKey = all.get(starts.get(i));
                DeleteObjectsResponse answer;
                try {
                    answer = await(batches.get(i), "delete a batch from", firstKey);
                } catch (IOException e) {
                    failed++;
                    first = first == null ? e : first;
                    continue;
                }
                for (S3Error error : answer.errors()) {
                    if ("NoSuchKey".equals(error.code())) {
                        continue;
                    }
                    failed++;
                    if (first == null) {
                        String key = error.key() != null && error.key().startsWith(config.prefix())
                                ? error.key().substring(config.prefix().length()) : error.key();
                        first = new IOException("delete '" + ObjectKeys.printable(String.valueOf(key)) + "' in " + where
                                + " failed: " + error.code() + " (" + error.message() + ")");
                    }
                }
            }
        }
        if (first != null) {
            if (failed > 1) {
                first.addSuppressed(new IOException(failed + " keys or batches of " + all.size() + " failed in all"));
            }
            throw first;
        }
    }

    @Override
    public String describe() {
        return where;
    }

    /** The bucket and prefix on the endpoint spelled one way ({@link S3StoreConfig#location}). */
    @Override
    public String location() {
        return config.location();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        IOException closedError = new IOException(where + " is closed");
        // A thread closing its resources after it was interrupted is common: the aborts waited for below and the
        // client's own waits for its pools must not see the interrupt (the SDK logged them as failures); set again after.
        boolean interrupted = Thread.interrupted();
        try {
            interrupted |= abortUploads(closedError);
            retrier.close(closedError);
            client.close();
        } finally {
            timer.shutdownNow();
            // Our own group, with a short quiet period: the SDK would wait 2 s on every close.
            eventLoops.shutdownGracefully(EVENT_LOOP_QUIET_MILLIS, EVENT_LOOP_SHUTDOWN_MILLIS, TimeUnit.MILLISECONDS);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Cancels the multipart uploads still running and waits, at most an attempt's timeout (the budget of each abort),
     * while their aborts go out: after the client closes, nothing could abort them and their callers' puts would wait
     * for a timer that no longer runs. Best effort: an upload not aborted is left to a bucket lifecycle rule. An
     * interrupt does not cut the wait short (the client would close under the aborts): returns whether one came.
     */
    private boolean abortUploads(IOException closedError) {
        List<CompletableFuture<Void>> ends = new ArrayList<>();
        for (MultipartPut upload : uploads) {
            ends.add(upload.cancel(closedError));
        }
        long until = System.nanoTime() + config.attemptTimeout().toNanos() + ABORTS_GRACE_NANOS;
        boolean interrupted = false;
        for (CompletableFuture<Void> end : ends) {
            while (!end.isDone()) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return interrupted; // not aborted in time: left behind
                }
                try {
                    end.get(left, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException | TimeoutException | java.util.concurrent.CancellationException e) {
                    break; // failed with the close, as it should
                }
            }
        }
        return interrupted;
    }

    @Override
    public String toString() {
        return "S3ObjectStore[" + where + "]";
    }

    // ---- requests ------------------------------------------------------------------------------------------

    /**
     * One PUT, retried. Once the call ended (returned, or threw because its caller was interrupted or the guard
     * passed) no attempt starts any more, and the one in flight is cancelled: the caller may reuse its buffer.
     */
    private void putOnce(String key, String objectKey, ByteBuffer body, Map<String, String> record, long deadline)
            throws IOException {
        Attempts<CompletableFuture<?>> attempts = new Attempts<>(attempt -> attempt.cancel(true));
        CompletableFuture<?> done = retrier.call(deadline, timeout -> {
            CompletableFuture<?> attempt = attempts.next(() -> putAttempt(objectKey, body, record, false, timeout));
            return attempt != null ? attempt
                    : CompletableFuture.failedFuture(new IOException("put '" + objectKey + "': the call ended"));
        });
        try {
            await(done, "put", key);
        } finally {
            attempts.finish();
        }
    }

    /**
     * One create (a PUT with {@code If-None-Match: *}), retried: true when it created the object, false on 412. As
     * {@link #putOnce}: once the call ended (returned, or threw because its caller was interrupted or the guard passed)
     * no attempt starts any more and the one in flight is cancelled, so the caller may reuse its buffer. Before, a
     * create given up by an interrupted caller went on retrying with the caller's buffer, which a save reuses for
     * other chunks: the object could be created later with other bytes under the chunk's key (and a MANIFEST
     * committed after its save had reported the interrupt). {@code onAttempt} is called at each attempt.
     */
    private boolean createOnce(String key, String objectKey, ByteBuffer body, Map<String, String> record, Runnable onAttempt)
            throws IOException {
        Attempts<CompletableFuture<?>> attempts = new Attempts<>(attempt -> attempt.cancel(true));
        CompletableFuture<?> run = retrier.call(deadline(), timeout -> {
            CompletableFuture<?> attempt = attempts.next(() -> {
                onAttempt.run();
                return putAttempt(objectKey, body, record, true, timeout);
            });
            return attempt != null ? attempt
                    : CompletableFuture.failedFuture(new IOException("create '" + objectKey + "': the call ended"));
        });
        CompletableFuture<Boolean> created = run.handle((response, failure) -> {
            if (failure == null) {
                return Boolean.TRUE;
            }
            if (S3Failures.status(failure) == 412) {
                return Boolean.FALSE;
            }
            throw new java.util.concurrent.CompletionException(S3Failures.unwrap(failure));
        });
        try {
            return await(created, "create", key);
        } finally {
            attempts.finish();
            if (!run.isDone()) {
                run.cancel(true); // the retrier's own run: no pause and attempt after this one
            }
        }
    }

    private CompletableFuture<?> putAttempt(String objectKey, ByteBuffer body, Map<String, String> record,
                                            boolean ifAbsent, Duration timeout) {
        PutObjectRequest.Builder request = PutObjectRequest.builder().bucket(config.bucket()).key(objectKey)
                .contentLength((long) body.remaining()).checksumAlgorithm(ChecksumAlgorithm.CRC32_C).metadata(record)
                .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout));
        if (ifAbsent) {
            request.ifNoneMatch("*");
        }
        // No copy: the caller's bytes go to the socket; put returns only after the request ended.
        return client.putObject(request.build(), AsyncRequestBody.fromRemainingByteBufferUnsafe(body.duplicate()));
    }

    /**
     * {@code page}, when it is a whole answer. The SDK takes a 200 whose connection closed inside its headers for a
     * complete answer with an empty body, which parses as an empty listing; every real listing names its bucket.
     */
    private ListObjectsV2Response wholeListing(ListObjectsV2Response page) {
        if (page.name() == null) {
            throw new java.util.concurrent.CompletionException(new IOException("list in " + where
                    + ": the answer ended before its body (no bucket name)"));
        }
        return page;
    }

    /** A HEAD whose size is checked against the object's {@link ObjectCheck} record; a mismatch is retried. */
    private CompletableFuture<HeadObjectResponse> head(String objectKey) {
        return retrier.call(deadline(), timeout -> client.headObject(HeadObjectRequest.builder()
                .bucket(config.bucket()).key(objectKey)
                .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build())
                .thenApply(head -> {
                    try {
                        if (head.contentLength() == null) {
                            throw new IOException("stat '" + objectKey + "' in " + where + ": no Content-Length");
                        }
                        ObjectCheck.checkSize(head.metadata(), head.contentLength(), "stat '" + objectKey + "' in " + where);
                        return head;
                    } catch (IOException e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }));
    }

    /** Whether {@code key} holds exactly the bytes of {@code body}. */
    private boolean holds(String key, ByteBuffer body) throws IOException {
        if (stat(key).size() != body.remaining()) {
            return false;
        }
        ByteBuffer stored = ByteBuffer.allocateDirect(body.remaining());
        while (stored.hasRemaining()) {
            if (read(key, stored.position(), stored) == 0) {
                return false;
            }
        }
        return stored.flip().equals(body);
    }

    // ---- plumbing ------------------------------------------------------------------------------------------

    private String objectKey(String key) throws IOException {
        checkOpen();
        Keys.check(config.prefix(), key);
        return config.prefix() + key;
    }

    /** Refuses a prefix no key of a store could start with (control characters, a backslash), before any request. */
    private static void checkPrefix(String prefix) throws IOException {
        if (prefix == null || !ObjectKeys.printable(prefix).equals(prefix) || prefix.indexOf('\\') >= 0) {
            throw new IOException("invalid prefix '" + (prefix == null ? null : ObjectKeys.printable(prefix)) + "'");
        }
    }

    private long deadline() {
        return System.nanoTime() + config.deadline().toNanos();
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException(where + " is closed");
        }
    }

    /**
     * Waits for a call's future; it always completes by its deadline, so the wait here is only a guard against a
     * bug. Failures become {@link IOException}s naming the operation and the key.
     */
    private <T> T await(CompletableFuture<T> future, String operation, String key) throws IOException {
        try {
            return future.get(config.deadline().toNanos() + config.attemptTimeout().toNanos() + GUARD_NANOS,
                    TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted = new InterruptedIOException(operation + " '" + ObjectKeys.printable(key)
                    + "' in " + where + " was interrupted");
            interrupted.initCause(e);
            throw interrupted;
        } catch (ExecutionException e) {
            throw S3Failures.toIOException(operation, key, where, e.getCause());
        } catch (TimeoutException e) {
            future.cancel(true);
            throw S3Failures.toIOException(operation, key, where, e);
        } catch (java.util.concurrent.CancellationException e) {
            throw S3Failures.toIOException(operation, key, where, closed ? new IOException("store closed", e) : e);
        }
    }

    /**
     * Stops a call its caller gave up ({@code stop} returns the call's end) and waits for it to end: at most an
     * attempt's timeout (the abort's budget) and the guard, and without being interrupted (a caller's interrupt is
     * what may have ended the call; the requests that stop it must not see it either); the thread's interrupt is set
     * again after. Its failure is not the caller's: the caller already has its own.
     */
    private void awaitEnd(java.util.function.Supplier<CompletableFuture<?>> stop) {
        boolean interrupted = Thread.interrupted();
        long until = System.nanoTime() + config.attemptTimeout().toNanos() + GUARD_NANOS;
        try {
            CompletableFuture<?> end = stop.get();
            while (!end.isDone()) {
                long left = until - System.nanoTime();
                if (left <= 0) {
                    return;
                }
                try {
                    end.get(left, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException | TimeoutException | java.util.concurrent.CancellationException e) {
                    return;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Long enough for the SDK to return its pooled connections to their loops, far below Netty's 2 s default. */
    private static final long EVENT_LOOP_QUIET_MILLIS = 100;
    private static final long EVENT_LOOP_SHUTDOWN_MILLIS = 5_000;
    private static final long GUARD_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** What a close waits for the aborts of the uploads it cancels beyond their own budget: the timer's lateness. */
    private static final long ABORTS_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static ScheduledExecutorService newTimer() {
        ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, task -> {
            Thread thread = new Thread(task, "cairn-s3-timer");
            thread.setDaemon(true);
            return thread;
        });
        timer.setRemoveOnCancelPolicy(true);
        return Executors.unconfigurableScheduledExecutorService(timer);
    }

    private static EventLoopGroup newEventLoops() {
        int threads = Math.max(2, Math.min(8, Runtime.getRuntime().availableProcessors()));
        return new NioEventLoopGroup(threads, new DefaultThreadFactory("cairn-s3-io", true));
    }

    private static S3AsyncClient newClient(S3StoreConfig config, EventLoopGroup eventLoops) {
        Duration attempt = config.attemptTimeout();
        NettyNioAsyncHttpClient.Builder http = NettyNioAsyncHttpClient.builder()
                .eventLoopGroup(SdkEventLoopGroup.create(eventLoops))
                .maxConcurrency(Math.max(64, 4 * config.uploadConcurrency()))
                .connectionTimeout(attempt.compareTo(Duration.ofSeconds(10)) < 0 ? attempt : Duration.ofSeconds(10))
                .connectionAcquisitionTimeout(attempt)
                .readTimeout(attempt)
                .writeTimeout(attempt);
        S3AsyncClientBuilder builder = S3AsyncClient.builder()
                .httpClientBuilder(http)
                .region(Region.of(config.region() != null ? config.region() : defaultRegion()))
                .forcePathStyle(config.pathStyle())
                .credentialsProvider(config.credentials() != null
                        ? config.credentials() : DefaultCredentialsProvider.builder().build())
                .overrideConfiguration(o -> {
                    o.retryStrategy(AwsRetryStrategy.doNotRetry()); // Retrier retries, within the call's deadline
                    config.interceptors().forEach(o::addExecutionInterceptor);
                });
        if (config.endpoint() != null) {
            builder.endpointOverride(config.endpoint());
        }
        return builder.build();
    }

    private static String defaultRegion() {
        try {
            return new DefaultAwsRegionProviderChain().getRegion().id();
        } catch (SdkException none) {
            return S3StoreConfig.FALLBACK_REGION;
        }
    }
}
