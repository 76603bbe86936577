package dev.cairn.tiers.internal.pipeline;

import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import dev.cairn.tiers.internal.codec.ChunkCodec;
import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * Where a chunk leaves the ring: its encoder hands it here once encoded, and it goes to the I/O threads of the job's
 * first tier when the tier lacks it, so that slow stores write in parallel while the ring moves on. The encoded slab
 * goes back to its pool once written (for a chunk stored uncompressed straight from staging, the raw slab:
 * {@link ChunkEvent#rawInStaging}). When the job's last chunk is in, {@code firstTierWritten} runs on one of the
 * tier's I/O threads (the last write's, or one it is handed to when no write was needed), never on the ring.
 *
 * <p>A chunk is put only where the tier does not hold its hash yet ({@link ChunkForms#put}): two saves (or two
 * positions of one save) that both encode the same content may pick different forms (whole or differential, against
 * different chains), and one put over the other would leave a manifest describing a form no longer in the store. The
 * one that finds the hash present records the stored form (and pins its chain) instead of its own.
 */
final class ChunkWriter {
    private final Consumer<SaveJob> firstTierWritten;
    private final long freshForMillis;

    /** @param freshFor as for the encoders ({@link SavePipeline#freshFor}): how recently a held chunk must have been written */
    ChunkWriter(Consumer<SaveJob> firstTierWritten, java.time.Duration freshFor) {
        this.firstTierWritten = firstTierWritten;
        this.freshForMillis = freshFor.toMillis();
    }

    /** Takes chunk {@code e} from its encoder, on the encoder's thread, and clears the event. */
    void take(ChunkEvent e) {
        SaveJob job = e.job;
        boolean write = job.failure() == null && e.write;
        Slab slab = e.encoded;
        int length = e.encodedLength;
        int chunk = e.chunk;
        boolean rawInStaging = e.rawInStaging;
        e.clear();
        if (!write) {
            if (slab != null) {
                slab.release();
            }
            if (job.results().lastWritten()) {
                try {
                    job.firstTier().io().execute(() -> firstTierWritten.accept(job));
                } catch (RuntimeException | Error rejected) { // Error: a thread the pool could not start
                    job.results().failWrites(rejected);
                    firstTierWritten.accept(job); // fails the commit at once
                }
            }
            return;
        }
        try {
            job.firstTier().io().execute(() -> write(job, chunk, slab, length, rawInStaging));
        } catch (RuntimeException | Error rejected) { // Error: a thread the pool could not start
            job.results().failWrites(rejected);
            slab.release();
            chunkDone(job);
        }
    }

    /** @param rawInStaging {@code slab} holds the raw chunk, to be stored uncompressed from it ({@link ChunkEvent#rawInStaging}) */
    private void write(SaveJob job, int chunk, Slab slab, int length, boolean rawInStaging) {
        Tier tier = job.firstTier();
        ChunkResults results = job.results();
        try {
            if (job.firstTierFailure() == null) {
                String hash = results.hash(chunk);
                ByteBuffer[] parts = rawInStaging ? ChunkCodec.rawParts(slab.buffer(), 0, job.plan().length(chunk))
                        : new ByteBuffer[] {slab.buffer().duplicate().position(0).limit(length)};
                ChunkCatalog.Form held = ChunkForms.put(tier, hash, parts, results.codec(chunk), results.bases(chunk),
                        job.plan().length(chunk), SaveJob.CONTENT_HASH, System.currentTimeMillis() - freshForMillis);
                if (held != null) {
                    results.held(chunk, held);
                } else {
                    results.written(chunk, length);
                }
            }
        } catch (Throwable failure) {
            results.failWrites(failure);
        } finally {
            slab.release();
            chunkDone(job);
        }
    }

    private void chunkDone(SaveJob job) {
        if (job.results().lastWritten()) {
            firstTierWritten.accept(job);
        }
    }
}
