package dev.cairn.backend.flight;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.arrow.flight.FlightProducer.StreamListener;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.FlightStatusCode;
import org.apache.arrow.flight.Result;

/** Peer 0's own arrival at one of the barriers it keeps: the answer a remote rank gets as a call's end, as a future. */
final class LocalArrival implements StreamListener<Result> {
    private final CompletableFuture<List<String>> released = new CompletableFuture<>();
    private volatile List<String> tokens = List.of();

    @Override
    public void onNext(Result val) {
        tokens = PeerProtocol.decodeTokens(val.getBody());
    }

    @Override
    public void onError(Throwable t) {
        released.completeExceptionally(t);
    }

    @Override
    public void onCompleted() {
        released.complete(tokens);
    }

    /** Whether this arrival's wait is over (released, failed, or given up at its timeout): it no longer counts. */
    boolean ended() {
        return released.isDone();
    }

    /**
     * Waits for the release and returns every rank's token; fails as a remote arrival would (TIMED_OUT, or the error
     * the barrier ended with).
     */
    List<String> await(String name, long timeoutMillis) throws IOException {
        try {
            return released.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            onError(e); // so a late release finds nobody waiting
            throw new PeerLink.PeerException("barrier " + name + ": not every rank arrived within " + timeoutMillis + " ms",
                    FlightStatusCode.TIMED_OUT, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("waiting at barrier " + name + " was interrupted");
        } catch (ExecutionException e) {
            FlightStatusCode code = e.getCause() instanceof FlightRuntimeException f ? f.status().code() : FlightStatusCode.UNKNOWN;
            throw new PeerLink.PeerException("barrier " + name + " failed: " + e.getCause().getMessage(), code, e.getCause());
        }
    }
}
