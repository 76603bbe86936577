package dev.cairn.examples.sharded;

import dev.cairn.CairnConfig;
import dev.cairn.CheckpointHandle;
import dev.cairn.Checkpointer;
import dev.cairn.ObjectStore;
import dev.cairn.RestoreRequest;
import dev.cairn.RestoreResult;
import dev.cairn.TierConfig;
import dev.cairn.backend.fs.FileSystemObjectStore;
import dev.cairn.backend.s3.S3ObjectStore;
import dev.cairn.backend.s3.S3StoreConfig;
import dev.cairn.examples.QuietLogging;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * One rank of a multi-process run of {@link ShardedModel}: a peer-memory tier (this rank's memory, served to and
 * replicated on its peers over Arrow Flight), optionally a shared disk tier, and an S3 tier, all shared by the ranks.
 * Driven by the tests and the benchmark through its command line and its stdout:
 * <pre>
 * --run NAME --rank R --world W --peers host:port,... [--scale S] [--s3-endpoint URL --s3-bucket B] [--s3-every K]
 * [--disk DIR] [--disk-every K] [--restore] [--steps N] [--pause-at X] [--verify] [--gc-grace-seconds G]
 * [--save-every K] [--deadline-seconds D] [--tiers peer,disk,s3] [--full-every K] [--wait-commit] [--restore-reps N]
 * [--no-finish-barrier] [--together]
 * </pre>
 * {@code --together}: every rank of the world restores at once ({@code --restore} or {@code --verify}), and they agree
 * on the newest step ({@link RestoreRequest#together()}); without it, a replacement of a lost rank restores alone.
 * prints {@code ready}, {@code restored <step> tier=<tier> bytes=<tier=n,...> ms=<t>},
 * {@code committed <step> ms=<save to commit in every tier> first-tier-us=<save to commit in the first>
 * capture-us=<stall> bytes=<raw bytes>},
 * {@code saving <step> at-ms=<epoch ms>} and {@code committed-first <step> at-ms=<epoch ms>} (a timeline across the ranks),
 * {@code paused <step>} (then waits for a line on stdin), {@code digest <tensor> <hex>} lines and {@code done}.
 * S3 credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never the command line.
 */
public final class ShardedRank {
    private ShardedRank() {
    }

    public static void main(String[] argv) throws Exception {
        QuietLogging.install(); // else, from the cairn jar, Logback logs gRPC's every frame at DEBUG into our stdout
        Map<String, String> a = parse(argv);
        int rank = Integer.parseInt(a.get("rank"));
        int world = Integer.parseInt(a.get("world"));
        int scale = Integer.parseInt(a.getOrDefault("scale", "1"));
        long steps = Long.parseLong(a.getOrDefault("steps", "0"));
        long pauseAt = Long.parseLong(a.getOrDefault("pause-at", "-1"));
        List<InetSocketAddress> peers = new ArrayList<>();
        for (String p : a.get("peers").split(",")) {
            int colon = p.lastIndexOf(':');
            peers.add(new InetSocketAddress(p.substring(0, colon), Integer.parseInt(p.substring(colon + 1))));
        }
        List<ObjectStore> stores = new ArrayList<>();
        try {
            long deadline = Long.parseLong(a.getOrDefault("deadline-seconds", "60"));
            CairnConfig.Builder cb = CairnConfig.builder(a.get("run")).rank(rank, world).encoderThreads(2)
                    .stagingBytes(256L << 20).deadline(Duration.ofSeconds(deadline))
                    .gcGrace(Duration.ofSeconds(Long.parseLong(a.getOrDefault("gc-grace-seconds", Long.toString(2 * deadline + 60)))))
                    .differential(Integer.parseInt(a.getOrDefault("full-every", Integer.toString(CairnConfig.DEFAULT_DIFFERENTIAL_FULL_EVERY))));
            List<String> only = List.of(a.getOrDefault("tiers", "peer,disk,s3").split(","));
            ObjectStore peer = PeerTier.open(rank, peers, Integer.parseInt(a.getOrDefault("replicas", "1")), 1L << 30);
            stores.add(peer);
            if (only.contains("peer")) {
                cb.tier(TierConfig.of("peer", peer).keepLast(2));
            }
            if (a.containsKey("disk") && only.contains("disk")) {
                ObjectStore disk = new FileSystemObjectStore(Path.of(a.get("disk")));
                stores.add(disk);
                cb.tier(TierConfig.of("disk", disk).everySteps(Long.parseLong(a.getOrDefault("disk-every", "1"))).keepLast(2));
            }
            if (a.containsKey("s3-bucket") && only.contains("s3")) {
                S3StoreConfig.Builder s3 = S3StoreConfig.builder(a.get("s3-bucket")).region("us-east-1").prefix("sharded");
                if (a.containsKey("s3-endpoint")) {
                    s3.endpoint(URI.create(a.get("s3-endpoint")));
                }
                String id = System.getenv("AWS_ACCESS_KEY_ID");
                String secret = System.getenv("AWS_SECRET_ACCESS_KEY");
                if (id != null && secret != null) {
                    s3.credentials(id, secret);
                }
                ObjectStore store = new S3ObjectStore(s3.build());
                stores.add(store);
                cb.tier(TierConfig.of("s3", store).everySteps(Long.parseLong(a.getOrDefault("s3-every", "5"))).keepLast(2));
            }
            try (Checkpointer cp = Checkpointer.open(cb.build())) {
                ShardedModel model = new ShardedModel(rank, world, scale);
                System.out.println("ready");
                if (a.containsKey("restore") || a.containsKey("verify")) {
                    // The first restore is the replacement's real one (a cold JVM); repeats show it warm.
                    int reps = Integer.parseInt(a.getOrDefault("restore-reps", "1"));
                    for (int i = 0; i < reps; i++) {
                        long t0 = System.nanoTime();
                        RestoreRequest newest = RestoreRequest.latest().into(model.targets())
                                .onRankBlobs((name, saved, savedWorld, me, w) -> saved.get(me % savedWorld));
                        RestoreResult r = cp.restore(a.containsKey("together") ? newest.together() : newest);
                        long ms = (System.nanoTime() - t0) / 1_000_000;
                        model.restored(r.state());
                        System.out.println((i == 0 ? "restored " : "restored-again ") + r.step() + " tier=" + r.tier() + " bytes="
                                + pairs(r.bytesReadByTier()) + " ms=" + ms);
                    }
                }
                if (!a.containsKey("verify")) {
                    train(cp, model, steps, pauseAt, Long.parseLong(a.getOrDefault("save-every", "1")), a.containsKey("wait-commit"));
                }
                // As a torch.distributed job ends with a barrier before its process group goes away: this rank's
                // memory holds part of the peer tier (MANIFESTs, indexes, replicas), which a slower rank may still
                // read to finish its last commit or restore.
                // --no-finish-barrier: a replacement that restores beside a paused run (the benchmark's) has no
                // group to meet; the paused ranks never arrive.
                if (!a.containsKey("no-finish-barrier")) {
                    peer.coordinator().ifPresent(c -> c.barrier(a.get("run") + "/finished", rank, world, Duration.ofSeconds(deadline)));
                }
                model.digests().forEach((name, hex) -> System.out.println("digest " + name + " " + hex));
                System.out.println("done");
                System.out.flush();
            }
        } finally {
            for (ObjectStore s : stores) {
                s.close();
            }
        }
    }

    private static void train(Checkpointer cp, ShardedModel model, long steps, long pauseAt, long saveEvery, boolean waitCommit)
            throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        List<CheckpointHandle> pending = new ArrayList<>();
        while (model.currentStep() < steps) {
            model.step();
            long step = model.currentStep();
            if (step % saveEvery == 0) {
                long t0 = System.nanoTime();
                System.out.println("saving " + step + " at-ms=" + System.currentTimeMillis());
                dev.cairn.TrainingState state = model.state();
                CheckpointHandle h = cp.save(step, state);
                long captured = System.nanoTime() - t0;
                pending.add(h);
                java.util.concurrent.atomic.AtomicLong firstTierNanos = new java.util.concurrent.atomic.AtomicLong();
                h.committed(h.tiers().get(0)).thenRun(() -> {
                    firstTierNanos.set(System.nanoTime() - t0);
                    System.out.println("committed-first " + step + " at-ms=" + System.currentTimeMillis());
                });
                h.done().thenRun(() -> System.out.println("committed " + step + " ms=" + (System.nanoTime() - t0) / 1_000_000
                        + " first-tier-us=" + firstTierNanos.get() / 1000 + " capture-us=" + captured / 1000 + " bytes=" + state.byteSize()));
                if (waitCommit) {
                    // As when a step's compute outlasts the save: the next save starts once this one is in memory.
                    h.committed(h.tiers().get(0)).get(120, TimeUnit.SECONDS);
                }
            }
            // A failed step (a peer gone, a deadline) ends the run: its caller restarts it from the newest commit.
            for (CheckpointHandle h : List.copyOf(pending)) {
                if (h.done().isCompletedExceptionally()) {
                    h.done().get(); // throws with the reason
                }
                if (h.done().isDone()) {
                    pending.remove(h);
                }
            }
            if (step == pauseAt) {
                for (CheckpointHandle h : pending) {
                    h.done().get(120, TimeUnit.SECONDS);
                }
                pending.clear();
                System.out.println("paused " + step);
                System.out.flush();
                if (in.readLine() == null) {
                    return;
                }
            }
        }
        for (CheckpointHandle h : pending) {
            h.done().get(120, TimeUnit.SECONDS);
        }
    }

    private static Map<String, String> parse(String[] argv) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + argv[i]);
            }
            String key = argv[i].substring(2);
            boolean flag = i + 1 >= argv.length || argv[i + 1].startsWith("--");
            out.put(key, flag ? "true" : argv[++i]);
        }
        for (String required : new String[] {"run", "rank", "world", "peers"}) {
            if (!out.containsKey(required)) {
                throw new IllegalArgumentException("missing --" + required);
            }
        }
        return out;
    }

    private static String pairs(Map<String, Long> byTier) {
        StringBuilder b = new StringBuilder();
        new TreeMap<>(byTier).forEach((k, v) -> b.append(b.length() == 0 ? "" : ",").append(k).append('=').append(v));
        return b.length() == 0 ? "none" : b.toString();
    }
}
