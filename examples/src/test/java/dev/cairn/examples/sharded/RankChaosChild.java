package dev.cairn.examples.sharded;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.CheckpointInfo;
import dev.cairn.Checkpointer;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.examples.QuietLogging;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * One rank of a {@link RankChaosTest} job: a peer-memory tier (every step, replicated to the next rank) and a shared
 * disk tier (every {@value #DISK_EVERY} steps), resuming from the newest committed step if there is one, then
 * training and saving every step up to {@code steps}. It says where it is, one line per phase, printed before the
 * phase starts:
 * <pre>
 * ready | restoring S | restored S tier=T | fresh
 * saving S | captured S | committed-first S (peer) | promoting S | committed S (every tier) | gc-start S | gc S (rank 0)
 * failed REASON (a save or restore failed: another rank is gone) | idle (nothing more to do; waits to be killed)
 * </pre>
 * and answers {@code list ID} on stdin, at any time, with {@code listed ID tier:step ...}: what it lists as committed.
 * With {@code --verify-steps S,...} it is a replacement for a killed rank instead: it restores each step whole from
 * its peers' memory and the disk and prints what it got ({@link #verify}).
 * <pre>
 * --run R --rank r --world W --peers host:port,... --disk DIR --steps N --deadline-seconds D [--verify-steps S,...]
 * </pre>
 */
public final class RankChaosChild {
    static final int DISK_EVERY = 2;
    static final int KEEP = 2;
    static final int GC_EVERY = 3;
    static final int SCALE = 1;

    private RankChaosChild() {
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static CairnConfig.Builder config(String run, int rank, int world, long deadlineSeconds) {
        return CairnConfig.builder(run).rank(rank, world).encoderThreads(1).stagingBytes(64L << 20)
                .deadline(Duration.ofSeconds(deadlineSeconds)).gcGrace(Duration.ofSeconds(2 * deadlineSeconds));
    }

    public static void main(String[] argv) throws Exception {
        QuietLogging.install();
        java.util.Map<String, String> a = new java.util.HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            a.put(argv[i].substring(2), argv[i + 1]);
        }
        int rank = Integer.parseInt(a.get("rank"));
        int world = Integer.parseInt(a.get("world"));
        long steps = Long.parseLong(a.get("steps"));
        List<InetSocketAddress> peers = new ArrayList<>();
        for (String p : a.get("peers").split(",")) {
            int colon = p.lastIndexOf(':');
            peers.add(new InetSocketAddress(p.substring(0, colon), Integer.parseInt(p.substring(colon + 1))));
        }
        try (dev.cairn.ObjectStore peer = PeerTier.open(rank, peers, 1, 512L << 20);
             FileSystemObjectStore disk = new FileSystemObjectStore(Path.of(a.get("disk")));
             Checkpointer cp = Checkpointer.open(config(a.get("run"), rank, world, Long.parseLong(a.get("deadline-seconds")))
                     .tier(TierConfig.of("peer", peer).keepLast(KEEP))
                     .tier(TierConfig.of("disk", disk).everySteps(DISK_EVERY).keepLast(KEEP)).build())) {
            answerListRequests(cp);
            say("ready");
            try {
                if (a.containsKey("verify-steps")) {
                    verify(cp, a.get("verify-steps"));
                } else {
                    train(cp, new ShardedModel(rank, world, SCALE), rank, steps);
                }
            } catch (Throwable t) {
                say("failed " + String.valueOf(t).replace('\n', ' '));
            }
            say("idle");
            new CountDownLatch(1).await(); // killed by the test; the peer tier keeps serving until then
        }
    }

    private static void train(Checkpointer cp, ShardedModel model, int rank, long steps) {
        List<CheckpointInfo> committed = cp.list();
        if (committed.isEmpty()) {
            say("fresh");
        } else {
            say("restoring " + committed.get(0).step());
            RestoreResult r = cp.restore(RestoreRequest.latest().into(model.targets()));
            model.restored(r.state());
            say("restored " + r.step() + " tier=" + r.tier());
        }
        while (model.currentStep() < steps) {
            model.step();
            long step = model.currentStep();
            say("saving " + step);
            CheckpointHandle h = cp.save(step, model.state());
            say("captured " + step);
            h.committed("peer").join();
            say("committed-first " + step);
            if (h.tiers().contains("disk")) {
                say("promoting " + step);
            }
            h.done().join();
            say("committed " + step);
            if (rank == 0 && step % GC_EVERY == 0) {
                say("gc-start " + step);
                cp.gc(false);
                say("gc " + step);
            }
        }
    }

    /**
     * A replacement rank's check: restores each of {@code steps} whole (every rank's slices, into one-rank targets)
     * from the tiers as the job left them, and prints {@code verified S tier=T repaired=N step=S rng=R tensor=digest ...}
     * or {@code unrestorable S REASON message}.
     */
    private static void verify(Checkpointer cp, String steps) {
        for (String s : steps.split(",")) {
            long step = Long.parseLong(s);
            ShardedModel whole = new ShardedModel(0, 1, SCALE);
            try {
                RestoreResult r = cp.restore(RestoreRequest.step(step).into(whole.targets()));
                whole.restored(r.state());
                StringBuilder b = new StringBuilder("verified ").append(step).append(" tier=").append(r.tier())
                        .append(" repaired=").append(r.chunksRepaired()).append(" step=").append(whole.currentStep())
                        .append(" rng=").append(java.nio.ByteBuffer.wrap(r.state().blob("rng").toByteArray()).getLong());
                whole.digests().forEach((name, hex) -> b.append(' ').append(name).append('=').append(hex));
                say(b.toString());
            } catch (dev.cairn.CheckpointException e) {
                say("unrestorable " + step + " " + e.reason() + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }

    /** A thread that answers {@code list ID} with what this rank lists as committed, while it trains or after. */
    private static void answerListRequests(Checkpointer cp) {
        Thread t = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (line.startsWith("list ")) {
                        StringBuilder b = new StringBuilder("listed ").append(line.substring(5));
                        try {
                            for (CheckpointInfo i : cp.list()) {
                                b.append(' ').append(i.tier()).append(':').append(i.step());
                            }
                        } catch (RuntimeException e) {
                            b.append(" error ").append(e);
                        }
                        say(b.toString());
                    }
                }
            } catch (java.io.IOException e) {
                // stdin closed: nobody asks any more
            }
        }, "list requests");
        t.setDaemon(true);
        t.start();
    }
}
