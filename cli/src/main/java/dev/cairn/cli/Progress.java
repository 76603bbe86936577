package dev.cairn.cli;

import dev.cairn.CheckpointAdmin;
import java.io.PrintStream;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar for long operations, drawn by {@code me.tongfei:progressbar} ({@code label 40% [====>    ] 120/300 MiB
 * (0:00:02 / 0:00:03) 60 MiB/s}), redrawn in place ten times a second. It draws only on a terminal
 * ({@code System.console() != null}): piped or captured output stays quiet, and no bar (nor its drawing thread) exists
 * then. Commands hand it standard error, never standard output, so {@code --json} output stays one document.
 * Thread-safe. As a {@link CheckpointAdmin.Progress} it learns its total from the engine.
 */
public final class Progress implements AutoCloseable, CheckpointAdmin.Progress {
    private static final int REDRAW_MILLIS = 100;
    /** Wide enough for the label, the bar and the figures; fixed so the library need not probe the terminal. */
    private static final int LINE_WIDTH = 110;
    private static final long MIB = 1 << 20;

    /** Null when not on a terminal. */
    private final ProgressBar bar;

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    /** A bar over {@code total} bytes on {@code out}, drawn only when this process runs on a terminal. */
    public static Progress start(PrintStream out, String label, long total) {
        return start(out, label, total, System.console() != null);
    }

    static Progress start(PrintStream out, String label, long total, boolean onTerminal) {
        if (!onTerminal) {
            return new Progress(null);
        }
        return new Progress(new ProgressBarBuilder().setTaskName(Text.printable(label)).setInitialMax(total)
                .setStyle(ProgressBarStyle.ASCII).setUnit("MiB", MIB).showSpeed().setUpdateIntervalMillis(REDRAW_MILLIS)
                .setConsumer(new ConsoleProgressBarConsumer(EscapingPrintStream.unescaped(out), LINE_WIDTH)).build());
    }

    /** A bar whose total the operation it is handed to tells it ({@link #start(long)}). */
    public static Progress of(PrintStream out, String label) {
        return start(out, label, 0);
    }

    /** Sets the total and starts the clock again: the operation begins now. */
    @Override
    public void start(long totalBytes) {
        if (bar != null) {
            bar.reset();
            bar.maxHint(totalBytes);
        }
    }

    /** Counts {@code bytes} more as done. */
    @Override
    public void advance(long bytes) {
        if (bar != null) {
            bar.stepBy(bytes);
        }
    }

    /** Whether a bar is drawn (only on a terminal). */
    boolean drawing() {
        return bar != null;
    }

    /** Draws the final state and ends the line (on a terminal). */
    @Override
    public void close() {
        if (bar != null) {
            bar.close();
        }
    }
}
