package dev.cairn.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.cairn.cli.command.DemoCommand;
import dev.cairn.examples.ResumeScenario;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CairnCliTest {

    @TempDir
    Path tmp;

    /** What one invocation printed and returned. */
    record Run(int status, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }
    }

    static Run cairn(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = CairnCli.execute(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), args);
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void everyCommandHasHelpWithAnExample() {
        for (String command : List.of("demo", "bench")) {
            Run r = cairn(command, "--help");
            assertEquals(0, r.status(), command);
            assertTrue(r.out().contains("Usage: cairn " + command), r.out());
            assertTrue(r.out().contains("Examples:") && r.out().contains("java -jar cli/target/cairn.jar " + command), r.out());
            assertTrue(r.out().contains("--verbose"), r.out());
        }
        Run top = cairn("--help");
        assertEquals(0, top.status());
        assertTrue(top.out().contains("demo") && top.out().contains("bench"), top.out());
    }

    @Test
    void noCommandPrintsTheUsageAndExitsWithTheUsageStatus() {
        Run r = cairn();
        assertEquals(CairnCli.USAGE, r.status());
        assertTrue(r.err().contains("Usage: cairn"), r.err());
    }

    @Test
    void anUnknownOptionIsOneLineNamingItAndTheHelp() {
        Run r = cairn("bench", "--sise", "1g");
        assertEquals(CairnCli.USAGE, r.status());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().startsWith("cairn bench: ") && r.err().contains("--sise") && r.err().contains("'cairn bench --help'"), r.err());
    }

    @Test
    void aSizeThatIsNotASizeIsOneLineSayingWhy() {
        Run r = cairn("bench", "--size", "lots");
        assertEquals(CairnCli.USAGE, r.status());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().contains("'lots' is not a size"), r.err());
    }

    @Test
    void simulateNeedsARankCountInItsRangeAndSaysSo() {
        Run none = cairn("bench", "--simulate");
        assertEquals(CairnCli.USAGE, none.status());
        assertTrue(none.err().contains("--simulate needs --ranks N"), none.err());
        Run few = cairn("bench", "--simulate", "--ranks", "8");
        assertEquals(CairnCli.USAGE, few.status());
        assertTrue(few.err().contains("[16, 10000]") && few.err().contains("was 8"), few.err());
        Run tiny = cairn("bench", "--simulate", "--ranks", "16", "--model-bytes", "500000");
        assertEquals(CairnCli.USAGE, tiny.status());
        assertTrue(tiny.err().contains("--model-bytes"), tiny.err());
        Run countWithoutSimulate = cairn("bench", "--ranks", "64");
        assertEquals(CairnCli.USAGE, countWithoutSimulate.status());
        assertTrue(countWithoutSimulate.err().contains("only with --simulate"), countWithoutSimulate.err());
    }

    @Test
    void rankStepsOutOfRangeIsRefusedBeforeAnyRankStarts() {
        Run r = cairn("bench", "--ranks", "--rank-steps", "2");
        assertEquals(CairnCli.USAGE, r.status());
        assertTrue(r.err().contains("--rank-steps must be in [3, 200]") && r.err().contains("was 2"), r.err());
    }

    @Test
    void simulatePrintsJsonOnStdoutAndProgressOnStderr() {
        // 16 ranks of 300 rows of 4096 parameters (14 bytes each): seconds of real time, whatever the machine.
        Run r = cairn("bench", "--simulate", "--ranks", "16", "--model-bytes", Long.toString(16L * 300 * 4096 * 14),
                "--checkpoints", "2", "--restore-ranks", "5", "--json");
        assertEquals(0, r.status(), r.err());
        String json = r.out().strip();
        assertTrue(json.startsWith("{") && json.endsWith("}") && json.contains("\"benchmark\": \"simulate\"")
                && json.contains("\"comparisons\""), json);
        assertTrue(r.err().contains("simulating 16 ranks"), r.err());
    }

    @Test
    void aStateSmallerThanOneChunkIsAUsageError() {
        Run r = cairn("bench", "--size", "1m");
        assertEquals(CairnCli.USAGE, r.status());
        assertTrue(r.err().contains("at least one chunk"), r.err());
    }

    @Test
    void aFailureWhileRunningIsOneLineAndVerboseAddsTheStackTrace() throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "not a directory");
        Run quiet = cairn("bench", "--size", "4m", "--reps", "1", "--dir", file.toString());
        assertEquals(CairnCli.FAILED, quiet.status());
        assertEquals(1, quiet.errLines().size(), quiet.err());
        assertTrue(quiet.err().startsWith("cairn bench: ") && quiet.err().contains(file.toString()), quiet.err());

        Run verbose = cairn("bench", "--size", "4m", "--reps", "1", "--dir", file.toString(), "--verbose");
        assertEquals(CairnCli.FAILED, verbose.status());
        assertTrue(verbose.errLines().size() > 2 && verbose.err().contains("\tat "), verbose.err());
    }

    @Test
    void benchPrintsJsonOnStdoutAndProgressOnStderr() {
        Run r = cairn("bench", "--size", "8m", "--reps", "1", "--json", "--dir", tmp.toString());
        assertEquals(0, r.status(), r.err());
        String json = r.out().strip();
        assertTrue(json.startsWith("{") && json.endsWith("}"), json);
        assertTrue(json.contains("\"stallOverCopy\"") && json.contains("\"restoreBitExact\": true"), json);
        assertTrue(r.err().contains("[1/3] save stall"), r.err());
    }

    @Test
    void benchPrintsATableOfEveryFigureBesideItsLimit() {
        Run r = cairn("bench", "--size", "4m", "--reps", "1", "--dir", tmp.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("engine vs the machine's limit"), r.out());
        assertTrue(r.out().contains("save stall (COPY) vs plain copy") && r.out().contains("persist to disk vs write+fsync"), r.out());
        assertTrue(r.out().contains("restore bit-exact: true"), r.out());
    }

    @Test
    void demoDefaultsAreTheScenariosDefaults() {
        DemoCommand demo = new DemoCommand();
        new CommandLine(demo).parseArgs();
        ResumeScenario.Options d = ResumeScenario.Options.defaults();
        CommandLine.Model.CommandSpec spec = new CommandLine(new DemoCommand()).getCommandSpec();
        assertEquals(String.valueOf(d.steps()), spec.findOption("--steps").defaultValue());
        assertEquals(String.valueOf(d.every()), spec.findOption("--every").defaultValue());
        assertEquals(String.valueOf(d.killAt()), spec.findOption("--kill-at").defaultValue());
        assertEquals(ResumeScenario.DEFAULT_DIR.toString(), spec.findOption("--dir").defaultValue());
    }

    @Test
    void demoRefusesToEmptyADirectoryItDidNotMakeAndSaysSo() throws IOException {
        Path foreign = Files.createDirectories(tmp.resolve("precious"));
        Files.writeString(foreign.resolve("notes.txt"), "keep me");
        Run r = cairn("demo", "--dir", foreign.toString());
        assertEquals(CairnCli.FAILED, r.status());
        assertTrue(r.out().contains("problem: ") && r.out().contains(foreign.toString()), r.out());
        assertTrue(r.out().strip().endsWith("resume bit-exact: false"), r.out());
        assertTrue(Files.exists(foreign.resolve("notes.txt")));
    }

    @Test
    void demoOptionsThatCannotMakeAScenarioAreAUsageError() {
        Run r = cairn("demo", "--every", "10", "--kill-at", "40");
        assertEquals(CairnCli.USAGE, r.status());
        assertEquals(1, r.errLines().size(), r.err());
        assertTrue(r.err().startsWith("cairn demo: killAt must be"), r.err());
    }
}
