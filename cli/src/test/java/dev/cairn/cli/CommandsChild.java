package dev.cairn.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs several {@code cairn} command lines in this JVM, one after another ({@code --then} separates them), and prints
 * {@code exit <status>} after each; for tests that run commands in a JVM with a small heap.
 */
public final class CommandsChild {
    private CommandsChild() {
    }

    public static void main(String[] args) {
        dev.cairn.examples.QuietLogging.install(); // as CairnCli.main: Arrow's DEBUG lines stay out of the output
        List<String> one = new ArrayList<>();
        for (String a : Arrays.copyOf(args, args.length + 1)) {
            if (a == null || a.equals("--then")) {
                int status = CairnCli.execute(System.out, System.err, one.toArray(new String[0]));
                System.err.flush();
                System.out.println("exit " + status);
                one.clear();
            } else {
                one.add(a);
            }
        }
    }
}
