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
 * completes with the number of bytes received, once they are checked: the answer's {@code Content-Range} must start
 * at the offset asked for and hold exactly the bytes received (so a body cut short or framed wrong is a failure, not a
 * short read), and an answer that holds the whole object must match the object's {@link ObjectCheck} record (so a
 * corrupted byte is a failure, not data). A failed check fails the attempt with an {@link IOException}, which the store
 * retries.
 *
 * <p>An attempt that is given up (timed out, retried, or the call ended) may still receive bytes from the
 * network: {@link #abandon} returns only once no copy is running, and none starts afterwards, so a later attempt
 * or the caller owns the buffer again.
 */
final class IntoBuffer implements AsyncResponseTransformer<GetObjectResponse, Integer> {
    private final ByteBuffer target;
    private final int start;
    private final int capacity;
    private final long offset;
    private final String what;
    private GetObjectResponse response;
    private CompletableFuture<Integer> future;
    private Subscription subscription;
    private boolean abandoned;
    private int received;

    /**
     * Writes into {@code dst} from its position up to its limit; {@code dst}'s own position is not moved. {@code offset}
     * is where in the object the range asked for starts; {@code what} names the call in messages.
     */
    IntoBuffer(ByteBuffer dst, long offset, String what) {
        this.target = dst.duplicate();
        this.start = dst.position();
        this.capacity = dst.remaining();
        this.offset = offset;
        this.what = what;
    }

    @Override
    public synchronized CompletableFuture<Integer> prepare() {
        future = new CompletableFuture<>();
        return future;
    }

    @Override
    public synchronized void onResponse(GetObjectResponse response) {
        this.response = response; // checked against the bytes once they are all in
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
        if (future == null || future.isDone()) {
            return;
        }
        try {
            check();
            future.complete(received);
        } catch (IOException e) {
            future.completeExceptionally(e);
        }
    }

    /** Whether the answer is the range asked for, whole, and, when it is the whole object, the object's bytes. */
    private void check() throws IOException {
        Long length = response == null ? null : response.contentLength();
        if (length != null && length != received) {
            throw new IOException(what + ": the answer ended after " + received + " of its " + length + " bytes");
        }
        String range = response == null ? null : response.contentRange();
        long total;
        if (range == null) {
            // A 200 with the whole object: only right when the range asked for starts at 0 and holds it all, and when
            // the answer says how long it is (the SDK takes a connection closed inside the headers for an empty 200).
            if (length == null) {
                throw new IOException(what + ": the answer ended inside its headers (no Content-Range, no Content-Length)");
            }
            if (offset != 0) {
                throw new IOException(what + ": the server answered a ranged read at " + offset + " without a range");
            }
            total = received;
        } else {
            long[] parsed = parseContentRange(range);
            if (parsed == null || parsed[0] != offset || parsed[1] - parsed[0] + 1 != received) {
                throw new IOException(what + ": the answer holds " + received + " bytes as range '" + range
                        + "', asked from " + offset);
            }
            total = parsed[2];
            long askedLast = offset + capacity - 1 < offset ? Long.MAX_VALUE - 1 : offset + capacity - 1; // as read asks
            if (total >= 0 && parsed[1] != Math.min(askedLast, total - 1)) {
                // S3 answers the whole range asked for, cut only at the object's end: a shorter one is not a short
                // read a caller could take for the end of the object.
                throw new IOException(what + ": the answer holds range '" + range + "', asked up to " + askedLast);
            }
        }
        java.util.Map<String, String> metadata = response == null ? null : response.metadata();
        if (total < 0) {
            return; // size unknown ("bytes a-b/*"): nothing to compare with
        }
        ObjectCheck.checkSize(metadata, total, what);
        if (offset == 0 && received == total) {
            ByteBuffer whole = target.duplicate().limit(start + received).position(start);
            ObjectCheck.checkWhole(metadata, whole, what);
        }
    }

    /** {@code bytes first-last/total} as {first, last, total} (total -1 when '*'), or null when malformed. */
    static long[] parseContentRange(String range) {
        String r = range.trim();
        if (!r.startsWith("bytes ")) {
            return null;
        }
        int dash = r.indexOf('-');
        int slash = r.indexOf('/');
        if (dash < 0 || slash < dash) {
            return null;
        }
        try {
            long first = Long.parseLong(r.substring("bytes ".length(), dash).trim());
            long last = Long.parseLong(r.substring(dash + 1, slash).trim());
            String t = r.substring(slash + 1).trim();
            long total = "*".equals(t) ? -1 : Long.parseLong(t);
            if (first < 0 || last < first || (total >= 0 && last >= total)) {
                return null;
            }
            return new long[] {first, last, total};
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private synchronized void fail(Throwable t) {
        if (future != null) {
            future.completeExceptionally(t);
        }
    }
}
