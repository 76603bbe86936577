package dev.cairn.backend.s3;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.AbortMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadResponse;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.UploadPartRequest;

/**
 * One object uploaded in parts: create the upload, send the parts from the caller's buffer (slices of it, never
 * copied) with at most {@code uploadConcurrency} in flight, complete. On any failure no further part is sent, the
 * parts in flight end, and the upload is aborted before the returned future fails, so nothing is left behind to be
 * billed. {@link #cancel} does the same for a caller that stops waiting: the caller may reuse its buffer once the
 * upload's future is done, so nothing of the upload may read it, or complete it, after that.
 */
final class MultipartPut {
    private final S3AsyncClient client;
    private final Retrier retrier;
    private final String bucket;
    private final String objectKey;
    private final ByteBuffer data;
    private final java.util.Map<String, String> record;
    private final long partSize;
    private final int partCount;
    private final int lanes;
    private final long deadlineNanos;
    private final Duration abortBudget;

    private final CompletableFuture<Void> partsDone = new CompletableFuture<>();
    private final AtomicInteger nextPart = new AtomicInteger();
    private final AtomicInteger lanesRunning = new AtomicInteger();
    private final CompletableFuture<Void> lanesEnded = new CompletableFuture<>();
    private volatile CompletedPart[] parts;
    private volatile String uploadId;
    /** Whether a completion's answer came without its ETag: the completion may have happened, unheard. */
    private volatile boolean completionUnheard;
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    /** What {@link #cancel} cancels: the retried calls of the upload and their requests in flight. */
    private final java.util.Set<CompletableFuture<?>> inFlight = new java.util.HashSet<>();
    /** Why the upload was cancelled, or null; set under {@link #inFlight}'s lock. */
    private volatile Throwable cancelled;

    MultipartPut(S3AsyncClient client, Retrier retrier, S3StoreConfig config, String objectKey, ByteBuffer data,
                 java.util.Map<String, String> record, long deadlineNanos) {
        this.client = client;
        this.retrier = retrier;
        this.bucket = config.bucket();
        this.objectKey = objectKey;
        this.data = data;
        this.record = record;
        long size = data.remaining();
        // Grow the part size when the object would need more parts than S3 allows.
        long minimum = (size + S3StoreConfig.MAX_PARTS - 1) / S3StoreConfig.MAX_PARTS;
        this.partSize = Math.max(config.partSize(), minimum);
        this.partCount = (int) Math.max(1, (size + partSize - 1) / partSize);
        this.lanes = Math.min(config.uploadConcurrency(), partCount);
        this.deadlineNanos = deadlineNanos;
        this.abortBudget = config.attemptTimeout();
    }

    /** Uploads the object; completes when it is visible under its key, or fails after the upload is aborted. */
    CompletableFuture<Void> run() {
        tracked(retrier.call(deadlineNanos, timeout -> request(() -> client.createMultipartUpload(
                        CreateMultipartUploadRequest.builder()
                        .bucket(bucket).key(objectKey).checksumAlgorithm(ChecksumAlgorithm.CRC32_C).metadata(record)
                        .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build()))
                        .thenApply(created -> {
                            if (created.uploadId() == null) { // an answer cut inside its headers: ask again
                                throw new java.util.concurrent.CompletionException(new java.io.IOException(
                                        "multipart upload of '" + objectKey + "': the answer had no upload id"));
                            }
                            return created;
                        })))
                .thenCompose(created -> {
                    parts = new CompletedPart[partCount];
                    uploadId = created.uploadId();
                    lanesRunning.set(lanes);
                    for (int i = 0; i < lanes; i++) {
                        runLane();
                    }
                    return partsDone;
                })
                .thenCompose(ignored -> tracked(retrier.call(deadlineNanos, timeout -> request(() ->
                        client.completeMultipartUpload(
                        CompleteMultipartUploadRequest.builder().bucket(bucket).key(objectKey).uploadId(uploadId)
                                .multipartUpload(CompletedMultipartUpload.builder().parts(parts).build())
                                .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build()))
                        .thenApply(this::wholeCompletion))))
                .whenComplete((completed, failure) -> {
                    if (failure == null) {
                        done.complete(null);
                    } else if (cancelled == null && partsDone.isDone() && !partsDone.isCompletedExceptionally()
                            && (S3Failures.status(failure) == 404 || completionUnheard)) {
                        confirmCompleted(done, failure);
                    } else {
                        abortThenFail(done, failure);
                    }
                });
        return done;
    }

    /**
     * Stops the upload for a caller that stops waiting: no part, and no completion, is sent any more; the retried
     * calls and the requests in flight are cancelled; the upload is aborted. Returns {@link #run}'s future, which fails
     * once no part can read the caller's buffer any more, after the abort.
     */
    CompletableFuture<Void> cancel(Throwable why) {
        List<CompletableFuture<?>> running;
        synchronized (inFlight) {
            if (cancelled == null) {
                cancelled = why;
            }
            running = new ArrayList<>(inFlight);
        }
        partsDone.completeExceptionally(why);
        running.forEach(future -> future.cancel(true));
        return done;
    }

    /**
     * Starts a request unless the upload was cancelled; it is cancelled with the upload. Under the lock of
     * {@link #cancel}: once cancel has run, no request of this upload starts, and every one started is cancelled.
     */
    private <T> CompletableFuture<T> request(Supplier<CompletableFuture<T>> start) {
        synchronized (inFlight) {
            if (cancelled != null) {
                return CompletableFuture.failedFuture(new CancellationException("upload cancelled"));
            }
            return tracked(start.get());
        }
    }

    /** {@code future}, cancelled with the upload (at once when it was cancelled already). */
    private <T> CompletableFuture<T> tracked(CompletableFuture<T> future) {
        synchronized (inFlight) {
            if (cancelled == null) {
                inFlight.add(future);
                future.whenComplete((value, failure) -> {
                    synchronized (inFlight) {
                        inFlight.remove(future);
                    }
                });
                return future;
            }
        }
        future.cancel(true);
        return future;
    }

    /**
     * {@code completed}, when it is a whole answer. The SDK takes a 200 whose connection closed inside its headers, or
     * an empty 200, for a complete answer with an empty body; every real completion names the object's ETag. Such an
     * answer says nothing of whether the upload completed: it is retried, and judged as a lost answer at the end.
     */
    private CompleteMultipartUploadResponse wholeCompletion(CompleteMultipartUploadResponse completed) {
        if (completed.eTag() == null || completed.eTag().isEmpty()) {
            completionUnheard = true;
            throw new java.util.concurrent.CompletionException(new java.io.IOException("completion of multipart upload"
                    + " of '" + objectKey + "': the answer had no ETag (cut short, or empty)"));
        }
        return completed;
    }

    /**
     * The completion failed after every part was sent, with 404 or after an answer without its ETag: its answer may
     * have been lost and its retry found the upload gone because it had completed (NoSuchUpload, as S3Proxy, MinIO and
     * Ceph answer). The object is then under its key with this upload's record (length and CRC32C of the whole): the
     * put happened. Anything else fails it, after the upload is aborted.
     */
    private void confirmCompleted(CompletableFuture<Void> done, Throwable failure) {
        client.headObject(software.amazon.awssdk.services.s3.model.HeadObjectRequest.builder().bucket(bucket).key(objectKey)
                        .overrideConfiguration(o -> o.apiCallAttemptTimeout(abortBudget)).build())
                .whenComplete((head, headFailure) -> {
                    if (headFailure == null && head.contentLength() != null && head.contentLength() == data.remaining()
                            && ObjectCheck.sameRecord(head.metadata(), record)) {
                        done.complete(null);
                    } else {
                        abortThenFail(done, failure);
                    }
                });
    }

    /**
     * Uploads the next part not yet taken, then the next, until none is left or a part failed. Each lane has one
     * part in flight at most, so once every lane has ended no part is on the wire.
     */
    private void runLane() {
        int index = nextPart.getAndIncrement();
        if (index >= partCount || partsDone.isDone()) {
            if (lanesRunning.decrementAndGet() == 0) {
                partsDone.complete(null);
                lanesEnded.complete(null);
            }
            return;
        }
        long offset = index * partSize;
        int length = (int) Math.min(partSize, data.remaining() - offset);
        ByteBuffer slice = data.slice(data.position() + (int) offset, length);
        int partNumber = index + 1;
        tracked(retrier.call(deadlineNanos, timeout -> {
                    if (partsDone.isDone()) { // another part failed, or the upload was cancelled: send nothing more
                        return CompletableFuture.failedFuture(new CancellationException("upload failed"));
                    }
                    return request(() -> client.uploadPart(UploadPartRequest.builder().bucket(bucket).key(objectKey)
                                    .uploadId(uploadId).partNumber(partNumber).contentLength((long) length)
                                    .checksumAlgorithm(ChecksumAlgorithm.CRC32_C)
                                    .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build(),
                            AsyncRequestBody.fromRemainingByteBufferUnsafe(slice.duplicate())))
                            .thenApply(uploaded -> {
                                if (uploaded.eTag() == null) { // an answer cut inside its headers: send the part again
                                    throw new java.util.concurrent.CompletionException(new java.io.IOException(
                                            "part " + partNumber + " of '" + objectKey + "': the answer had no ETag"));
                                }
                                return uploaded;
                            });
                }))
                .whenComplete((response, failure) -> {
                    if (failure != null) {
                        partsDone.completeExceptionally(failure);
                    } else {
                        parts[index] = CompletedPart.builder().partNumber(partNumber).eTag(response.eTag())
                                .checksumCRC32C(response.checksumCRC32C()).build();
                    }
                    runLane();
                });
    }

    /**
     * Aborts once no part is in flight any more (a part still arriving after the abort could be stored by some
     * servers and never be cleaned up), then fails {@code done}. The abort starts on the retrier's timer, never on the
     * thread that ended the last lane: that is often the one that called {@link #cancel}, a caller's (a put given up,
     * a store closing), which may be interrupted meanwhile (again); the SDK refused an abort started there before
     * sending it, and the upload was left behind after the put threw.
     */
    private void abortThenFail(CompletableFuture<Void> done, Throwable failure) {
        partsDone.completeExceptionally(failure);
        String id = uploadId;
        if (id == null) {
            done.completeExceptionally(failure);
            return;
        }
        lanesEnded.whenComplete((ignored, never) -> retrier.runOnTimer(() -> abort(id, done, failure)));
    }

    private void abort(String id, CompletableFuture<Void> done, Throwable failure) {
        // The abort gets its own short budget: the call's deadline may be what failed.
        long abortDeadline = System.nanoTime() + abortBudget.toNanos();
        retrier.call(abortDeadline, timeout -> client.abortMultipartUpload(AbortMultipartUploadRequest.builder()
                        .bucket(bucket).key(objectKey).uploadId(id)
                        .overrideConfiguration(o -> o.apiCallAttemptTimeout(timeout)).build()))
                .whenComplete((aborted, abortFailure) -> {
                    Throwable cause = S3Failures.unwrap(failure);
                    if (abortFailure != null && S3Failures.status(abortFailure) != 404) {
                        cause.addSuppressed(new java.io.IOException("multipart upload " + id
                                + " could not be aborted; a bucket lifecycle rule must remove it",
                                S3Failures.unwrap(abortFailure)));
                    }
                    done.completeExceptionally(cause);
                });
    }
}
