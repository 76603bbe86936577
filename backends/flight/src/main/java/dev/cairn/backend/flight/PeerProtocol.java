package dev.cairn.backend.flight;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.cairn.ObjectInfo;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.Field;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.apache.arrow.vector.types.pojo.Schema;

/**
 * The wire format between peers: Flight tickets, put descriptors, action bodies and action results. Every message
 * starts with the same header, so a peer of another version is refused with a clear message, not misread.
 *
 * <pre>
 *   header (4 bytes), then the body of its kind; integers big-endian, strings UTF-8 after a u16 length
 *   0        2         3       4
 *   +--------+---------+-------+
 *   | magic  | version | kind  |   magic 0xCA1F, version 4 (3 had no barrier caller, 2 no REPLICA flags, 1 no
 *   +--------+---------+-------+   barrier tokens)
 *
 *   READ ticket (DoGet)           key, offset i64, length i64      stream of batches of {@link #SCHEMA}
 *   REPLICA descriptor (DoPut)    key, size i64, flags u8          stream of batches of {@link #SCHEMA}
 *                                 (bit 0 {@link #CREATE_ONLY})
 *   STAT action body              key                              one result: INFO without its key
 *   LIST action body              prefix                           one result per object: INFO
 *   DELETE action body            key                              no result
 *   BARRIER action body           name, rank i32, world i32,       one TOKENS result once every rank of world
 *                                 timeout-millis i64, token        arrived at name (sent to peer 0 only)
 *                                 (u32 length, UTF-8), caller i64
 *   TOKENS result                 count u32, then count tokens     every rank's token, rank 0's first
 *                                 (u32 length, UTF-8 each)
 *
 *   INFO result                   key, size i64, seconds i64, nanos i32
 *   BULK action body              (none)                           one result: BULK port, u16 (0: no bulk lane)
 *
 *   bulk lane (plain TCP to the BULK port; requests and answers in turn on one connection)
 *   request                       length i32, then a READ ticket (header included)
 *   answer                        status u8 ({@link #BULK_OK}, {@link #BULK_NOT_FOUND}, {@link #BULK_FAILED}), length i64,
 *                                 then that many object bytes (OK) or a UTF-8 message (FAILED)
 * </pre>
 *
 * A missing key is the Flight status NOT_FOUND; a replica the receiver cannot hold is RESOURCE_EXHAUSTED. A replica
 * flagged {@link #CREATE_ONLY} (a chunk, which its writer created create-only) never replaces an object the
 * receiver holds under its key: the receiver keeps its own and answers OK, as for a replica it took.
 *
 * <p>Versions are not negotiated: a peer refuses any message whose version is not its own, naming both, so every
 * peer of a group runs the same version.
 * Object bytes travel as rows of one non-null binary column, {@link #PIECE_BYTES} per row at most, one row per
 * batch, so no gRPC message comes near its size limit whatever the object's size.
 */
final class PeerProtocol {
    static final short MAGIC = (short) 0xCA1F;
    static final byte VERSION = 4;

    static final byte READ = 1;
    static final byte REPLICA = 2;
    static final byte STAT = 3;
    static final byte LIST = 4;
    static final byte DELETE = 5;
    static final byte BULK = 6;
    static final byte BARRIER = 7;
    /** Several keys' STAT in one request (bulk lane only); answered with the infos of those held. */
    static final byte STATS = 8;

    static final String STAT_ACTION = "cairn.stat";
    static final String LIST_ACTION = "cairn.list";
    static final String DELETE_ACTION = "cairn.delete";
    static final String BULK_ACTION = "cairn.bulk";
    static final String BARRIER_ACTION = "cairn.barrier";

    static final byte BULK_OK = 0;
    static final byte BULK_NOT_FOUND = 1;
    static final byte BULK_FAILED = 2;
    /** A replica the peer cannot hold (its memory limit): the bulk lane's RESOURCE_EXHAUSTED. */
    static final byte BULK_REFUSED = 3;
    /** Bytes of a bulk answer's status and length. */
    static final int BULK_ANSWER_HEADER_BYTES = 1 + Long.BYTES;
    /** The longest bulk request accepted: a READ ticket with the longest key. */
    static final int MAX_BULK_REQUEST_BYTES = 4 + 2 + 0xFFFF + 16;
    /** Bytes of an object per row (and per gRPC message). */
    static final int PIECE_BYTES = 1 << 20;
    /**
     * The most bytes one READ asks for. The serving peer stages nothing (it sends slices of the stored object), so
     * this only sets how a long read is split across {@link #READ_STREAMS} connections.
     */
    static final int READ_WINDOW_BYTES = 16 << 20;
    /** Windows of one long read in flight at once, each on its own connection to the peer. */
    static final int READ_STREAMS = 4;
    /** Inbound message limit on both sides: a piece and its framing fit with room to spare. */
    static final int MAX_MESSAGE_BYTES = 16 << 20;
    /**
     * HTTP/2 flow-control window of a stream, both sides. gRPC's default (1 MiB) is about one piece, so the sender
     * stalls on every piece until the reader's window update arrives.
     */
    static final int FLOW_CONTROL_WINDOW_BYTES = 16 << 20;

    static final Schema SCHEMA = new Schema(List.of(
            new Field("bytes", FieldType.notNullable(ArrowType.Binary.INSTANCE), null)));

    private static final int HEADER_BYTES = 4;

    private PeerProtocol() {
    }

    /** A decoded READ ticket. */
    record Read(String key, long offset, long length) {
    }

    /**
     * A decoded BARRIER action body: rank {@code rank} of {@code world} arrived at {@code name}, passing {@code token}
     * (empty for a plain barrier), which the release hands to every rank ({@link #tokens}). {@code caller} names the
     * one wait on the rank's side that this arrival is (random, {@link #newCaller}; the same for each time that wait
     * arrives again after a lost connection): peer 0 hands a kept release again only to the caller that was in it
     * ({@link PeerBarriers}), never to a new save of the same step that passes the same token.
     */
    record Arrival(String name, int rank, int world, long timeoutMillis, String token, long caller) {
        Arrival {
            java.util.Objects.requireNonNull(token, "token");
        }

        /** An arrival of a caller of its own. */
        Arrival(String name, int rank, int world, long timeoutMillis, String token) {
            this(name, rank, world, timeoutMillis, token, newCaller());
        }

        Arrival(String name, int rank, int world, long timeoutMillis) {
            this(name, rank, world, timeoutMillis, "");
        }
    }

    /** A new caller id for {@link Arrival#caller}: random, so that two waits of one rank never share one. */
    static long newCaller() {
        return java.util.concurrent.ThreadLocalRandom.current().nextLong();
    }

    /** REPLICA flag: the object was created create-only, and its replica replaces nothing the receiver holds. */
    static final byte CREATE_ONLY = 1;

    /**
     * A decoded REPLICA descriptor; {@code createOnly}: the writer created the object create-only, so the receiver
     * keeps an object it already holds under the key instead of replacing it.
     */
    record Replica(String key, long size, boolean createOnly) {
    }

    static byte[] read(String key, long offset, long length) {
        byte[] k = key.getBytes(UTF_8);
        return header(READ, 2 + k.length + 16).putShort(checkLength(k)).put(k).putLong(offset).putLong(length).array();
    }

    static Read decodeRead(byte[] ticket) {
        ByteBuffer in = body(ticket, READ);
        String key = string(in);
        return new Read(key, in.getLong(), in.getLong());
    }

    static byte[] replica(String key, long size, boolean createOnly) {
        byte[] k = key.getBytes(UTF_8);
        return header(REPLICA, 2 + k.length + 8 + 1).putShort(checkLength(k)).put(k).putLong(size)
                .put(createOnly ? CREATE_ONLY : 0).array();
    }

    static Replica decodeReplica(byte[] command) {
        ByteBuffer in = body(command, REPLICA);
        String key = string(in);
        long size = in.getLong();
        byte flags = in.get();
        if ((flags & ~CREATE_ONLY) != 0) {
            throw new IllegalArgumentException("replica " + key + " with unknown flags " + flags);
        }
        return new Replica(key, size, (flags & CREATE_ONLY) != 0);
    }

    /** A STAT, LIST or DELETE action body naming {@code keyOrPrefix}. */
    static byte[] keyBody(byte kind, String keyOrPrefix) {
        byte[] k = keyOrPrefix.getBytes(UTF_8);
        return header(kind, 2 + k.length).putShort(checkLength(k)).put(k).array();
    }

    static String decodeKeyBody(byte[] body, byte kind) {
        return string(body(body, kind));
    }

    static byte[] barrier(String name, int rank, int world, long timeoutMillis, String token, long caller) {
        byte[] n = name.getBytes(UTF_8);
        byte[] t = token.getBytes(UTF_8);
        return header(BARRIER, 2 + n.length + 16 + 4 + t.length + 8).putShort(checkLength(n)).put(n).putInt(rank)
                .putInt(world).putLong(timeoutMillis).putInt(t.length).put(t).putLong(caller).array();
    }

    static Arrival decodeBarrier(byte[] body) {
        ByteBuffer in = body(body, BARRIER);
        String name = string(in);
        int rank = in.getInt();
        int world = in.getInt();
        long timeoutMillis = in.getLong();
        String token = longString(in);
        return new Arrival(name, rank, world, timeoutMillis, token, in.getLong());
    }

    /** A barrier's release: the token of every rank, rank 0's first. */
    static byte[] tokens(List<String> tokens) {
        List<byte[]> utf8 = new ArrayList<>(tokens.size());
        long size = 4;
        for (String t : tokens) {
            byte[] b = t.getBytes(UTF_8);
            utf8.add(b);
            size += 4 + b.length;
        }
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("the tokens of a barrier's " + tokens.size() + " ranks take " + size + " bytes");
        }
        ByteBuffer out = ByteBuffer.allocate((int) size).putInt(utf8.size());
        for (byte[] b : utf8) {
            out.putInt(b.length).put(b);
        }
        return out.array();
    }

    static List<String> decodeTokens(byte[] body) {
        ByteBuffer in = ByteBuffer.wrap(body);
        if (in.remaining() < Integer.BYTES) {
            throw new IllegalArgumentException("a barrier's release of " + body.length + " bytes names no token count");
        }
        int count = in.getInt();
        if (count < 0 || count > in.remaining() / 4) {
            throw new IllegalArgumentException("a barrier's release names " + count + " tokens in " + body.length + " bytes");
        }
        List<String> tokens = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            tokens.add(longString(in));
        }
        return tokens;
    }

    private static String longString(ByteBuffer in) {
        if (in.remaining() < Integer.BYTES) {
            throw new IllegalArgumentException("a token's length cut short: " + in.remaining() + " bytes left");
        }
        int length = in.getInt();
        if (length < 0 || length > in.remaining()) {
            throw new IllegalArgumentException("a token of " + length + " bytes where " + in.remaining() + " are left");
        }
        byte[] b = new byte[length];
        in.get(b);
        return new String(b, UTF_8);
    }

    static byte[] info(ObjectInfo info) {
        byte[] k = info.key().getBytes(UTF_8);
        return ByteBuffer.allocate(2 + k.length + 20).putShort(checkLength(k)).put(k).putLong(info.size())
                .putLong(info.lastModified().getEpochSecond()).putInt(info.lastModified().getNano()).array();
    }

    /**
     * A LIST answer over the bulk lane: the count, then each object's {@link #info} record (self-delimiting), in one
     * body whose length the answer's header gives.
     */
    static byte[] infos(List<ObjectInfo> infos) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(64 + infos.size() * 96);
        out.writeBytes(ByteBuffer.allocate(Integer.BYTES).putInt(infos.size()).array());
        for (ObjectInfo info : infos) {
            out.writeBytes(info(info));
        }
        return out.toByteArray();
    }

    static List<ObjectInfo> decodeInfos(byte[] body) {
        ByteBuffer in = ByteBuffer.wrap(body);
        int count = in.getInt();
        if (count < 0 || count > body.length / 22) { // every record takes at least 22 bytes
            throw new IllegalArgumentException("a listing of " + count + " objects in " + body.length + " bytes");
        }
        List<ObjectInfo> infos = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            String key = string(in);
            long size = in.getLong();
            infos.add(new ObjectInfo(key, size, Instant.ofEpochSecond(in.getLong(), in.getInt())));
        }
        if (in.hasRemaining()) {
            throw new IllegalArgumentException("a listing with " + in.remaining() + " bytes after its last object");
        }
        return infos;
    }

    /** A STATS request: the count, then each key; at most {@link #MAX_BULK_REQUEST_BYTES} in all. */
    static byte[] keys(List<String> keys) {
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.writeBytes(ByteBuffer.allocate(Integer.BYTES).putInt(keys.size()).array());
        for (String key : keys) {
            byte[] k = key.getBytes(UTF_8);
            body.writeBytes(ByteBuffer.allocate(Short.BYTES).putShort(checkLength(k)).array());
            body.writeBytes(k);
        }
        byte[] b = body.toByteArray();
        return header(STATS, b.length).put(b).array();
    }

    static List<String> decodeKeys(byte[] message) {
        ByteBuffer in = body(message, STATS);
        int count = in.getInt();
        if (count < 0 || count > in.remaining() / 2) {
            throw new IllegalArgumentException("a STATS request of " + count + " keys in " + message.length + " bytes");
        }
        List<String> keys = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            keys.add(string(in));
        }
        return keys;
    }

    /** The kind of a request sent over the bulk lane (READ, STAT, LIST or DELETE), after checking magic and version. */
    static byte kindOf(byte[] message) {
        ByteBuffer in = ByteBuffer.wrap(message);
        if (message.length < HEADER_BYTES || in.getShort() != MAGIC) {
            throw new IllegalArgumentException("not a Cairn peer message");
        }
        byte version = in.get();
        if (version != VERSION) {
            throw new IllegalArgumentException("peer speaks protocol version " + version + ", this one " + VERSION);
        }
        return in.get();
    }

    /** The BULK action's result: the port of the serving peer's bulk lane, 0 for none. */
    static byte[] bulkPort(int port) {
        return ByteBuffer.allocate(Short.BYTES).putShort((short) port).array();
    }

    static int decodeBulkPort(byte[] result) {
        if (result.length != Short.BYTES) {
            throw new IllegalArgumentException("not a bulk port: " + result.length + " bytes");
        }
        return Short.toUnsignedInt(ByteBuffer.wrap(result).getShort());
    }

    static ObjectInfo decodeInfo(byte[] result) {
        ByteBuffer in = ByteBuffer.wrap(result);
        String key = string(in);
        long size = in.getLong();
        return new ObjectInfo(key, size, Instant.ofEpochSecond(in.getLong(), in.getInt()));
    }

    private static ByteBuffer header(byte kind, int bodyBytes) {
        return ByteBuffer.allocate(HEADER_BYTES + bodyBytes).putShort(MAGIC).put(VERSION).put(kind);
    }

    private static ByteBuffer body(byte[] message, byte kind) {
        byte actual = kindOf(message); // checks magic and version
        ByteBuffer in = ByteBuffer.wrap(message, HEADER_BYTES, message.length - HEADER_BYTES);
        if (actual != kind) {
            throw new IllegalArgumentException("expected message kind " + kind + ", got " + actual);
        }
        return in;
    }

    private static String string(ByteBuffer in) {
        int length = Short.toUnsignedInt(in.getShort());
        byte[] bytes = new byte[length];
        in.get(bytes);
        return new String(bytes, UTF_8);
    }

    private static short checkLength(byte[] utf8) {
        if (utf8.length > 0xFFFF) {
            throw new IllegalArgumentException("key of " + utf8.length + " bytes is too long for the peer protocol");
        }
        return (short) utf8.length;
    }
}
