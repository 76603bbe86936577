package dev.cairn.cli;

import dev.cairn.CheckpointAdmin;
import dev.cairn.bench.ByteSize;
import java.io.PrintStream;
import java.util.Locale;

/**
 * A progress bar for long operations, {@code label [#####.....] 120 MiB / 1.00 GiB  310 MB/s}, redrawn in place
 * at most ten times a second. It draws only on a terminal ({@code System.console() != null}); piped or captured
 * output stays quiet. Thread-safe. As a {@link CheckpointAdmin.Progress} it learns its total from the engine.
 */
public final class Progress implements AutoCloseable, CheckpointAdmin.Progress {
    private static final int WIDTH = 30;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream out;
    private final String label;
    private long total;
    private final boolean enabled;
    private long start = System.nanoTime();
    private long done;
    private long lastDraw;

    private Progress(PrintStream out, String label, long total, boolean enabled) {
        this.out = out;
        this.label = label;
        this.total = total;
        this.enabled = enabled;
    }

    /** A bar over {@code total} bytes on {@code out}, drawn only when this process runs on a terminal. */
    public static Progress start(PrintStream out, String label, long total) {
        return new Progress(EscapingPrintStream.unescaped(out), Text.printable(label), total, System.console() != null);
    }

    /** A bar whose total the operation it is handed to tells it ({@link #start(long)}). */
    public static Progress of(PrintStream out, String label) {
        return start(out, label, 0);
    }

    /** Sets the total and starts the clock again: the operation begins now. */
    @Override
    public synchronized void start(long totalBytes) {
        total = totalBytes;
        start = System.nanoTime();
    }

    /** Counts {@code bytes} more as done. */
    @Override
    public synchronized void advance(long bytes) {
        done += bytes;
        long now = System.nanoTime();
        if (enabled && now - lastDraw >= REDRAW_NANOS) {
            lastDraw = now;
            draw(now);
        }
    }

    private void draw(long now) {
        int filled = total <= 0 ? WIDTH : (int) Math.min(WIDTH, done * WIDTH / total);
        double seconds = Math.max(1e-9, (now - start) / 1e9);
        out.print(String.format(Locale.ROOT, "\r%s [%s%s] %s / %s  %s   ", label, "#".repeat(filled), ".".repeat(WIDTH - filled),
                ByteSize.format(done), ByteSize.format(total), ByteSize.rate(done / seconds)));
        out.flush();
    }

    /** Draws the final state and ends the line (on a terminal). */
    @Override
    public synchronized void close() {
        if (enabled) {
            draw(System.nanoTime());
            out.println();
        }
    }
}
