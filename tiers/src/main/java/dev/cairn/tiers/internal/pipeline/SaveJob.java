package dev.cairn.tiers.internal.pipeline;

import dev.cairn.CheckpointException;
import dev.cairn.CheckpointException.Reason;
import dev.cairn.CheckpointHandle;
import dev.cairn.CommitReport;
import dev.cairn.Entry;
import dev.cairn.SaveMode;
import dev.cairn.Tensor;
import dev.cairn.TrainingState;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One save in flight: the chunk plan of its state, what each chunk became, and the futures of its handle.
 * Written by the pipeline's threads in a fixed order (capture, encoder, writer, I/O), which the ring's sequences
 * and the counters' atomics order.
 */
public final class SaveJob implements CheckpointHandle {
    final long step;
    final SaveMode mode;
    final List<Entry> entries;
    final Tier[] tiers;
    final int chunkBytes;
    // Chunk plan: chunk i is bytes [offset[i], offset[i] + length[i]) of entry entryOf[i].
    final int[] entryOf;
    final long[] offsetOf;
    final int[] lengthOf;
    // Results, per chunk and (for stored sizes) per tier.
    final String[] hashOf;
    /** The codec chunk i is stored with in the pipeline's tier: the one chosen, or the one already stored. */
    final String[] codecOf;
    final long[][] storedOf;
    /** The bases chunk i is stored against in the pipeline's tier, nearest first (empty when whole). */
    final List<String>[] basesOf;
    /** Pins held for chunk i beyond its own hash (the bases it relies on), released with it. */
    final List<String>[] extraPinsOf;
    /** 0, or the relative error bound of chunk i's lossy rounding. */
    final double[] errorBoundOf;
    /** The lossy mantissa bits for chunk i's entry, or 0 when it is stored exactly. */
    final int[] lossyBitsOf;
    final AtomicInteger notYetEncoded;
    final AtomicInteger[] notYetWritten;
    final AtomicLongArray bytesWritten;
    final AtomicLongArray chunksWritten;
    final AtomicReferenceArray<Throwable> tierFailure;
    private static final int PENDING = 0;
    private static final int COMMITTING = 1;
    private static final int FINISHED = 2;
    private final java.util.concurrent.atomic.AtomicIntegerArray tierState;
    volatile Throwable failure;
    private final CompletableFuture<Void> captured = new CompletableFuture<>();
    private final List<CompletableFuture<CommitReport>> committed = new ArrayList<>();
    private final CompletableFuture<List<CommitReport>> done;

    final int rank;
    final int worldSize;

    public SaveJob(long step, TrainingState state, SaveMode mode, Tier[] tiers, int chunkBytes) {
        this(step, state, mode, tiers, chunkBytes, 0, 1);
    }

    public SaveJob(long step, TrainingState state, SaveMode mode, Tier[] tiers, int chunkBytes, int rank, int worldSize) {
        this(step, state, mode, tiers, chunkBytes, rank, worldSize, null, 0);
    }

    /**
     * @param lossy        tensors whose whole name matches are rounded to {@code lossyBits} mantissa bits; null for none;
     *                     a match that is not {@link Tensor#isOptimizerState() optimizer state} fails with INVALID_INPUT
     */
    @SuppressWarnings("unchecked")
    public SaveJob(long step, TrainingState state, SaveMode mode, Tier[] tiers, int chunkBytes, int rank, int worldSize,
                   java.util.regex.Pattern lossy, int lossyBits) {
        this.step = step;
        this.mode = mode;
        this.entries = state.entries();
        this.tiers = tiers;
        this.chunkBytes = chunkBytes;
        this.rank = rank;
        this.worldSize = worldSize;
        int n = 0;
        for (Entry e : entries) {
            n = Math.addExact(n, ChunkPlan.plan(e, chunkBytes, null, null, 0));
        }
        entryOf = new int[n];
        offsetOf = new long[n];
        lengthOf = new int[n];
        int c = 0;
        for (int e = 0; e < entries.size(); e++) {
            int from = c;
            c = ChunkPlan.plan(entries.get(e), chunkBytes, offsetOf, lengthOf, c);
            java.util.Arrays.fill(entryOf, from, c, e);
        }
        hashOf = new String[n];
        codecOf = new String[n];
        storedOf = new long[tiers.length][n];
        basesOf = new List[n];
        extraPinsOf = new List[n];
        errorBoundOf = new double[n];
        lossyBitsOf = new int[n];
        if (lossy != null) {
            for (int i = 0; i < n; i++) {
                if (entries.get(entryOf[i]) instanceof Tensor t && lossy.matcher(t.name()).matches()
                        && dev.cairn.tiers.internal.codec.MantissaRounding.errorBound(t.dtype(), lossyBits) != 0) {
                    // Only a tensor that would be rounded needs the mark: an integer step counter named by the
                    // pattern is stored exactly either way.
                    if (!t.isOptimizerState()) {
                        throw new dev.cairn.CheckpointException(dev.cairn.CheckpointException.Reason.INVALID_INPUT,
                                "lossy pattern '" + lossy.pattern() + "' matches tensor '" + t.name() + "', which is not "
                                        + "marked as optimizer state (Tensor.asOptimizerState()): weights and other "
                                        + "tensors are always stored exactly; nothing of step " + step + " was written");
                    }
                    errorBoundOf[i] = dev.cairn.tiers.internal.codec.MantissaRounding.errorBound(t.dtype(), lossyBits);
                    lossyBitsOf[i] = errorBoundOf[i] == 0 ? 0 : lossyBits;
                }
            }
        }
        notYetEncoded = new AtomicInteger(n);
        notYetWritten = new AtomicInteger[tiers.length];
        bytesWritten = new AtomicLongArray(tiers.length);
        chunksWritten = new AtomicLongArray(tiers.length);
        tierFailure = new AtomicReferenceArray<>(tiers.length);
        tierState = new java.util.concurrent.atomic.AtomicIntegerArray(tiers.length);
        for (int t = 0; t < tiers.length; t++) {
            notYetWritten[t] = new AtomicInteger(n);
            committed.add(new CompletableFuture<>());
        }
        done = CompletableFuture.allOf(committed.toArray(new CompletableFuture[0]))
                .thenApply(v -> committed.stream().map(CompletableFuture::join).toList());
    }

    /**
     * Tiers the pipeline itself writes: only the fastest. The slower tiers of the step are filled by promotion from
     * it once it has committed, so training never waits on them.
     */
    static final int PIPELINE_TIERS = 1;

    /** What new saves key their chunks by: the hash of manifest format {@link ManifestFormat#FORMAT_VERSION}. */
    static final dev.cairn.tiers.internal.codec.ContentHash CONTENT_HASH = ManifestFormat.hashOfNewSaves(ManifestFormat.FORMAT_VERSION);

    /** The content hash of chunk {@code i}, or null when it was never hashed. */
    public String hashOf(int i) {
        return hashOf[i];
    }

    public int chunkCount() {
        return entryOf.length;
    }

    /** Where chunk {@code i}'s bytes start in its entry's buffers: [buffer index, position in that buffer]. */
    long[] locate(int i) {
        long off = offsetOf[i];
        List<ByteBuffer> bufs = entries.get(entryOf[i]).buffers();
        for (int b = 0; b < bufs.size(); b++) {
            int size = bufs.get(b).remaining();
            if (off < size) {
                return new long[] {b, off};
            }
            off -= size;
        }
        throw new IllegalStateException("chunk " + i + " lies outside its entry");
    }

    /** The name of the entry chunk {@code i} belongs to. */
    String entryNameOf(int i) {
        return entries.get(entryOf[i]).name();
    }

    /** The dtype of chunk {@code i}'s tensor, or null for a blob. */
    dev.cairn.DType dtypeOf(int i) {
        return entries.get(entryOf[i]) instanceof Tensor t ? t.dtype() : null;
    }

    /** Records pins taken for chunk {@code i} beyond its own hash; called by the one thread that handles the chunk. */
    void addPins(int i, List<String> hashes) {
        if (extraPinsOf[i] == null) {
            extraPinsOf[i] = new ArrayList<>(hashes);
        } else {
            extraPinsOf[i].addAll(hashes);
        }
    }

    /** The width of the floats chunk {@code i} holds (2, 4 or 8), or 0 when it does not hold floats. */
    int floatWidthOf(int i) {
        if (entries.get(entryOf[i]) instanceof Tensor t && t.dtype().isFloatingPoint()) {
            return t.dtype().byteSize();
        }
        return 0;
    }

    /** Copies chunk {@code i}'s bytes, wherever they lie across the entry's buffers, into {@code dst} at 0. */
    void copyChunk(int i, ByteBuffer dst) {
        List<ByteBuffer> bufs = entries.get(entryOf[i]).buffers();
        long[] at = locate(i);
        int b = (int) at[0];
        int pos = (int) at[1];
        int left = lengthOf[i];
        int out = 0;
        while (left > 0) {
            ByteBuffer src = bufs.get(b);
            int n = Math.min(left, src.remaining() - pos);
            dst.put(out, src, pos, n);
            out += n;
            left -= n;
            b++;
            pos = 0;
        }
    }

    /** The buffer holding chunk {@code i} whole, if one direct buffer does; else null. */
    ByteBuffer directSource(int i, int[] positionOut) {
        List<ByteBuffer> bufs = entries.get(entryOf[i]).buffers();
        long[] at = locate(i);
        ByteBuffer src = bufs.get((int) at[0]);
        if (!src.isDirect() || src.remaining() - at[1] < lengthOf[i]) {
            return null;
        }
        positionOut[0] = (int) at[1];
        return src;
    }

    void fail(Throwable t) {
        if (failure == null) {
            failure = t;
        }
    }

    /** The manifest of this job as tier {@code t} stores it. */
    public Manifest manifest(String run, int t, Instant now) {
        List<EntryRecord> records = new ArrayList<>();
        int c = 0;
        for (int e = 0; e < entries.size(); e++) {
            Entry entry = entries.get(e);
            List<ChunkRef> refs = new ArrayList<>();
            for (; c < entryOf.length && entryOf[c] == e; c++) {
                List<String> bases = basesOf[c] == null ? List.of() : basesOf[c];
                refs.add(new ChunkRef(offsetOf[c], lengthOf[c], hashOf[c], codecOf[c], storedOf[t][c], bases, errorBoundOf[c],
                        CONTENT_HASH));
            }
            if (entry instanceof Tensor tensor) {
                dev.cairn.ShardSpec shard = tensor.shard();
                records.add(new EntryRecord(entry.name(), true, tensor.dtype(), tensor.shape(), shard.globalShape(), shard.offsets(),
                        false, entry.byteSize(), rank, refs));
            } else {
                boolean perRank = ((dev.cairn.Blob) entry).isPerRank();
                records.add(new EntryRecord(entry.name(), false, null, null, null, null, perRank, entry.byteSize(), rank, refs));
            }
        }
        return new Manifest(ManifestFormat.FORMAT_VERSION, CONTENT_HASH, run, step, worldSize, rank, now, chunkBytes, records);
    }

    CompletableFuture<Void> capturedFuture() {
        return captured;
    }

    /** The internal (not copied) commit future of tier {@code t}. */
    public CompletableFuture<CommitReport> committed(int t) {
        return committed.get(t);
    }

    public Tier tier(int t) {
        return tiers[t];
    }

    /** Why tier {@code t} cannot commit, or null. */
    public Throwable failure(int t) {
        Throwable f = failure;
        return f != null ? f : tierFailure.get(t);
    }

    public long chunksWritten(int t) {
        return chunksWritten.get(t);
    }

    public long bytesWritten(int t) {
        return bytesWritten.get(t);
    }

    /** Releases the pins this job holds in tier {@code t}'s catalog. */
    public void unpin(int t) {
        try {
            dev.cairn.tiers.internal.ChunkCatalog catalog = tiers[t].catalog();
            for (int i = 0; i < hashOf.length; i++) {
                if (hashOf[i] != null) {
                    catalog.unpin(hashOf[i]);
                }
                List<String> extra = extraPinsOf[i];
                if (extra != null) {
                    for (String h : extra) {
                        catalog.unpin(h);
                    }
                }
            }
        } catch (java.io.IOException e) {
            // The catalog was loaded when the pins were taken; it cannot fail to load now.
        }
    }

    /** Completes capture for a job with nothing to read. */
    public void completeCapture() {
        captured.complete(null);
    }

    /** Fails whatever has not completed yet; used by the deadline and by close. */
    public void expire(CheckpointException e) {
        fail(e);
        // In ZERO_COPY the encoders may still be reading the caller's buffers: captured completes only when the
        // ring has passed every chunk (the failure makes that quick), never earlier.
        if (mode != SaveMode.ZERO_COPY) {
            captured.completeExceptionally(e);
        }
        for (int t = 0; t < committed.size(); t++) {
            if (tierState.compareAndSet(t, PENDING, FINISHED)) {
                committed.get(t).completeExceptionally(e);
            }
        }
    }

    /**
     * Claims the right to commit tier {@code t}; false when the deadline or close already failed it. Without the
     * claim a step could be committed while its handle reports a failure.
     */
    public boolean claimCommit(int t) {
        return tierState.compareAndSet(t, PENDING, COMMITTING);
    }

    @Override
    public long step() {
        return step;
    }

    @Override
    public List<String> tiers() {
        List<String> names = new ArrayList<>();
        for (Tier t : tiers) {
            names.add(t.name());
        }
        return names;
    }

    @Override
    public CompletableFuture<Void> captured() {
        return captured.copy();
    }

    @Override
    public CompletableFuture<CommitReport> committed(String tier) {
        for (int t = 0; t < tiers.length; t++) {
            if (tiers[t].name().equals(tier)) {
                return committed.get(t).copy();
            }
        }
        return CompletableFuture.failedFuture(new CheckpointException(Reason.INVALID_INPUT,
                "step " + step + " does not go to tier '" + tier + "' (it goes to " + tiers() + ")"));
    }

    @Override
    public CompletableFuture<List<CommitReport>> done() {
        return done.copy();
    }

    boolean isDone() {
        return done.isDone();
    }
}
