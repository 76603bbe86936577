package dev.cairn.tiers.internal.restore;

import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.Entry;
import dev.cairn.RankBlobResolver;
import dev.cairn.RestoreRequest;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.codec.Codec;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What one rank reads to restore a checkpoint, decided (and every request error found) before any byte is fetched
 * or any target touched. Each target tensor is filled from the saved slice equal to it when there is one (chunks
 * decode straight into place), else from every saved slice that overlaps it (resharding: only the chunks whose
 * rows overlap, each copied run by run). Global blobs come from the lowest rank that saved them; per-rank blobs
 * from this rank on the same world size, else from the request's {@link RankBlobResolver}.
 *
 * <p>The plan is made from the MANIFEST's entries alone (their slices, not their chunks): {@link #sourceRanks} then
 * says whose rank indexes hold the chunk rows it needs, and {@link #bind} takes the manifest with those ranks' chunks
 * ({@code CommitProtocol#withRanks}) and turns each use of a saved entry into chunk reads. A MANIFEST that keeps its
 * rows inline is bound to itself.
 */
final class RestorePlan {
    /** One chunk to fetch and where its bytes go: contiguously at its offset, or through {@code slice}. */
    record Task(EntryRecord entry, ChunkRef chunk, List<ByteBuffer> dst, SliceCopy slice) {
    }

    /** A saved entry this rank reads from: whole into {@code dst}, or the chunks {@code slice} touches. */
    private record Use(EntryRecord entry, List<ByteBuffer> dst, SliceCopy slice) {
    }

    private final Manifest manifest;
    private final int rank;
    private final int worldSize;
    private final RankBlobResolver resolver;
    private final List<Use> uses = new ArrayList<>();
    private List<Task> tasks;
    private final List<Object> order = new ArrayList<>(); // Tensor, or the name of a blob
    private final Map<String, Map<Integer, ByteBuffer>> blobs = new LinkedHashMap<>();
    private final Map<String, Boolean> perRankBlob = new HashMap<>();

    private RestorePlan(Manifest manifest, int rank, int worldSize, RankBlobResolver resolver) {
        this.manifest = manifest;
        this.rank = rank;
        this.worldSize = worldSize;
        this.resolver = resolver;
    }

    static RestorePlan of(Manifest m, RestoreRequest request, int rank, int worldSize) {
        RestorePlan p = new RestorePlan(m, rank, worldSize, request.rankBlobResolver().orElse(null));
        Map<String, List<EntryRecord>> saved = new LinkedHashMap<>();
        for (EntryRecord e : m.entries()) {
            saved.computeIfAbsent(e.name(), k -> new ArrayList<>()).add(e);
        }
        TrainingState targets = request.targets().orElse(null);
        boolean strict = m.worldSize() == 1 && worldSize == 1;
        for (Map.Entry<String, List<EntryRecord>> s : saved.entrySet()) {
            List<EntryRecord> copies = s.getValue();
            EntryRecord first = copies.get(0);
            for (EntryRecord e : copies) {
                if (e.tensor() != first.tensor() || e.dtype() != first.dtype()
                        || (e.tensor() && !Arrays.equals(e.globalShape(), first.globalShape())) || e.perRank() != first.perRank()) {
                    throw new CheckpointException(Reason.CORRUPT, "step " + m.step() + " holds entry '" + s.getKey()
                            + "' with different kinds, dtypes or global shapes on different ranks");
                }
            }
            if (first.tensor()) {
                if (!request.isBlobsOnly()) {
                    p.planTensor(s.getKey(), copies, targets, strict);
                }
            } else {
                p.planBlob(s.getKey(), copies);
            }
        }
        if (targets != null) {
            for (Entry e : targets.entries()) {
                if (e instanceof Tensor && (!saved.containsKey(e.name()) || !saved.get(e.name()).get(0).tensor())) {
                    throw new CheckpointException(Reason.INVALID_INPUT, "restore target tensor '" + e.name()
                            + "' is not in step " + m.step());
                }
            }
        }
        return p;
    }

    private void planTensor(String name, List<EntryRecord> copies, TrainingState targets, boolean strict) {
        EntryRecord first = copies.get(0);
        Tensor target;
        if (targets != null) {
            if (!targets.contains(name) || !(targets.entry(name) instanceof Tensor t)) {
                if (strict) {
                    throw new CheckpointException(Reason.INVALID_INPUT, "step " + manifest.step() + " holds tensor '" + name
                            + "' but the restore targets have no tensor of that name");
                }
                return; // several ranks: each asks for the tensors it holds
            }
            target = t;
            if (target.dtype() != first.dtype() || !Arrays.equals(target.shard().globalShape(), first.globalShape())) {
                throw new CheckpointException(Reason.INVALID_INPUT, "tensor '" + name + "' is " + first.dtype().tag()
                        + Arrays.toString(first.globalShape()) + " in step " + manifest.step() + " but the restore target is "
                        + target.dtype().tag() + Arrays.toString(target.shard().globalShape()));
            }
            for (ByteBuffer b : target.buffers()) {
                if (b.isReadOnly()) { // else found only at the first write, after other targets were written
                    throw new CheckpointException(Reason.INVALID_INPUT, "restore target tensor '" + name
                            + "' is read-only: a restore writes into its buffers");
                }
            }
        } else if (manifest.worldSize() == worldSize) {
            EntryRecord mine = copies.stream().filter(e -> e.rank() == rank).findFirst().orElse(null);
            if (mine == null) {
                return; // this rank saved no slice of it
            }
            target = mine.shard().isWhole() ? Tensor.allocate(name, mine.dtype(), mine.shape())
                    : Tensor.allocate(name, mine.dtype(), mine.shard());
        } else {
            target = Tensor.allocate(name, first.dtype(), first.globalShape());
        }
        order.add(target);
        planSlices(name, copies, target);
    }

    private void planSlices(String name, List<EntryRecord> copies, Tensor target) {
        ShardSpec want = target.shard();
        List<ByteBuffer> dst = target.buffers();
        EntryRecord exact = null;
        for (EntryRecord e : copies) {
            if (e.shard().equals(want) && (exact == null || e.rank() == rank)) {
                exact = e;
            }
        }
        if (exact != null) {
            uses.add(new Use(exact, dst, null));
            return;
        }
        // Resharding: every distinct saved slice that overlaps (replicas of a slice are read once).
        List<ShardSpec> used = new ArrayList<>();
        long covered = 0;
        int width = copies.get(0).dtype().byteSize();
        for (EntryRecord e : copies) {
            ShardSpec have = e.shard();
            if (used.contains(have)) {
                continue;
            }
            SliceCopy copy = SliceCopy.between(have, want, width);
            if (copy == null) {
                continue;
            }
            for (ShardSpec other : used) {
                if (SliceCopy.between(other, have, width) != null) {
                    throw new CheckpointException(Reason.CORRUPT, "step " + manifest.step() + " holds overlapping slices "
                            + other + " and " + have + " of tensor '" + name + "'");
                }
            }
            used.add(have);
            covered += copy.volume();
            uses.add(new Use(e, dst, copy));
        }
        long volume = 1;
        for (long l : want.lengths()) {
            volume *= l;
        }
        if (covered != volume) {
            throw new CheckpointException(Reason.CORRUPT, "step " + manifest.step() + " does not hold all of " + want
                    + " of tensor '" + name + "': the saved slices cover " + covered + " of its " + volume + " elements");
        }
    }

    private void planBlob(String name, List<EntryRecord> copies) {
        boolean perRank = copies.get(0).perRank();
        List<EntryRecord> wanted = new ArrayList<>();
        if (!perRank) {
            wanted.add(copies.stream().min(java.util.Comparator.comparingInt(EntryRecord::rank)).orElseThrow());
        } else if (manifest.worldSize() == worldSize) {
            copies.stream().filter(e -> e.rank() == rank).findFirst().ifPresent(wanted::add);
        } else if (resolver == null) {
            throw new CheckpointException(Reason.INVALID_INPUT, "per-rank blob '" + name + "' was saved by " + manifest.worldSize()
                    + " ranks and this run has " + worldSize + ": pass RestoreRequest.onRankBlobs(...) to choose each rank's"
                    + " copy; Cairn does not guess");
        } else {
            wanted.addAll(copies);
        }
        if (wanted.isEmpty()) {
            return;
        }
        order.add(name);
        perRankBlob.put(name, perRank);
        Map<Integer, ByteBuffer> byRank = new java.util.TreeMap<>();
        for (EntryRecord e : wanted) {
            if (e.byteSize() > Integer.MAX_VALUE - 8) {
                throw new CheckpointException(Reason.CORRUPT, "blob '" + name + "' records " + e.byteSize() + " bytes");
            }
            ByteBuffer b = ByteBuffer.allocate((int) e.byteSize());
            byRank.put(e.rank(), b);
            uses.add(new Use(e, List.of(b), null));
        }
        blobs.put(name, byRank);
    }

    /**
     * What of a format-5 MANIFEST's directory ({@code global}, as read) a plan of {@code request} on rank {@code rank}
     * of {@code worldSize} may use, level by level: the rows that may hold a slice of a target tensor overlapping the
     * target (with no targets: the rank's own slices on the same world, every slice on another; none for a request
     * of blobs only), this rank's copy of a per-rank blob on the same world (every copy on another), and the lowest
     * rank's copy of a global blob. A row that a request error needs to be seen (another dtype or global shape, a
     * target of no elements) is kept too, and so is one row of a target tensor of which no row overlaps the target (it
     * lies in a gap of the saved slices), so that the plan reports the error as it would from the whole directory.
     */
    static dev.cairn.tiers.internal.manifest.CommittedManifest.PageChoice pagesFor(Manifest global, RestoreRequest request,
                                                                                   int rank, int worldSize) {
        TrainingState targets = request.targets().orElse(null);
        boolean sameWorld = global.worldSize() == worldSize;
        return rows -> {
            Map<String, Integer> lowest = new HashMap<>();
            for (dev.cairn.tiers.internal.manifest.PageRow r : rows) {
                if (!r.tensor() && !r.perRankBlob()) {
                    lowest.merge(r.name(), r.firstRank(), Math::min);
                }
            }
            List<dev.cairn.tiers.internal.manifest.PageRow> out = new ArrayList<>();
            Set<String> kept = new HashSet<>();
            for (dev.cairn.tiers.internal.manifest.PageRow r : rows) {
                boolean wanted;
                if (r.tensor()) {
                    if (request.isBlobsOnly()) {
                        wanted = false;
                    } else if (targets == null) {
                        wanted = !sameWorld || r.mayHoldRank(rank);
                    } else if (targets.contains(r.name()) && targets.entry(r.name()) instanceof Tensor t) {
                        ShardSpec want = t.shard();
                        wanted = r.overlaps(want) || t.dtype() != r.dtype()
                                || !Arrays.equals(want.globalShape(), r.globalShape()) || volume(want) == 0;
                    } else {
                        wanted = false; // not restored here
                    }
                } else if (r.perRankBlob()) {
                    wanted = !sameWorld || r.mayHoldRank(rank);
                } else {
                    wanted = r.firstRank() == lowest.get(r.name());
                }
                if (wanted) {
                    out.add(r);
                    kept.add(r.name());
                }
            }
            // A target tensor of which no row overlaps: one row of it still, so that the plan sees the tensor is in
            // the step and reports that the step does not hold the target (CORRUPT, as from the whole directory),
            // not that the tensor is not there. Only a step whose slices leave the target in a gap gets here: one
            // committed before rank 0 checked the ranks' slices (SliceAgreement), or damaged.
            Set<String> missing = new HashSet<>();
            for (dev.cairn.tiers.internal.manifest.PageRow r : rows) {
                if (r.tensor() && !request.isBlobsOnly() && targets != null && !kept.contains(r.name())
                        && targets.contains(r.name()) && targets.entry(r.name()) instanceof Tensor && missing.add(r.name())) {
                    out.add(r);
                }
            }
            return out;
        };
    }

    private static long volume(ShardSpec s) {
        long v = 1;
        for (long l : s.lengths()) {
            v *= l;
        }
        return v;
    }

    /** The ranks whose entries this plan reads: whose indexes it needs when the MANIFEST keeps its rows there. */
    java.util.Set<Integer> sourceRanks() {
        java.util.Set<Integer> ranks = new java.util.TreeSet<>();
        for (Use u : uses) {
            ranks.add(u.entry().rank());
        }
        return ranks;
    }

    /**
     * Turns the plan into chunk reads, from {@code resolved}: the manifest this plan was made from with (at least) the
     * entries of {@link #sourceRanks} carrying their chunks. Returns the entries read, with their chunks.
     */
    List<EntryRecord> bind(Manifest resolved) {
        Map<String, EntryRecord> byRankAndName = new HashMap<>();
        for (EntryRecord e : resolved.entries()) {
            byRankAndName.put(e.rank() + "/" + e.name(), e);
        }
        List<Task> out = new ArrayList<>();
        List<EntryRecord> read = new ArrayList<>();
        for (Use u : uses) {
            EntryRecord e = byRankAndName.get(u.entry().rank() + "/" + u.entry().name());
            if (e == null || e.byteSize() != u.entry().byteSize() || (e.byteSize() > 0 && e.chunks().isEmpty())) {
                throw new CheckpointException(Reason.CORRUPT, "step " + manifest.step() + " lists entry '" + u.entry().name()
                        + "' of rank " + u.entry().rank() + " without its chunks");
            }
            read.add(e);
            for (ChunkRef c : e.chunks()) {
                if (Codec.byName(c.codec()) == null) {
                    // A later release's codec: refused before any chunk is fetched or any target written, as a later
                    // format is, rather than taken for damage in every tier.
                    throw new CheckpointException(Reason.UNSUPPORTED_VERSION, "step " + manifest.step() + " stores entry '"
                            + e.name() + "' with codec '" + c.codec() + "', which this release of Cairn cannot decode;"
                            + " restore it with the release that wrote it, or a later one");
                }
                if (u.slice() == null || u.slice().touches(c.offset(), c.rawLength())) {
                    out.add(new Task(e, c, u.dst(), u.slice()));
                }
            }
        }
        tasks = out;
        // The result's entries in the order the resolved manifest lists them (a format-5 directory's order, by name,
        // is not the order they were saved in; the resolved one is).
        Map<String, Integer> first = new HashMap<>();
        for (EntryRecord e : resolved.entries()) {
            first.putIfAbsent(e.name(), first.size());
        }
        order.sort(java.util.Comparator.comparingInt(o -> first.getOrDefault(o instanceof Tensor t ? t.name() : (String) o,
                Integer.MAX_VALUE)));
        return read;
    }

    /** The chunk reads, once {@link #bind} made them. */
    List<Task> tasks() {
        if (tasks == null) {
            throw new IllegalStateException("the plan is not bound to its chunks yet");
        }
        return tasks;
    }

    /** The restored state, once every task has succeeded. */
    TrainingState result() {
        List<Entry> out = new ArrayList<>();
        for (Object o : order) {
            if (o instanceof Tensor t) {
                out.add(t);
                continue;
            }
            String name = (String) o;
            Map<Integer, ByteBuffer> byRank = blobs.get(name);
            ByteBuffer bytes;
            if (byRank.size() == 1 && (!perRankBlob.get(name) || manifest.worldSize() == worldSize)) {
                bytes = byRank.values().iterator().next().clear();
            } else {
                Map<Integer, ByteBuffer> view = new LinkedHashMap<>();
                byRank.forEach((r, b) -> view.put(r, b.clear().asReadOnlyBuffer()));
                bytes = resolver.resolve(name, java.util.Collections.unmodifiableMap(view), manifest.worldSize(), rank, worldSize);
                if (bytes == null) {
                    continue;
                }
            }
            out.add(perRankBlob.get(name) ? Blob.perRank(name, bytes) : Blob.of(name, bytes));
        }
        return TrainingState.of(out);
    }
}
