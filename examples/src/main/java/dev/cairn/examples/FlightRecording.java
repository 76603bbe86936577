package dev.cairn.examples;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;

/**
 * A Flight Recorder recording of the engine's {@code cairn.*} events, started programmatically when the environment
 * variable {@value #ENV} names a file, and written there when closed: how {@code cairn demo} records a run for
 * {@code cairn report}. A process killed with SIGKILL writes nothing.
 */
public final class FlightRecording implements AutoCloseable {
    /** The environment variable naming the .jfr file to write. */
    public static final String ENV = "CAIRN_JFR";
    /** Every event the engine emits (dev.cairn.tiers.internal.observe). */
    static final List<String> EVENTS = List.of("cairn.Save", "cairn.TierCommit", "cairn.Promotion", "cairn.Restore",
            "cairn.Gc", "cairn.TierConfigured", "cairn.Staging");

    private final Recording recording;

    private FlightRecording(Recording recording) {
        this.recording = recording;
    }

    /** Starts recording into {@code $CAIRN_JFR}; records nothing when it is unset. */
    public static FlightRecording fromEnvironment() throws IOException {
        String file = System.getenv(ENV);
        if (file == null || file.isBlank()) {
            return new FlightRecording(null);
        }
        Recording r = new Recording();
        r.setName("cairn");
        for (String event : EVENTS) {
            r.enable(event);
        }
        r.setDestination(Path.of(file));
        r.start();
        return new FlightRecording(r);
    }

    /** Stops the recording, which writes it to its file. */
    @Override
    public void close() {
        if (recording != null) {
            recording.stop();
            recording.close();
        }
    }
}
