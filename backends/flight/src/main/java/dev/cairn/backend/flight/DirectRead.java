package dev.cairn.backend.flight;

import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.HasByteBuffer;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.arrow.flatbuf.Buffer;
import org.apache.arrow.flatbuf.Message;
import org.apache.arrow.flatbuf.MessageHeader;
import org.apache.arrow.flatbuf.RecordBatch;
import org.apache.arrow.flight.FlightRuntimeException;
import org.apache.arrow.flight.grpc.StatusUtils;
import org.apache.arrow.flight.impl.Flight;
import org.apache.arrow.flight.impl.FlightServiceGrpc;

/**
 * One READ (Flight's DoGet) whose answer is copied straight from gRPC's receive buffers into the reader's buffer,
 * on the transport thread, as each message arrives: one copy of the object's bytes on this side, and no thread
 * hand-off per message.
 *
 * <p>Flight's own {@code FlightStream} copies every message body into a new Java array and then into a new Arrow
 * buffer before the reader sees it, and hands each message to the reader's thread through a queue that asks for 5
 * at a time: for 1 MiB pieces that is two fresh 1 MiB allocations and a thread wake-up per MiB. Here the answer
 * reaches us as gRPC's own {@link InputStream} over the Netty buffers it read from the socket, and the data of each
 * batch ({@link PeerProtocol#SCHEMA}: one binary column, rows of object bytes) is located from the batch's Arrow
 * IPC header and copied once into {@code dst}. The wire format is Flight's, unchanged: any Flight server can
 * answer, and this peer's server answers any Flight client.
 *
 * <pre>
 *   FlightData (protobuf)             field 2 data_header: Arrow IPC Message (flatbuffer), RecordBatch with 3 buffers
 *                                      field 1000 data_body: validity | offsets (rows+1 x i32 LE) | data, 8-aligned
 *   object bytes of a batch           data[offsets[0] .. offsets[rows])
 * </pre>
 */
final class DirectRead extends ClientCall.Listener<InputStream> {
    /** Flight's DoGet, its answer handed over as gRPC's stream instead of parsed into FlightData. */
    private static final MethodDescriptor<Flight.Ticket, InputStream> DO_GET = FlightServiceGrpc.getDoGetMethod()
            .toBuilder(FlightServiceGrpc.getDoGetMethod().getRequestMarshaller(), new StreamAsIs()).build();
    private static final int HEADER_FIELD = 2;
    private static final int BODY_FIELD = 1000;
    private static final int WIRE_VARINT = 0;
    private static final int WIRE_LENGTH_DELIMITED = 2;
    private static final int DATA_BUFFERS = 3;
    /** How long a reader that gave up waits for the call to end, after which nothing more is written to dst. */
    private static final long CANCEL_WAIT_MILLIS = 5_000;

    private final ClientCall<Flight.Ticket, InputStream> call;
    private final ByteBuffer dst;
    private final int start;
    private final CompletableFuture<FlightRuntimeException> ended = new CompletableFuture<>();
    private final Message message = new Message();
    private final RecordBatch batch = new RecordBatch();
    private final Buffer buffer = new Buffer();
    private final byte[] word = new byte[Integer.BYTES];
    private byte[] header = new byte[512];
    private byte[] scratch;
    private boolean haveBatchHeader;
    private IOException malformed;
    private volatile boolean abandoned;

    private DirectRead(ClientCall<Flight.Ticket, InputStream> call, ByteBuffer dst) {
        this.call = call;
        this.dst = dst;
        this.start = dst.position();
    }

    /**
     * Starts a READ of {@code ticket} into {@code dst} (from its position, at most its remaining bytes); the
     * bytes land there as they arrive. {@link #await} says how it ended. {@code dst} must not be touched meanwhile.
     */
    static DirectRead start(Channel channel, byte[] ticket, ByteBuffer dst, long timeoutMillis) {
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS)
                .withExecutor(MoreExecutors.directExecutor()); // copy on the transport thread, which has the bytes
        DirectRead read = new DirectRead(channel.newCall(DO_GET, options), dst);
        read.call.start(read, new Metadata());
        // Every message as soon as it is complete: the copy keeps up with the socket, so HTTP/2 flow control, not
        // a count of messages, bounds what is in flight.
        read.call.request(Integer.MAX_VALUE);
        read.call.sendMessage(Flight.Ticket.newBuilder().setTicket(ByteString.copyFrom(ticket)).build());
        read.call.halfClose();
        return read;
    }

    /**
     * Waits for the call to end; returns the bytes copied into {@code dst} (its position advanced by as many), or
     * throws the call's status as Flight reports it (NOT_FOUND for a missing key, TIMED_OUT past the deadline).
     */
    int await(long timeoutMillis) throws IOException {
        FlightRuntimeException failure;
        try {
            failure = ended.get(timeoutMillis + CANCEL_WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            abandon("interrupted");
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("read interrupted");
        } catch (TimeoutException e) {
            abandon("no answer past the deadline");
            throw new InterruptedIOException("read got no answer within " + timeoutMillis + " ms");
        } catch (ExecutionException e) {
            throw new IllegalStateException("a read's end is never exceptional", e);
        }
        if (failure != null) {
            dst.position(start);
            throw failure;
        }
        return dst.position() - start;
    }

    /** Cancels the call and waits (uninterruptibly, bounded) until it ended, so that dst is left alone after. */
    void abandon(String why) {
        abandoned = true;
        call.cancel(why, null);
        boolean interrupted = Thread.interrupted();
        try {
            ended.get(CANCEL_WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
        } catch (ExecutionException | TimeoutException e) {
            // the call is cancelled; gRPC ends it on its own
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        dst.position(start);
    }

    @Override
    public void onMessage(InputStream in) {
        if (abandoned || malformed != null) {
            return;
        }
        try {
            readFlightData(in);
        } catch (IOException | RuntimeException e) {
            malformed = e instanceof IOException io ? io : new IOException(e.toString(), e);
            call.cancel("malformed answer", malformed);
        }
    }

    @Override
    public void onClose(Status status, Metadata trailers) {
        if (malformed != null) {
            ended.complete(org.apache.arrow.flight.CallStatus.INTERNAL.withCause(malformed)
                    .withDescription("malformed answer to a read: " + malformed.getMessage()).toRuntimeException());
        } else if (status.isOk()) {
            ended.complete(null);
        } else {
            ended.complete(StatusUtils.fromGrpcStatusAndTrailers(status, trailers).toRuntimeException());
        }
    }

    /** One FlightData message: remembers its IPC header, copies its body's object bytes when it is a batch. */
    private void readFlightData(InputStream in) throws IOException {
        haveBatchHeader = false;
        for (int tag = readTag(in); tag != -1; tag = readTag(in)) {
            int wire = tag & 7;
            if (wire == WIRE_VARINT) {
                readVarint(in);
                continue;
            }
            if (wire != WIRE_LENGTH_DELIMITED) {
                throw new IOException("unexpected protobuf wire type " + wire + " in FlightData");
            }
            int length = readVarint(in);
            switch (tag >>> 3) {
                case HEADER_FIELD -> readHeader(in, length);
                case BODY_FIELD -> readBody(in, length);
                default -> skip(in, length); // descriptor, app metadata: none in an answer to a READ
            }
        }
    }

    private void readHeader(InputStream in, int length) throws IOException {
        if (header.length < length) {
            header = new byte[Math.max(length, 2 * header.length)];
        }
        readFully(in, header, length);
        ByteBuffer flat = ByteBuffer.wrap(header, 0, length).order(ByteOrder.LITTLE_ENDIAN);
        Message.getRootAsMessage(flat, message);
        if (message.headerType() == MessageHeader.RecordBatch) {
            message.header(batch);
            if (batch.compression() != null) {
                throw new IOException("a compressed batch in the answer to a read");
            }
            if (batch.buffersLength() != DATA_BUFFERS) {
                throw new IOException("a batch of " + batch.buffersLength() + " buffers, not one binary column");
            }
            haveBatchHeader = true;
        } else if (message.headerType() != MessageHeader.Schema) {
            throw new IOException("unexpected message " + MessageHeader.name(message.headerType()) + " in the answer to a read");
        }
    }

    /** Copies {@code data[offsets[0] .. offsets[rows])} of the body into dst; the body is read front to back. */
    private void readBody(InputStream in, int length) throws IOException {
        if (!haveBatchHeader) {
            skip(in, length); // a schema message with an (empty) body
            return;
        }
        long rows = batch.length();
        long offsetsAt = batch.buffers(buffer, 1).offset();
        long dataAt = batch.buffers(buffer, 2).offset();
        long dataLength = buffer.length();
        if (rows == 0) {
            skip(in, length);
            return;
        }
        long offsetsEnd = offsetsAt + (rows + 1) * Integer.BYTES;
        if (offsetsAt < 0 || offsetsEnd > dataAt || dataAt + dataLength > length) {
            throw new IOException("batch buffers out of order or beyond a body of " + length + " bytes");
        }
        skip(in, offsetsAt);
        int first = readIntLe(in);
        skip(in, (rows - 1) * Integer.BYTES);
        int last = readIntLe(in);
        if (first < 0 || last < first || last > dataLength) {
            throw new IOException("batch offsets " + first + ".." + last + " outside its data of " + dataLength + " bytes");
        }
        int bytes = last - first;
        if (bytes > dst.remaining()) {
            throw new IOException("peer sent " + bytes + " bytes where " + dst.remaining() + " were left to read");
        }
        skip(in, dataAt + first - offsetsEnd);
        copy(in, bytes);
        skip(in, length - (dataAt + last));
    }

    /** {@code n} bytes into dst: from gRPC's buffers themselves where it lends them, else through a small array. */
    private void copy(InputStream in, int n) throws IOException {
        if (in instanceof HasByteBuffer lending && lending.byteBufferSupported()) {
            while (n > 0) {
                ByteBuffer next = lending.getByteBuffer();
                int k = Math.min(next.remaining(), n);
                if (k == 0) {
                    throw new EOFException("answer ended " + n + " bytes early");
                }
                next.limit(next.position() + k);
                dst.put(next);
                skip(in, k);
                n -= k;
            }
            return;
        }
        if (scratch == null) {
            scratch = new byte[64 << 10];
        }
        while (n > 0) {
            int k = in.read(scratch, 0, Math.min(n, scratch.length));
            if (k < 0) {
                throw new EOFException("answer ended " + n + " bytes early");
            }
            dst.put(scratch, 0, k);
            n -= k;
        }
    }

    private int readIntLe(InputStream in) throws IOException {
        readFully(in, word, Integer.BYTES);
        return (word[0] & 0xFF) | (word[1] & 0xFF) << 8 | (word[2] & 0xFF) << 16 | (word[3] & 0xFF) << 24;
    }

    /** The next field's tag, or -1 at the end of the message. */
    private static int readTag(InputStream in) throws IOException {
        int b = in.read();
        return b < 0 ? -1 : readVarint(in, b);
    }

    private static int readVarint(InputStream in) throws IOException {
        int b = in.read();
        if (b < 0) {
            throw new EOFException("FlightData ended inside a field");
        }
        return readVarint(in, b);
    }

    /** A protobuf varint of at most 32 significant bits (lengths and tags; larger ones are refused). */
    private static int readVarint(InputStream in, int first) throws IOException {
        int value = first & 0x7F;
        int b = first;
        for (int shift = 7; (b & 0x80) != 0; shift += 7) {
            if (shift > 28) {
                throw new IOException("varint too long in FlightData");
            }
            b = in.read();
            if (b < 0) {
                throw new EOFException("FlightData ended inside a varint");
            }
            value |= (b & 0x7F) << shift;
        }
        if (value < 0) {
            throw new IOException("negative length in FlightData");
        }
        return value;
    }

    private static void readFully(InputStream in, byte[] into, int length) throws IOException {
        for (int done = 0; done < length; ) {
            int k = in.read(into, done, length - done);
            if (k < 0) {
                throw new EOFException("FlightData ended " + (length - done) + " bytes early");
            }
            done += k;
        }
    }

    private static void skip(InputStream in, long n) throws IOException {
        if (n < 0) {
            throw new IOException("batch buffers overlap");
        }
        while (n > 0) {
            long k = in.skip(n);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new EOFException("FlightData ended " + n + " bytes early");
                }
                k = 1;
            }
            n -= k;
        }
    }

    /** Hands gRPC's stream over as it is; gRPC closes it once {@link #onMessage} returns. */
    private static final class StreamAsIs implements MethodDescriptor.Marshaller<InputStream> {
        @Override
        public InputStream stream(InputStream value) {
            return value;
        }

        @Override
        public InputStream parse(InputStream stream) {
            return stream;
        }
    }
}
