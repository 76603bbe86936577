package dev.cairn.bench;

import java.net.URI;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.async.AsyncRequestBody;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.ResponsePublisher;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3AsyncClient;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.multipart.MultipartConfiguration;
import software.amazon.awssdk.transfer.s3.S3TransferManager;
import software.amazon.awssdk.transfer.s3.model.DownloadRequest;
import software.amazon.awssdk.transfer.s3.model.UploadRequest;

/**
 * The AWS SDK's own way of moving the same bytes as one object, the limit the S3 figures are set beside: the
 * {@link S3TransferManager} over the SDK's Java multipart {@link S3AsyncClient} on Netty (not CRT, which cannot talk
 * to S3Proxy), and parallel ranged GETs through the same client. Each method returns the nanoseconds it took.
 *
 * <p>Downloads: the Java multipart client downloads in parts by GET with {@code partNumber}, which S3Proxy answers
 * with 501, so the TransferManager's download here is one streamed GET (its non-multipart path); the ranged-GET
 * download is what a multipart download by ranges does, written out on the same client.
 */
final class S3Transfers implements AutoCloseable {
    private static final Duration WAIT = Duration.ofMinutes(5);

    private final String bucket;
    private final long partBytes;
    private final int rangesInFlight;
    private final S3AsyncClient multipart;
    private final S3AsyncClient plain;
    private final S3TransferManager uploads;
    private final S3TransferManager downloads;

    S3Transfers(URI endpoint, String region, String accessKey, String secretKey, String bucket, long partBytes,
                int rangesInFlight) {
        this.bucket = bucket;
        this.partBytes = partBytes;
        this.rangesInFlight = rangesInFlight;
        StaticCredentialsProvider credentials = StaticCredentialsProvider.create(
                AwsBasicCredentials.create(accessKey, secretKey));
        this.multipart = S3AsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder().maxConcurrency(64))
                .region(Region.of(region)).endpointOverride(endpoint).forcePathStyle(true)
                .credentialsProvider(credentials)
                .multipartEnabled(true)
                .multipartConfiguration(MultipartConfiguration.builder()
                        .minimumPartSizeInBytes(partBytes).thresholdInBytes(partBytes).build())
                .build();
        this.plain = S3AsyncClient.builder()
                .httpClientBuilder(NettyNioAsyncHttpClient.builder().maxConcurrency(64))
                .region(Region.of(region)).endpointOverride(endpoint).forcePathStyle(true)
                .credentialsProvider(credentials)
                .build();
        this.uploads = S3TransferManager.builder().s3Client(multipart).build();
        this.downloads = S3TransferManager.builder().s3Client(plain).build();
    }

    /**
     * TransferManager upload of {@code buffers}, in order, as one object: multipart, parts of {@code partBytes}, the
     * body read from the caller's buffers without a copy ({@code fromByteBuffersUnsafe}), CRC32C as the engine sends.
     */
    long upload(String key, List<ByteBuffer> buffers) {
        ByteBuffer[] body = buffers.stream().map(b -> b.duplicate().clear()).toArray(ByteBuffer[]::new);
        long start = System.nanoTime();
        await(uploads.upload(UploadRequest.builder()
                .putObjectRequest(p -> p.bucket(bucket).key(key).checksumAlgorithm(ChecksumAlgorithm.CRC32_C))
                .requestBody(AsyncRequestBody.fromByteBuffersUnsafe(body))
                .build()).completionFuture());
        return System.nanoTime() - start;
    }

    /** TransferManager download of the object into {@code into}, in order: one streamed GET (see the class comment). */
    long download(String key, List<ByteBuffer> into) {
        long start = System.nanoTime();
        ResponsePublisher<GetObjectResponse> body = await(downloads.download(DownloadRequest.builder()
                .getObjectRequest(g -> g.bucket(bucket).key(key))
                .responseTransformer(AsyncResponseTransformer.<GetObjectResponse>toPublisher())
                .build()).completionFuture()).result();
        Sink sink = new Sink(into, 0);
        await(body.subscribe(sink::accept));
        sink.checkFilled(total(into));
        return System.nanoTime() - start;
    }

    /**
     * The object read by GETs of {@code partBytes}-byte ranges, {@code rangesInFlight} at a time, each range's bytes
     * copied straight into its place in {@code into}.
     */
    long rangedDownload(String key, List<ByteBuffer> into) {
        long size = total(into);
        int ranges = (int) ((size + partBytes - 1) / partBytes);
        AtomicInteger next = new AtomicInteger();
        AtomicInteger lanes = new AtomicInteger(Math.min(rangesInFlight, ranges));
        AtomicReference<Throwable> failed = new AtomicReference<>();
        CompletableFuture<Void> all = new CompletableFuture<>();
        long start = System.nanoTime();
        int lanesToStart = lanes.get();
        for (int i = 0; i < lanesToStart; i++) {
            lane(key, into, size, ranges, next, lanes, failed, all);
        }
        await(all);
        return System.nanoTime() - start;
    }

    private void lane(String key, List<ByteBuffer> into, long size, int ranges, AtomicInteger next,
                      AtomicInteger lanes, AtomicReference<Throwable> failed, CompletableFuture<Void> all) {
        int index = next.getAndIncrement();
        if (index >= ranges || failed.get() != null) {
            if (lanes.decrementAndGet() == 0) {
                Throwable t = failed.get();
                if (t == null) {
                    all.complete(null);
                } else {
                    all.completeExceptionally(t);
                }
            }
            return;
        }
        long offset = index * partBytes;
        long last = Math.min(size, offset + partBytes) - 1;
        Sink sink = new Sink(into, offset);
        plain.getObject(g -> g.bucket(bucket).key(key).range("bytes=" + offset + "-" + last),
                        AsyncResponseTransformer.<GetObjectResponse>toPublisher())
                .thenCompose(body -> body.subscribe(sink::accept))
                .whenComplete((ok, failure) -> {
                    if (failure != null) {
                        failed.compareAndSet(null, failure);
                    } else if (sink.written() != last - offset + 1) {
                        failed.compareAndSet(null, new IllegalStateException("range " + offset + "-" + last
                                + " gave " + sink.written() + " bytes"));
                    }
                    lane(key, into, size, ranges, next, lanes, failed, all);
                });
    }

    /** Plain GETs of every key, {@code inFlight} at a time, each object's bytes taken whole; returns the nanoseconds. */
    long getAll(List<String> keys, int inFlight) {
        java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(inFlight);
        List<CompletableFuture<?>> all = new java.util.ArrayList<>();
        long start = System.nanoTime();
        for (String key : keys) {
            slots.acquireUninterruptibly();
            all.add(plain.getObject(g -> g.bucket(bucket).key(key), AsyncResponseTransformer.toBytes())
                    .whenComplete((r, e) -> slots.release()));
        }
        await(CompletableFuture.allOf(all.toArray(new CompletableFuture[0])));
        return System.nanoTime() - start;
    }

    /** The object's bytes, whole, for a check (small objects only). */
    byte[] get(String key) {
        ResponseBytes<GetObjectResponse> bytes = await(plain.getObject(g -> g.bucket(bucket).key(key),
                AsyncResponseTransformer.toBytes()));
        return bytes.asByteArray();
    }

    void delete(String key) {
        await(plain.deleteObject(d -> d.bucket(bucket).key(key)));
    }

    @Override
    public void close() {
        uploads.close();
        downloads.close();
        multipart.close();
        plain.close();
    }

    private static long total(List<ByteBuffer> buffers) {
        return buffers.stream().mapToLong(ByteBuffer::capacity).sum();
    }

    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.get(WAIT.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof CompletionException c && c.getCause() != null ? c.getCause() : e.getCause();
            throw new IllegalStateException("S3 transfer failed: " + cause, cause);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new IllegalStateException("S3 transfer did not finish within " + WAIT, e);
        }
    }

    /** Copies a stream of byte buffers into consecutive buffers of a list, from a byte offset into the whole. */
    private static final class Sink {
        private final List<ByteBuffer> into;
        private int buffer;
        private int position;
        private long written;

        Sink(List<ByteBuffer> into, long offset) {
            this.into = into;
            long left = offset;
            while (buffer < into.size() && left >= into.get(buffer).capacity()) {
                left -= into.get(buffer).capacity();
                buffer++;
            }
            this.position = (int) left;
        }

        /** Called by one subscriber at a time, in order (Reactive Streams' rule 1.3). */
        void accept(ByteBuffer bytes) {
            ByteBuffer src = bytes.duplicate();
            while (src.hasRemaining()) {
                if (buffer >= into.size()) {
                    throw new IllegalStateException("the object is longer than the buffers it is read into");
                }
                ByteBuffer dst = into.get(buffer);
                int n = Math.min(src.remaining(), dst.capacity() - position);
                dst.put(position, src, src.position(), n);
                src.position(src.position() + n);
                position += n;
                written += n;
                if (position == dst.capacity()) {
                    buffer++;
                    position = 0;
                }
            }
        }

        long written() {
            return written;
        }

        void checkFilled(long expected) {
            if (written != expected) {
                throw new IllegalStateException("download gave " + written + " bytes, expected " + expected);
            }
        }
    }
}
