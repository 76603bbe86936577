package dev.cairn.examples.sharded;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The ranks' peer ports: distinct, bindable, and outside the range the kernel gives outgoing connections. */
class FreeLoopbackAddressesTest {

    @Test
    void portsAreDistinctBindableAndBelowTheEphemeralRange() throws IOException {
        Path range = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
        int low = Files.isReadable(range) ? Integer.parseInt(Files.readString(range).trim().split("\\s+")[0]) : 32_768;
        List<InetSocketAddress> addresses = RankProcess.freeLoopbackAddresses(16);
        Set<Integer> ports = new HashSet<>();
        for (InetSocketAddress a : addresses) {
            ports.add(a.getPort());
            if (low - 10_000 >= 1_000) {
                assertTrue(a.getPort() >= 10_000 && a.getPort() < low, "port " + a.getPort() + " below " + low);
            }
            try (ServerSocket s = new ServerSocket()) {
                s.bind(a);
            }
        }
        assertEquals(16, ports.size(), "distinct: " + addresses);
    }
}
