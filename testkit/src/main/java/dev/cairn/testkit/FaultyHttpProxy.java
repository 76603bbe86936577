package dev.cairn.testkit;

import static java.nio.charset.StandardCharsets.ISO_8859_1;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * A small HTTP/1.1 proxy on loopback between the SDK and a real S3 server that answers chosen requests with a
 * fault instead of forwarding them: a 503 SlowDown, a 500, a 400, a reset connection, silence, or a forwarded
 * request whose answer is swallowed (the write happens, the acknowledgement is lost). It parses request heads and
 * bodies (Content-Length or chunked) so that keep-alive connections work; answers are piped back unparsed.
 */
public final class FaultyHttpProxy implements AutoCloseable {

    /** What a matching request gets instead of the server's answer. */
    public enum Fault { SLOW_DOWN, INTERNAL_ERROR, BAD_REQUEST, RESET, STALL, LOSE_RESPONSE }

    private record Rule(Predicate<String> matches, Fault fault, AtomicInteger remaining) {
    }

    private final URI upstream;
    private final ServerSocket server;
    private final List<Rule> rules = new CopyOnWriteArrayList<>();
    private final List<String> heads = new CopyOnWriteArrayList<>();
    private final AtomicInteger injected = new AtomicInteger();
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    public FaultyHttpProxy(URI upstream) throws IOException {
        this.upstream = upstream;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::acceptLoop, "faulty-proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    /**
     * Answers the next {@code times} requests whose head (request line and headers, as sent) matches with
     * {@code fault}.
     */
    public FaultyHttpProxy inject(Predicate<String> head, Fault fault, int times) {
        rules.add(new Rule(head, fault, new AtomicInteger(times)));
        return this;
    }

    /** Forwards everything from now on. */
    public void heal() {
        rules.clear();
    }

    /** Request heads seen so far, faulty or forwarded. */
    public List<String> heads() {
        return List.copyOf(heads);
    }

    /** Requests answered with a fault. */
    public int injected() {
        return injected.get();
    }

    /** Heads whose request line starts with {@code methodAndPathPrefix} and contains {@code fragment}. */
    public long count(String method, String fragment) {
        return heads.stream().filter(h -> h.startsWith(method + " ") && firstLine(h).contains(fragment)).count();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket socket : sockets) {
            closeQuietly(socket);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                sockets.add(client);
                Thread connection = new Thread(() -> serve(client), "faulty-proxy-connection");
                connection.setDaemon(true);
                connection.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket client) {
        Socket server = null;
        boolean[] swallow = new boolean[1];
        try (client) {
            InputStream in = client.getInputStream();
            OutputStream toClient = client.getOutputStream();
            while (!closed) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                heads.add(head);
                Fault fault = faultFor(head);
                if (fault != null && fault != Fault.LOSE_RESPONSE) {
                    injected.incrementAndGet();
                    answer(fault, head, toClient, in);
                    return;
                }
                if (server == null) {
                    server = new Socket(upstream.getHost(), upstream.getPort());
                    sockets.add(server);
                    Socket upstreamSocket = server;
                    Thread pump = new Thread(() -> pump(upstreamSocket, client, swallow), "faulty-proxy-pump");
                    pump.setDaemon(true);
                    pump.start();
                }
                OutputStream toServer = server.getOutputStream();
                if (fault != Fault.LOSE_RESPONSE) {
                    toServer.write(head.getBytes(ISO_8859_1));
                    copyBody(head, in, toServer);
                    toServer.flush();
                } else {
                    // Forward the head (a "100 Continue" may come back), take the whole body, then swallow every
                    // answer before the server can have one to give.
                    toServer.write(head.getBytes(ISO_8859_1));
                    toServer.flush();
                    ByteArrayOutputStream body = new ByteArrayOutputStream();
                    copyBody(head, in, body);
                    synchronized (swallow) {
                        swallow[0] = true;
                    }
                    body.writeTo(toServer);
                    toServer.flush();
                    injected.incrementAndGet();
                    // The server gets the whole request and acts on it; the client never hears back.
                    while (in.read() >= 0) {
                        // wait for the client to give up
                    }
                    return;
                }
            }
        } catch (IOException e) {
            // a side hung up
        } finally {
            if (server != null) {
                closeQuietly(server);
            }
        }
    }

    private Fault faultFor(String head) {
        for (Rule rule : rules) {
            if (rule.matches.test(head) && rule.remaining.getAndDecrement() > 0) {
                return rule.fault;
            }
        }
        return null;
    }

    private void answer(Fault fault, String head, OutputStream toClient, InputStream in) throws IOException {
        boolean httpError = fault == Fault.SLOW_DOWN || fault == Fault.INTERNAL_ERROR || fault == Fault.BAD_REQUEST;
        if (httpError && !head.toLowerCase(Locale.ROOT).contains("expect: 100-continue")) {
            // Read the body the client is sending, as a server does, so the client reads the answer, not a broken pipe.
            copyBody(head, in, OutputStream.nullOutputStream());
        }
        switch (fault) {
            case SLOW_DOWN -> error(toClient, 503, "Slow Down", "SlowDown", "Please reduce your request rate.");
            case INTERNAL_ERROR -> error(toClient, 500, "Internal Server Error", "InternalError", "We encountered an internal error.");
            case BAD_REQUEST -> error(toClient, 400, "Bad Request", "InvalidArgument", "Injected by the test.");
            case RESET -> {
                // fall through to close: the client sees its connection dropped without an answer
            }
            case STALL -> {
                while (!closed && in.read() >= 0) {
                    // never answer
                }
            }
            default -> throw new IllegalStateException(fault.toString());
        }
    }

    private static void error(OutputStream out, int status, String reason, String code, String message) throws IOException {
        byte[] body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message
                + "</Message><RequestId>injected</RequestId></Error>").getBytes(ISO_8859_1);
        out.write(("HTTP/1.1 " + status + " " + reason + "\r\nContent-Type: application/xml\r\nContent-Length: "
                + body.length + "\r\nConnection: close\r\n\r\n").getBytes(ISO_8859_1));
        out.write(body);
        out.flush();
    }

    private static void pump(Socket from, Socket to, boolean[] swallow) {
        byte[] buffer = new byte[64 * 1024];
        try (from) {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) >= 0; ) {
                synchronized (swallow) {
                    if (swallow[0]) {
                        continue;
                    }
                }
                out.write(buffer, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // a side hung up
        } finally {
            synchronized (swallow) {
                if (!swallow[0]) {
                    closeQuietly(to);
                }
            }
        }
    }

    /** The request line and headers up to and including the empty line, or null at end of stream. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int matched = 0;
        for (int b; (b = in.read()) >= 0; ) {
            head.write(b);
            matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
            if (matched == 4) {
                return head.toString(ISO_8859_1);
            }
        }
        return null;
    }

    private static void copyBody(String head, InputStream in, OutputStream out) throws IOException {
        String lower = head.toLowerCase(Locale.ROOT);
        long length = 0;
        for (String line : lower.split("\r\n")) {
            if (line.startsWith("content-length:")) {
                length = Long.parseLong(line.substring("content-length:".length()).trim());
            } else if (line.startsWith("transfer-encoding:") && line.contains("chunked")) {
                copyChunked(in, out);
                return;
            }
        }
        copyExactly(in, out, length);
    }

    private static void copyChunked(InputStream in, OutputStream out) throws IOException {
        while (true) {
            String sizeLine = readLine(in);
            out.write((sizeLine + "\r\n").getBytes(ISO_8859_1));
            int semicolon = sizeLine.indexOf(';');
            long size = Long.parseLong((semicolon < 0 ? sizeLine : sizeLine.substring(0, semicolon)).trim(), 16);
            if (size == 0) {
                for (String trailer; !(trailer = readLine(in)).isEmpty(); ) {
                    out.write((trailer + "\r\n").getBytes(ISO_8859_1));
                }
                out.write("\r\n".getBytes(ISO_8859_1));
                return;
            }
            copyExactly(in, out, size + 2);
        }
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b; (b = in.read()) >= 0; ) {
            if (b == '\n') {
                String text = line.toString(ISO_8859_1);
                return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
            }
            line.write(b);
        }
        throw new IOException("connection closed inside a chunked body");
    }

    private static void copyExactly(InputStream in, OutputStream out, long length) throws IOException {
        byte[] buffer = new byte[64 * 1024];
        long left = length;
        while (left > 0) {
            int n = in.read(buffer, 0, (int) Math.min(buffer.length, left));
            if (n < 0) {
                throw new IOException("connection closed inside a body");
            }
            out.write(buffer, 0, n);
            left -= n;
        }
    }

    private static String firstLine(String head) {
        int end = head.indexOf("\r\n");
        return end < 0 ? head : head.substring(0, end);
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }
}
