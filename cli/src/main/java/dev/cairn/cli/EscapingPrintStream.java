package dev.cairn.cli;

import java.io.PrintStream;

/**
 * The stream every command prints to: text passes through {@link Text#printableLines}, so whatever a store holds
 * (run names, codecs, metadata, entry names, messages quoting them) reaches the terminal as visible escapes, whichever
 * call site printed it. Tabs and line breaks pass. Raw bytes ({@code write}) pass unchanged; only {@link Progress}
 * writes to the stream underneath ({@link #unescaped}), for its carriage return.
 */
final class EscapingPrintStream extends PrintStream {
    private final PrintStream target;

    EscapingPrintStream(PrintStream target) {
        super(target, true);
        this.target = target;
    }

    /** {@code out} itself, or the stream under it when it escapes. */
    static PrintStream unescaped(PrintStream out) {
        return out instanceof EscapingPrintStream e ? e.target : out;
    }

    @Override
    public void print(String s) {
        target.print(Text.printableLines(s));
    }

    @Override
    public void print(Object o) {
        print(String.valueOf(o));
    }

    @Override
    public void print(char c) {
        print(String.valueOf(c));
    }

    @Override
    public void print(char[] s) {
        print(new String(s));
    }

    @Override
    public void println(String s) {
        synchronized (this) {
            print(s);
            target.println();
        }
    }

    @Override
    public void println(Object o) {
        println(String.valueOf(o));
    }

    @Override
    public void println(char c) {
        println(String.valueOf(c));
    }

    @Override
    public void println(char[] s) {
        println(new String(s));
    }

    @Override
    public void println() {
        target.println();
    }
}
