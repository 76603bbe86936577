package dev.cairn.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.cairn.bench.simulate.ScaleSimulation;
import dev.cairn.bench.simulate.ScaleSimulation.Checkpoint;
import dev.cairn.bench.simulate.ScaleSimulation.Options;
import dev.cairn.bench.simulate.ScaleSimulation.Results;
import dev.cairn.testkit.RequestKind;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The scale simulation's counts against what the engine must do for a multi-rank save, commit, retention and restore:
 * small worlds (16 and 64 ranks, small models), seconds each. None of these depends on machine speed: time is
 * simulated.
 */
class ScaleSimulationTest {
    private static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    /** A model of {@code rowsPerRank} rows of 4096 parameters on each rank. */
    private static Options small(int ranks, int rowsPerRank) {
        return Options.defaults(ranks).withModelBytes((long) ranks * rowsPerRank * 4096 * 14);
    }

    @Test
    void sixteenRanksCommitEachCheckpointOnceAndRetentionRetiresTheFirst() throws Exception {
        Results r = ScaleSimulation.run(small(16, 600), QUIET);
        long chunks = r.setup().chunksPerCheckpoint();
        // 600 rows: bf16 512 rows a chunk (2 chunks), fp32 256 rows (3 chunks) x 3 tensors: 11 chunks a rank.
        assertEquals(16 * 11, chunks);
        assertEquals(List.of(1000L, 2000L, 3000L, 4000L), r.checkpoints().stream().map(Checkpoint::step).toList());
        for (Checkpoint c : r.checkpoints()) {
            assertEquals(chunks, c.chunksWritten());
            assertEquals(0, c.slowDowns(), "16 ranks stay far below S3's rates");
            assertEquals(1 + 15, c.requests().get(RequestKind.PUT_IF_ABSENT),
                    "exactly one MANIFEST create a checkpoint, and the 15 indexes of ranks other than 0, created");
            assertEquals(0, c.gcRequests().get(RequestKind.PUT_IF_ABSENT));
            boolean first = c == r.checkpoints().get(0);
            assertEquals(chunks + 1 + 1 + 1 + (first ? 1 : 0), c.requests().get(RequestKind.PUT) - c.gcRequests().get(RequestKind.PUT),
                    "every chunk put once, rank 0's index, one commit notice and one step mark (one per 250 ranks); at"
                            + " the first commit, the record that the groups of marks are complete");
            assertEquals(1, c.requests().get(RequestKind.HEAD), "rank 0 asks whether the step is committed; the other"
                    + " ranks ask only when their index create finds one there, and take their notice for the commit");
            assertEquals(0, c.chunkHeads(), "every chunk is new and put by its rank's save: no rank asks for it again,"
                    + " and rank 0's collection asks no chunk's age");
            assertEquals(16, c.ranksCommitted());
            assertTrue(c.failures().isEmpty(), c.failures().toString());
            assertTrue(c.commitNanos() > 0 && c.visibleNanos() >= c.commitNanos(), c.commitNanos() + " " + c.visibleNanos());
            assertTrue(c.manifestBytes() > 0 && c.indexBytes() > 0);
            assertTrue(c.listsOnSavePath() > 0, "rank 0 lists the step for the indexes: the engine meets through the store");
        }
        ScaleSimulation.StartUp up = r.startUp();
        assertTrue(up.failures().isEmpty(), up.failures().toString());
        assertEquals(0, up.fullListings(), "no process of the new run lists the steps at open");
        assertEquals(16, up.requests().get(RequestKind.LIST), "each lists its group of step marks (group 0 of 1), empty");
        assertEquals(16, up.requests().get(RequestKind.LIST_FOLDERS), "and then the step folders (none), once");
        assertEquals(32, up.totalRequests());
        assertEquals(0, r.checkpoints().get(0).fullListings(), "rank 0's first marks take what its open's look found");
        assertEquals(List.of(), r.checkpoints().get(1).gc().stepsRetired(), "keep 2: nothing to retire at the second");
        Checkpoint third = r.checkpoints().get(2);
        assertEquals(List.of(1000L), third.gc().stepsRetired());
        assertEquals(0, third.chunksDeleted(), "rank 0 deletes a retired step's chunks once its grace has passed");
        assertEquals(1, third.gcRequests().get(RequestKind.DELETE), "the retired MANIFEST");
        assertEquals(1, third.gcRequests().get(RequestKind.DELETE_BATCH), "its 16 indexes, in one DeleteObjects");
        assertEquals(1, third.gcRequests().get(RequestKind.PUT), "the RETIRED marker of a multi-rank step");
        Checkpoint fourth = r.checkpoints().get(3);
        assertEquals(List.of(2000L), fourth.gc().stepsRetired());
        assertEquals(chunks, fourth.chunksDeleted(), "step 1000's chunks, 15 simulated minutes after its retirement");
        // The S3 client model sends DeleteObjects of up to 1,000 keys, as the S3 backend does: where the model sent a
        // DELETE per key (chunks + 16 indexes + the MANIFEST at the third checkpoint), the fourth sends one DELETE
        // (step 2000's MANIFEST) and three DeleteObjects (step 2000's indexes, step 1000's 176 chunks, and step 1000's
        // RETIRED marker, older than the grace by now).
        assertEquals(1, fourth.gcRequests().get(RequestKind.DELETE), "the retired MANIFEST");
        assertEquals(3, fourth.gcRequests().get(RequestKind.DELETE_BATCH), "indexes, chunks, the old marker");
        assertEquals(0, fourth.gcRequests().get(RequestKind.HEAD), "no chunk's age is asked");
    }

    /**
     * 256 ranks of a small model finish their chunks within moments of each other, so every rank's wait for the commit
     * falls in the same seconds: no key (the MANIFEST's, a notice's) may see more than issue 15's 1,000 requests in any
     * simulated second, none is refused, and every rank sees the commit within 2 s of its MANIFEST's creation (from
     * the last index it takes longer: rank 0 first confirms every chunk with a HEAD, 32 in flight). Before the commit
     * notices every rank polled the MANIFEST: 1,938 requests a second on it at 256 ranks.
     */
    @Test
    void twoHundredFiftySixRanksWaitForTheCommitWithNoKeyOverItsLimit() throws Exception {
        Results r = ScaleSimulation.run(small(256, 60).withCheckpoints(2), QUIET);
        for (Checkpoint c : r.checkpoints()) {
            assertEquals(256, c.ranksCommitted(), c.failures().toString());
            assertTrue(c.busiestKeyPeak() <= ScaleReport.KEY_RATE_GOAL, c.busiestKey() + ": " + c.busiestKeyPeak()
                    + " requests in one second");
            assertEquals(0, c.slowDowns(), "SlowDown answers");
            assertTrue(c.commitNanos() >= 0 && c.visibleNanos() >= c.commitNanos(), c.commitNanos() + " " + c.visibleNanos());
            long seen = c.visibleNanos() - c.commitNanos();
            assertTrue(seen <= ScaleReport.VISIBLE_GOAL_SECONDS * 1e9, seen + " ns from the MANIFEST until every rank saw it");
        }
    }

    @Test
    void sixtyFourRanksRestoreOnThirtyTwoReadingTheManifestAndEveryChunkOnce() throws Exception {
        Results r = ScaleSimulation.run(small(64, 300).withCheckpoints(2), QUIET);
        ScaleSimulation.Restore restore = r.restore();
        assertEquals(32, restore.ranks());
        assertEquals(0, restore.failed(), restore.failures().toString());
        assertEquals(2000, restore.step(), "the newest committed step");
        assertEquals(r.setup().chunksPerCheckpoint(), restore.chunkReads(),
                "each new slice is two old ones, so every chunk is read by exactly one rank");
        Checkpoint last = r.checkpoints().get(1);
        assertEquals(last.manifestBytes(), restore.manifestBytes());
        assertEquals(last.indexBytes(), restore.indexBytes());
        assertEquals(0, last.pageBytes(), "256 entry rows: the MANIFEST holds them all, its directory has no page");
        long indexBytesRead = 0;
        for (long bytes : restore.metadataBytes()) {
            assertTrue(bytes > last.manifestBytes() && bytes - last.manifestBytes() < last.indexBytes() / 16, bytes
                    + " bytes: the MANIFEST (its global part) and the indexes of the two saved slices a rank's slice covers,"
                    + " not all 64");
            indexBytesRead += bytes - last.manifestBytes();
        }
        assertEquals(last.indexBytes(), indexBytesRead, "each saved slice overlaps one new one: every index read once in all");
        assertEquals(32 * 3, restore.requests().get(RequestKind.GET), "a GET of the MANIFEST and of two indexes a rank");
        // Each rank's clean-up of its index of the failed attempt planted at step 3000: the step folders, a HEAD of
        // step 3000's MANIFEST (absent) and a DELETE of its own index; no listing of every key under the steps.
        assertEquals(32, restore.stalePlanted());
        assertEquals(0, restore.staleLeft(), "every restoring rank removed its own index of the failed attempt");
        assertEquals(0, restore.requestsOnFullListings(), "no LIST of the steps prefix");
        assertEquals(32, restore.folderListings(), "one listing of the step folders a rank");
        assertEquals(32, restore.requests().get(RequestKind.DELETE));
        assertEquals(32 * 2, restore.requests().get(RequestKind.HEAD), "the restored MANIFEST's and the failed step's");
        double shares = 0;
        for (double s : restore.chunkShares()) {
            shares += s;
        }
        assertEquals(1.0, shares, 1e-9, "the ranks' shares of the chunks add up to the checkpoint");
    }

    /**
     * 3,000 ranks restoring a checkpoint of 64 at once read its MANIFEST (a HEAD and a GET each) and the indexes of the
     * saved slices theirs cover, all under the step's prefix: about 15,000 reads, where S3 serves 5,500 a second of a
     * prefix and issue 15 allows no key more than 1,000. Sent at once they drew thousands of SlowDowns and 6,000
     * requests in one second on the MANIFEST; each rank paces its reads to its slots (RestorePacing), so none is
     * refused and no key is over its limit, and the restore still takes only the seconds the prefix's rate needs.
     */
    @Test
    void threeThousandRanksRestoringAtOnceDrawNoSlowDownAndKeepEveryKeyUnderItsLimit() throws Exception {
        Results r = ScaleSimulation.run(small(64, 300).withCheckpoints(1).withRestoreRanks(3000), QUIET);
        ScaleSimulation.Restore restore = r.restore();
        assertEquals(0, restore.failed(), restore.failures().toString());
        assertEquals(0, restore.slowDowns(), restore.totalRequests() + " requests, " + restore.stepPrefixPeak()
                + " in the step prefix's busiest second");
        assertTrue(restore.stepPrefixPeak() <= 5_500, restore.stepPrefixPeak() + " reads of the step's prefix in one second");
        assertTrue(restore.busiestKeyPeak() <= ScaleReport.KEY_RATE_GOAL, restore.busiestKey() + ": "
                + restore.busiestKeyPeak() + " requests in one second");
        long last = 0;
        for (long nanos : restore.plannedNanos()) {
            last = Math.max(last, nanos);
        }
        long reads = restore.totalRequests();
        assertTrue(last <= 2 * (reads * 1_000_000_000L / 4_000) + 1_000_000_000L, last + " ns until the last rank had its"
                + " plan, for " + reads + " requests: about what 4,000 a second take, not more than twice that and a second");
    }

    /**
     * 2,000 processes of a new run open at once, each looking for the newest committed step: its group of step marks
     * (8 groups), then what every process asks alike, the groups of marks and the step folders. Sent at once, 2,000
     * listings of the steps prefix fell in one second (issue 15: no key over 1,000); each rank now waits its turn
     * (LookPacing), so no prefix is listed more than 1,000 times in a second and nothing is refused.
     */
    @Test
    void twoThousandProcessesOfANewRunLookAtOnceWithNoPrefixOverItsLimit() throws Exception {
        Results r = ScaleSimulation.run(small(2000, 1).withCheckpoints(1).withRestoreRanks(1), QUIET);
        ScaleSimulation.StartUp up = r.startUp();
        assertTrue(up.failures().isEmpty(), up.failures().toString());
        assertEquals(0, up.slowDowns(), "SlowDown answers");
        assertEquals(0, up.fullListings(), "no listing of the steps");
        assertTrue(up.busiestPrefixPeak() <= ScaleReport.KEY_RATE_GOAL, up.busiestPrefix() + ": " + up.busiestPrefixPeak()
                + " listings in one second");
        assertEquals(2000 + 1750 + 2000, up.totalRequests(), "its group a rank; the groups, by the 1,750 ranks whose"
                + " group (1 to 7) is empty while group 0 is; the step folders a rank");
        long last = java.util.Arrays.stream(up.lookNanos()).max().orElseThrow();
        assertTrue(last < 3_000_000_000L, last + " ns until the last look returned: (1,999 - 100) / 800 s and a few requests");
    }

    /**
     * 2,000 processes of a resumed run (step 1000 committed by 2,000 ranks) open at once, each looking for the newest
     * committed step: its group of step marks (8 groups, each holding the step), then a read of that step's MANIFEST
     * to confirm it, a HEAD and a GET of one key. Sent at once, those were 4,000 requests on that key within a second
     * (1,000 at 500 processes, 10,451 and 4,951 SlowDowns at 5,000; issue 15: no key over 1,000, no SlowDown); each rank's
     * read now waits for its first slots of the restore's schedule ({@code RestorePacing}).
     */
    @Test
    void twoThousandProcessesOfAResumedRunLookAtOnceWithNoKeyOverItsLimit() throws Exception {
        Results r = ScaleSimulation.run(small(2000, 1).withCheckpoints(1).withRestoreRanks(2000), QUIET);
        ScaleSimulation.StartUp up = r.resumedStartUp();
        assertEquals(2000, up.ranks());
        assertTrue(up.failures().isEmpty(), up.failures().toString());
        assertEquals(0, up.slowDowns(), "SlowDown answers");
        assertEquals(0, up.fullListings(), "no listing of the steps");
        assertTrue(up.busiestKeyPeak() <= ScaleReport.KEY_RATE_GOAL, up.busiestKey() + ": " + up.busiestKeyPeak()
                + " requests in one second");
        assertTrue(up.busiestPrefixPeak() <= ScaleReport.KEY_RATE_GOAL, up.busiestPrefix() + ": " + up.busiestPrefixPeak()
                + " reads in one second");
        assertEquals(2000, up.requests().get(RequestKind.LIST), "its group of marks, a rank");
        assertEquals(2000, up.requests().get(RequestKind.HEAD), "the MANIFEST's HEAD, a rank");
        assertEquals(2000, up.requests().get(RequestKind.GET), "and its GET");
        assertEquals(6000, up.totalRequests());
        long last = java.util.Arrays.stream(up.lookNanos()).max().orElseThrow();
        assertTrue(last > 5_000_000_000L && last < 8_000_000_000L, last + " ns until the last look returned: rank 1,999's"
                + " slot is (12 x 1,999 - 1,500) / 4,000 = 5.6 s, then a HEAD and a GET");
        assertEquals(0, r.restore().failed(), r.restore().failures().toString());
    }

    @Test
    void aRestoreOnRanksThatCutSavedChunksReadsTheChunksOnTheirBordersTwice() throws Exception {
        Results r = ScaleSimulation.run(small(16, 600).withCheckpoints(1).withRestoreRanks(3), QUIET);
        assertEquals(0, r.restore().failed(), r.restore().failures().toString());
        assertTrue(r.restore().chunkReads() > r.setup().chunksPerCheckpoint(), r.restore().chunkReads() + " reads");
    }

    @Test
    void theSameSimulationCountsTheSameRequestsTwice() throws Exception {
        Results a = ScaleSimulation.run(small(16, 300).withCheckpoints(2), QUIET);
        Results b = ScaleSimulation.run(small(16, 300).withCheckpoints(2), QUIET);
        for (int i = 0; i < 2; i++) {
            assertEquals(a.checkpoints().get(i).requests(), b.checkpoints().get(i).requests());
            assertEquals(a.checkpoints().get(i).visibleNanos(), b.checkpoints().get(i).visibleNanos());
        }
    }

    @Test
    void theReportPrintsEveryGoalAndItsJsonParses() throws Exception {
        Results r = ScaleSimulation.run(small(16, 300), QUIET);
        JsonNode json = new ObjectMapper().readTree(ScaleReport.json(r));
        assertEquals("simulate", json.get("benchmark").asText());
        assertEquals(4, json.get("checkpoints").size());
        assertEquals(r.checkpoints().get(3).totalRequests(), json.get("figures").get("requestsPerCheckpoint").get("value").asLong());
        assertEquals(0, json.get("checkpoints").get(3).get("chunkHeads").asLong());
        for (String goal : List.of("requestsPerCheckpoint", "fullListings", "busiestKey", "slowDowns", "restoreMetadata",
                "commitVisible")) {
            assertTrue(json.get("comparisons").has(goal), goal);
        }
        assertEquals(r.checkpoints().get(3).totalRequests() <= r.checkpoints().get(3).chunksWritten() + 4L * 16,
                json.get("comparisons").get("requestsPerCheckpoint").get("met").asBoolean(),
                "the request budget's verdict is the figure's");
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        ScaleReport.printText(r, new PrintStream(text, true, StandardCharsets.UTF_8));
        String table = text.toString(StandardCharsets.UTF_8);
        for (ScaleReport.Goal g : ScaleReport.goals(r)) {
            assertTrue(table.contains(g.label()), g.label());
        }
    }

    @Test
    void optionsOutOfRangeAreRefusedWithWhatIsWrong() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Options.defaults(10_001)).getMessage()
                .contains("--ranks"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Options.defaults(16).withRestoreRanks(0))
                .getMessage().contains("--restore-ranks"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Options.defaults(16).withModelBytes(1000))
                .getMessage().contains("--model-bytes"));
    }
}
