package dev.cairn.tiers;

import dev.cairn.CheckpointAdmin;
import dev.cairn.CheckpointDescription;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointInfo;
import dev.cairn.GcReport;
import dev.cairn.ObjectInfo;
import dev.cairn.ObjectKeys;
import dev.cairn.StoreRef;
import dev.cairn.TierConfig;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.commit.CommitProtocol;
import dev.cairn.tiers.internal.gc.GarbageCollector;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import dev.cairn.tiers.internal.restore.ChunkReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;

/**
 * The engine's {@link CheckpointAdmin}: each store, for each run asked about, becomes a {@link Tier} of that run, so
 * that {@link CommitProtocol} lists, reads and creates its manifests and the {@link GarbageCollector} sweeps it exactly
 * as a running checkpointer would. Owns the manifest allocator, the tiers and a pool of chunk readers.
 */
final class CairnAdmin implements CheckpointAdmin {
    private final List<StoreRef> stores;
    private final BufferAllocator allocator = new RootAllocator();
    private final CommitProtocol commits = new CommitProtocol(allocator);

    /** How this admin reads commits, for {@link AdminCopy}. */
    CommitProtocol commits() {
        return commits;
    }
    private final Map<String, Tier> tiers = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<ChunkReader> readers = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;

    CairnAdmin(List<StoreRef> stores) {
        this.stores = List.copyOf(stores);
    }

    @Override
    public List<StoreRef> stores() {
        return stores;
    }

    @Override
    public RunListing runs(StoreRef store) throws IOException {
        checkOpen();
        TreeSet<String> runs = new TreeSet<>();
        TreeMap<String, String> invalid = new TreeMap<>();
        for (ObjectInfo o : store.store().list("")) {
            String[] parts = o.key().split("/", 3);
            if (parts.length == 3 && (parts[1].equals("steps") || parts[1].equals("chunks"))) {
                String problem = ObjectKeys.problem(parts[0]);
                if (problem == null) {
                    runs.add(parts[0]);
                } else {
                    invalid.put(parts[0], problem);
                }
            }
        }
        return new RunListing(runs, invalid);
    }

    @Override
    public List<StoredStep> steps(StoreRef store, String run) throws IOException {
        checkOpen();
        StoreLayout layout = new StoreLayout(run);
        Map<Long, List<ObjectInfo>> byStep = new TreeMap<>();
        for (ObjectInfo o : store.store().list(layout.stepsPrefix())) {
            if (!layout.isRetiredKey(o.key())) { // retention's marker of a step it removed: nothing to show
                layout.stepOf(o.key()).ifPresent(step -> byStep.computeIfAbsent(step, k -> new ArrayList<>()).add(o));
            }
        }
        List<StoredStep> out = new ArrayList<>(byStep.size());
        for (Map.Entry<Long, List<ObjectInfo>> e : byStep.entrySet()) {
            long step = e.getKey();
            List<ObjectInfo> files = e.getValue();
            String key = layout.manifestKey(step);
            StoredStep.State state = StoredStep.State.PARTIAL;
            CheckpointInfo info = null;
            if (files.stream().anyMatch(o -> o.key().equals(key))) {
                try {
                    Manifest m = ManifestFormat.load(store.store(), key, store.location() + ":" + key, allocator);
                    info = new CheckpointInfo(m.run(), m.step(), store.name(), m.worldSize(), (int) m.entryCount(), m.rawBytes(),
                            m.storedBytes(), m.createdAt());
                    state = StoredStep.State.COMMITTED;
                } catch (CheckpointException unreadable) {
                    state = StoredStep.State.UNREADABLE;
                }
            }
            Instant newest = files.stream().map(ObjectInfo::lastModified).max(Instant::compareTo).orElse(Instant.EPOCH);
            long bytes = files.stream().mapToLong(ObjectInfo::size).sum();
            out.add(new StoredStep(step, state, files.size(), bytes, newest, Optional.ofNullable(info)));
        }
        return out;
    }

    @Override
    public SortedMap<Long, List<StoreRef>> committedSteps(String run) throws IOException {
        checkOpen();
        TreeMap<Long, List<StoreRef>> holders = new TreeMap<>();
        for (StoreRef s : stores) {
            for (long step : commits.committedSteps(tier(s, run))) {
                holders.computeIfAbsent(step, k -> new ArrayList<>()).add(s);
            }
        }
        holders.replaceAll((step, in) -> List.copyOf(in));
        return Collections.unmodifiableSortedMap(holders);
    }

    @Override
    public List<StoreRef> holders(String run, long step) throws IOException {
        SortedMap<Long, List<StoreRef>> steps = committedSteps(run);
        List<StoreRef> holders = steps.get(step);
        if (holders == null) {
            throw new CheckpointException(Reason.NOT_FOUND, "step " + step + " of run '" + run + "' is not committed in "
                    + locations() + (steps.isEmpty() ? "" : "; committed steps: " + steps.keySet()));
        }
        return holders;
    }

    @Override
    public CheckpointDescription describe(StoreRef store, String run, long step) throws IOException {
        return Descriptions.of(manifest(store, run, step));
    }

    /** The parsed, checked MANIFEST of {@code step} in {@code store}, cached by the commit protocol. */
    Manifest manifest(StoreRef store, String run, long step) throws IOException {
        checkOpen();
        return commits.read(tier(store, run), step);
    }

    @Override
    public void readChunk(List<StoreRef> from, String run, CheckpointDescription.Chunk chunk, String entry, ByteBuffer dst) {
        checkOpen();
        if (dst.remaining() < chunk.rawLength()) {
            throw new CheckpointException(Reason.INVALID_INPUT, "a buffer of " + dst.remaining() + " bytes cannot take chunk "
                    + chunk.hash() + " of " + chunk.rawLength() + " bytes");
        }
        ChunkRef c = Descriptions.ref(chunk);
        StoreLayout layout = new StoreLayout(run);
        List<String> tried = new ArrayList<>();
        ChunkReader reader = borrowReader();
        try {
            for (StoreRef s : from) {
                ByteBuffer raw;
                try {
                    raw = reader.verify(s.store(), layout, reader.readStored(s.store(), layout, c), c);
                } catch (NoSuchFileException e) {
                    tried.add(s.location() + ": missing");
                    continue;
                } catch (IOException | RuntimeException e) {
                    tried.add(s.location() + ": " + e.getMessage());
                    continue;
                }
                dst.put(raw);
                return;
            }
        } finally {
            readers.add(reader);
        }
        throw new CheckpointException(Reason.CORRUPT, "chunk " + c.hash() + " of '" + entry + "' at offset " + c.offset()
                + " has no good copy (" + String.join("; ", tried) + ")");
    }

    @Override
    public String contentKey(String contentHash, ByteBuffer bytes) {
        return Descriptions.contentHash(contentHash).hex(bytes, bytes.position(), bytes.remaining());
    }

    @Override
    public List<StepCheck> verify(String run, List<Long> steps, Progress progress) throws IOException {
        checkOpen();
        ChunkReader reader = borrowReader();
        try {
            return new AdminVerify(this, run, reader, allocator).verify(steps, progress);
        } finally {
            readers.add(reader);
        }
    }

    @Override
    public CopyReport copy(String run, long step, StoreRef target, int threads, Progress progress) throws IOException {
        checkOpen();
        if (threads < 1) {
            throw new CheckpointException(Reason.INVALID_INPUT, "a copy needs at least one thread, was " + threads);
        }
        StoreLayout layout = new StoreLayout(run);
        try (Tier to = new Tier(TierConfig.of(target.name(), target.store()), stores.size(), layout, 1)) {
            to.seedCatalogWith(Tier.LIST_CHUNKS); // a copy of whole steps: one listing of the target, not a create per chunk
            return new AdminCopy(this, layout, allocator, threads).copy(step, to, target.location(), progress);
        }
    }

    @Override
    public GcReport gc(StoreRef store, String run, int keepLast, Duration grace, boolean dryRun) throws IOException {
        checkOpen();
        try (Tier tier = new Tier(TierConfig.of(store.name(), store.store()).keepLast(keepLast), index(store),
                new StoreLayout(run), 1)) {
            return new GarbageCollector(commits).collect(tier, grace, Set.of(), dryRun, GarbageCollector.Collector.OUTSIDER);
        }
    }

    /** {@code store} as a tier of {@code run}. */
    Tier tier(StoreRef store, String run) {
        int index = index(store);
        return tiers.computeIfAbsent(index + "/" + run, k -> new Tier(TierConfig.of(store.name(), store.store()), index,
                new StoreLayout(run), 1));
    }

    private int index(StoreRef store) {
        int index = stores.indexOf(store);
        if (index < 0) {
            throw new CheckpointException(Reason.INVALID_INPUT, "store " + store.location() + " was not given to this admin");
        }
        return index;
    }

    /** The stores' locations, for messages. */
    String locations() {
        return String.join(", ", stores.stream().map(StoreRef::location).toList());
    }

    private ChunkReader borrowReader() {
        ChunkReader r = readers.poll();
        return r != null ? r : new ChunkReader();
    }

    private void checkOpen() {
        if (closed) {
            throw new CheckpointException(Reason.CLOSED, "the checkpoint admin is closed");
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        tiers.values().forEach(Tier::close);
        tiers.clear();
        for (ChunkReader r = readers.poll(); r != null; r = readers.poll()) {
            r.close();
        }
        allocator.close();
    }
}
