package dev.cairn.bench;

import com.sun.management.HotSpotDiagnosticMXBean;
import com.sun.management.OperatingSystemMXBean;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The machine a benchmark ran on, as the figures cannot be read without it.
 *
 * @param cpuModel       from {@code /proc/cpuinfo}, or the architecture where that file is missing
 * @param cores          {@link Runtime#availableProcessors()}: what this JVM may use, not what the board has
 * @param memoryBytes    physical memory
 * @param maxDirectBytes the JVM's limit on direct buffers ({@code -XX:MaxDirectMemorySize}, else the heap limit)
 * @param fileSystem     type of the file system the disk figures were taken on
 */
public record MachineInfo(String cpuModel, int cores, long memoryBytes, String os, String jvm, long maxHeapBytes,
                          long maxDirectBytes, String fileSystem) {

    static MachineInfo probe(Path dir) {
        Runtime rt = Runtime.getRuntime();
        return new MachineInfo(readCpuModel(), rt.availableProcessors(), physicalMemory(),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"),
                rt.maxMemory(), directMemoryLimit(), fileSystemOf(dir));
    }

    /** One line: {@code CPU, 2 cores, 23.4 GiB RAM; OS; JVM (heap ..., direct ...)}. */
    public String describe() {
        return cpuModel + ", " + cores + " cores, " + ByteSize.format(memoryBytes) + " RAM; " + os + "; " + jvm
                + " (max heap " + ByteSize.format(maxHeapBytes) + ", max direct " + ByteSize.format(maxDirectBytes) + ")";
    }

    /** The system's load average over the last minute (runnable threads of every process), or -1. */
    static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static String readCpuModel() {
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/cpuinfo"));
            for (String line : lines) {
                if (line.startsWith("model name") && line.indexOf(':') > 0) {
                    return line.substring(line.indexOf(':') + 1).strip();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: fall through
        }
        return "unknown CPU (" + System.getProperty("os.arch") + ")";
    }

    private static long physicalMemory() {
        try {
            return ManagementFactory.getPlatformMXBean(OperatingSystemMXBean.class).getTotalMemorySize();
        } catch (RuntimeException e) {
            return -1;
        }
    }

    static long directMemoryLimit() {
        try {
            String v = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class)
                    .getVMOption("MaxDirectMemorySize").getValue();
            long set = Long.parseLong(v);
            if (set > 0) {
                return set;
            }
        } catch (RuntimeException e) {
            // not HotSpot: the JDK's default applies
        }
        return Runtime.getRuntime().maxMemory();
    }

    private static String fileSystemOf(Path dir) {
        try {
            return Files.getFileStore(dir).type();
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
