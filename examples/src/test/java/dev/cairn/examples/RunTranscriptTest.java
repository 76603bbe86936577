package dev.cairn.examples;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RunTranscriptTest {

    @Test
    void readsEveryKindOfLineTrainMainPrints() {
        RunTranscript t = RunTranscript.parse(List.of(
                "restored step 40 tier disk restore-ns 1234 read disk=4353194 repaired 0",
                "tiers memory every 1 keep 2, disk every 10 keep 3, s3 every 20 keep 2 at s3://cairn/run/ (endpoint http://127.0.0.1:1)",
                "start step 40 steps 100 every 10 parameters 362632 parameter-bytes 1450528 state-bytes 4351872",
                "[W1126 18:32:17 LegacyTypeDispatch.h:74] Warning: something from PyTorch",
                "step 41 loss 3e5975ae 0.21236297",
                "checkpoint 41 stall-ns 1500 raw 4351872 written memory=4353195",
                "checkpoint 50 stall-ns 2500 raw 4351872 written memory=4353195,disk=4353195",
                "checkpoint 40 stall-ns 2600 raw 4351872 written memory=4353195,disk=4353195,s3=4353195",
                "checkpoint 51 stall-ns 900 failed STORAGE: disk full",
                "paused step 47 disk-committed 30 s3-committed 20",
                "final-param-hash 0f54"));

        assertEquals(new RunTranscript.Restored(40, "disk", 1234, Map.of("disk", 4353194L), 0), t.restored());
        assertEquals(Map.of(41L, 0x3e5975ae), t.lossBits());
        assertEquals(4, t.checkpoints().size());
        assertEquals(Map.of("memory", 4353195L, "disk", 4353195L), t.checkpoints().get(1).writtenByTier());
        assertNull(t.checkpoints().get(1).failure());
        assertEquals(Map.of("memory", 4353195L, "disk", 4353195L, "s3", 4353195L), t.checkpoints().get(2).writtenByTier());
        assertEquals("STORAGE: disk full", t.checkpoints().get(3).failure());
        assertEquals(47, t.pausedStep().getAsLong());
        assertEquals(30, t.pausedCommitted("disk"));
        assertEquals(20, t.pausedCommitted("s3"));
        assertEquals(-1, t.pausedCommitted("tape"));
        assertEquals("0f54", t.finalHash());
        assertTrue(t.errors().isEmpty(), t.errors().toString());
    }
}
