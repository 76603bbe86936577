package dev.cairn.backend.flight;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Not part of the suite (surefire runs *Test and *Properties): prints how fast a 64 MiB object is read from a peer
 * over loopback beside a plain memory copy of the same size on the same machine. Run with
 * {@code mvn -pl backends/flight test -Dtest=PeerReadMeasurement}.
 */
class PeerReadMeasurement {
    /** MB/s of {@code size} bytes sent through one loopback TCP connection, direct buffers both sides. */
    private static double loopbackTcp(int size) throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            Thread sender = new Thread(() -> {
                try (SocketChannel out = SocketChannel.open(server.getLocalAddress())) {
                    ByteBuffer bytes = ByteBuffer.allocateDirect(1 << 20);
                    for (int sent = 0; sent < size; sent += bytes.capacity()) {
                        bytes.clear();
                        while (bytes.hasRemaining()) {
                            out.write(bytes);
                        }
                    }
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            long start = System.nanoTime();
            sender.start();
            try (SocketChannel in = server.accept()) {
                ByteBuffer bytes = ByteBuffer.allocateDirect(1 << 20);
                long received = 0;
                while (received < size) {
                    bytes.clear();
                    int n = in.read(bytes);
                    if (n < 0) {
                        break;
                    }
                    received += n;
                }
                return received / ((System.nanoTime() - start) / 1e3);
            } finally {
                sender.join();
            }
        }
    }

    @Test
    void readOfA64MiBObjectFromAPeer() throws Exception {
        int size = 64 << 20;
        ByteBuffer source = ByteBuffer.allocateDirect(size);
        source.put(PeerReplicationTest.randomBytes(1, size)).flip();
        ByteBuffer dst = ByteBuffer.allocateDirect(size);
        try (PeerGroup group = PeerGroup.start(3)) {
            long t0 = System.nanoTime();
            group.peer(0).put("big", source);
            long t1 = System.nanoTime();
            group.awaitReplication();
            long t2 = System.nanoTime();
            System.out.printf("put %.1f ms, first replication %.1f ms (%.0f MB/s)%n", (t1 - t0) / 1e6, (t2 - t1) / 1e6, size / ((t2 - t1) / 1e3));
            double[] replicate = new double[5];
            for (int i = 0; i < replicate.length; i++) {
                long s = System.nanoTime();
                group.peer(0).put("big", source);
                group.awaitReplication();
                replicate[i] = size / ((System.nanoTime() - s) / 1e3);
            }
            Arrays.sort(replicate);
            System.out.printf("64 MiB put + replication to one peer: median %.0f MB/s (min %.0f, max %.0f)%n",
                    replicate[2], replicate[0], replicate[4]);
            double[] peer = new double[7];
            double[] copy = new double[7];
            for (int i = 0; i < peer.length; i++) {
                dst.clear();
                long s = System.nanoTime();
                int n = group.peer(2).read("big", 0, dst);
                peer[i] = size / ((System.nanoTime() - s) / 1e3);
                if (n != size) {
                    throw new AssertionError("read " + n);
                }
                dst.clear();
                s = System.nanoTime();
                group.peer(0).read("big", 0, dst);
                copy[i] = size / ((System.nanoTime() - s) / 1e3);
            }
            double[] tcp = new double[7];
            for (int i = 0; i < tcp.length; i++) {
                tcp[i] = loopbackTcp(size);
            }
            Arrays.sort(peer);
            Arrays.sort(copy);
            Arrays.sort(tcp);
            System.out.printf("64 MiB read from a peer over loopback: median %.0f MB/s (min %.0f, max %.0f); limits in the "
                    + "same run: one TCP stream on loopback median %.0f MB/s, local read (one memory copy) median %.0f MB/s%n",
                    peer[3], peer[0], peer[6], tcp[3], copy[3]);
        }
    }
}
