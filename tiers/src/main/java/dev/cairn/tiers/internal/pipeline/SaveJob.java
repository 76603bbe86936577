package dev.cairn.tiers.internal.pipeline;

import dev.cairn.Blob;
import dev.cairn.CheckpointException;
import dev.cairn.CommitReport;
import dev.cairn.Entry;
import dev.cairn.SaveMode;
import dev.cairn.ShardSpec;
import dev.cairn.Tensor;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One save in flight: its {@link SavePlan}, the {@link ChunkResults} the pipeline fills in its first tier, the
 * {@link SaveHandle} its caller holds, and the first failure. The pipeline writes the first tier only; each slower
 * tier takes the step by promotion once the first has committed.
 */
public final class SaveJob {
    /** What new saves key their chunks by: the hash of manifest format {@link ManifestFormat#FORMAT_VERSION}. */
    static final ContentHash CONTENT_HASH = ManifestFormat.hashOfNewSaves(ManifestFormat.FORMAT_VERSION);

    private final SavePlan plan;
    private final Tier[] tiers;
    private final ChunkResults results;
    private final SaveHandle handle;
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    /** @param tiers the tiers the step goes to, fastest first; the pipeline writes {@code tiers[0]} */
    public SaveJob(SavePlan plan, Tier[] tiers) {
        this.plan = plan;
        this.tiers = tiers.clone();
        this.results = new ChunkResults(plan.chunkCount());
        List<String> names = new ArrayList<>();
        for (Tier t : tiers) {
            names.add(t.name());
        }
        this.handle = new SaveHandle(plan.step(), names);
    }

    SavePlan plan() {
        return plan;
    }

    ChunkResults results() {
        return results;
    }

    public SaveHandle handle() {
        return handle;
    }

    public long step() {
        return plan.step();
    }

    public int chunkCount() {
        return plan.chunkCount();
    }

    /** The tier the pipeline writes. */
    Tier firstTier() {
        return tiers[0];
    }

    public int tierCount() {
        return tiers.length;
    }

    public Tier tier(int t) {
        return tiers[t];
    }

    /** The content hash of chunk {@code i}, or null when it was never hashed. */
    public String hashOf(int i) {
        return results.hash(i);
    }

    /**
     * Records {@code t} unless a failure is recorded already: the first one, of racing threads too, is the reason the
     * save reports (a deadline that expires while the capture fails must not replace the capture's reason). Returns
     * whether {@code t} is it.
     */
    boolean fail(Throwable t) {
        return failure.compareAndSet(null, t);
    }

    /** The failure that ends the whole save (capture, encoding, deadline, close), or null. */
    Throwable failure() {
        return failure.get();
    }

    /** Why the first tier cannot commit, or null. */
    public Throwable firstTierFailure() {
        Throwable f = failure.get();
        return f != null ? f : results.writeFailure();
    }

    /** The manifest of this job as its first tier stores it. */
    public Manifest manifest(String run, Instant now) {
        List<Entry> entries = plan.entries();
        List<EntryRecord> records = new ArrayList<>();
        int c = 0;
        for (int e = 0; e < entries.size(); e++) {
            Entry entry = entries.get(e);
            List<ChunkRef> refs = new ArrayList<>();
            for (; c < plan.chunkCount() && plan.entryOf(c) == e; c++) {
                refs.add(new ChunkRef(plan.offset(c), plan.length(c), results.hash(c), results.codec(c), results.stored(c),
                        results.bases(c), plan.errorBound(c), CONTENT_HASH));
            }
            if (entry instanceof Tensor tensor) {
                ShardSpec shard = tensor.shard();
                records.add(new EntryRecord(entry.name(), true, tensor.dtype(), tensor.shape(), shard.globalShape(), shard.offsets(),
                        false, entry.byteSize(), plan.rank(), refs));
            } else {
                boolean perRank = ((Blob) entry).isPerRank();
                records.add(new EntryRecord(entry.name(), false, null, null, null, null, perRank, entry.byteSize(), plan.rank(), refs));
            }
        }
        return new Manifest(ManifestFormat.FORMAT_VERSION, CONTENT_HASH, run, plan.step(), plan.worldSize(), plan.rank(), now,
                plan.chunkBytes(), records);
    }

    public long chunksWritten() {
        return results.chunksWritten();
    }

    /**
     * The hashes of the chunks this save put into its first tier itself (not those it found held there, nor those it
     * only wrote again to restart their age): its commit need not ask the store for them again
     * ({@code commit.ChunkConfirmation}).
     */
    public java.util.Set<String> putHashes() {
        java.util.Set<String> put = new java.util.HashSet<>();
        for (int i = 0; i < plan.chunkCount(); i++) {
            if (results.put(i) && results.hash(i) != null) {
                put.add(results.hash(i));
            }
        }
        return put;
    }

    public long bytesWritten() {
        return results.bytesWritten();
    }

    /** The internal (not copied) commit future of tier {@code t}. */
    public CompletableFuture<CommitReport> committed(int t) {
        return handle.committed(t);
    }

    /** See {@link SaveHandle#claimCommit}. */
    public boolean claimCommit(int t) {
        return handle.claimCommit(t);
    }

    /** Releases the pins this job holds in its first tier's catalog. */
    public void unpin() {
        try {
            results.unpin(tiers[0].catalog());
        } catch (IOException e) {
            // The catalog was loaded when the pins were taken; it cannot fail to load now.
        }
    }

    /** Completes capture for a job with nothing to read. */
    public void completeCapture() {
        handle.capturedFuture().complete(null);
    }

    /** Fails whatever has not completed yet; used by the deadline and by close. */
    public void expire(CheckpointException e) {
        fail(e);
        // In ZERO_COPY the capture thread may still be copying the caller's buffers: captured completes only when it
        // stops (the failure stops it at the next chunk), never earlier.
        handle.expire(e, plan.mode() == SaveMode.ZERO_COPY);
    }
}
