package dev.cairn.backend.s3;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import org.reactivestreams.Subscriber;
import org.reactivestreams.Subscription;
import software.amazon.awssdk.core.async.AsyncResponseTransformer;
import software.amazon.awssdk.core.async.SdkPublisher;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;

/**
 * Streams the body of one GET attempt straight into the caller's buffer, from a fixed start position, and
 * completes with the number of bytes received.
 *
 * <p>An attempt that is given up (timed out, retried, or the call ended) may still receive bytes from the
 * network: {@link #abandon} returns only once no copy is running, and none starts afterwards, so a later attempt
 * or the caller owns the buffer again.
 */
final class IntoBuffer implements AsyncResponseTransformer<GetObjectResponse, Integer> {
    private final ByteBuffer target;
    private final int capacity;
    private CompletableFuture<Integer> future;
    private Subscription subscription;
    private boolean abandoned;
    private int received;

    /** Writes into {@code dst} from its position up to its limit; {@code dst}'s own position is not moved. */
    IntoBuffer(ByteBuffer dst) {
        this.target = dst.duplicate();
        this.capacity = dst.remaining();
    }

    @Override
    public synchronized CompletableFuture<Integer> prepare() {
        future = new CompletableFuture<>();
        return future;
    }

    @Override
    public void onResponse(GetObjectResponse response) {
        // The byte count comes from the stream itself.
    }

    @Override
    public void onStream(SdkPublisher<ByteBuffer> publisher) {
        publisher.subscribe(new Subscriber<ByteBuffer>() {
            @Override
            public void onSubscribe(Subscription s) {
                synchronized (IntoBuffer.this) {
                    subscription = s;
                    if (abandoned) {
                        s.cancel();
                        return;
                    }
                }
                s.request(Long.MAX_VALUE);
            }

            @Override
            public void onNext(ByteBuffer bytes) {
                copy(bytes);
            }

            @Override
            public void onError(Throwable t) {
                fail(t);
            }

            @Override
            public void onComplete() {
                complete();
            }
        });
    }

    @Override
    public void exceptionOccurred(Throwable error) {
        fail(error);
    }

    /** Stops writing into the caller's buffer; waits for a copy in progress. */
    synchronized void abandon() {
        abandoned = true;
        if (subscription != null) {
            subscription.cancel();
        }
    }

    private synchronized void copy(ByteBuffer bytes) {
        if (abandoned || future.isDone()) {
            return;
        }
        if (bytes.remaining() > capacity - received) {
            future.completeExceptionally(new IOException("the server sent more bytes than the range asked for"));
            subscription.cancel();
            return;
        }
        received += bytes.remaining();
        target.put(bytes);
    }

    private synchronized void complete() {
        if (future != null) {
            future.complete(received);
        }
    }

    private synchronized void fail(Throwable t) {
        if (future != null) {
            future.completeExceptionally(t);
        }
    }
}
