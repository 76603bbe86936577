package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.cairn.bench.simulate.ScaleSimulation;
import java.io.PrintStream;
import org.junit.jupiter.api.Test;

class ScaleSimulationTest {
    @Test
    void sixteenRanks() throws Exception {
        ScaleSimulation.Results r = ScaleSimulation.run(ScaleSimulation.Options.defaults(16), System.err);
        ScaleReport.printText(r, System.out);
        System.out.println(ScaleReport.json(r));
        assertEquals(3, r.checkpoints().size());
    }
}
