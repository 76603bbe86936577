package dev.cairn.tiers.internal.pipeline;

import com.lmax.disruptor.EventHandler;
import dev.cairn.tiers.internal.ChunkCatalog;
import dev.cairn.tiers.internal.ChunkForms;
import dev.cairn.tiers.internal.Tier;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

/**
 * The last handler of the ring: hands each encoded chunk to the I/O threads of every tier that lacks it, so
 * that slow stores write in parallel while the ring moves on. The encoded slab goes back to its pool when the
 * last tier has written it; the job's tier commits when its last chunk is in.
 *
 * <p>A chunk is put only where the tier does not hold its hash yet ({@link ChunkForms#put}): two saves (or two
 * positions of one save) that both encode the same content may pick different forms (whole or differential, against
 * different chains), and one put over the other would leave a manifest describing a form no longer in the store. The
 * one that finds the hash present records the stored form (and pins its chain) instead of its own.
 */
final class ChunkWriter implements EventHandler<ChunkEvent> {
    private final BiConsumer<SaveJob, Integer> tierComplete;
    private final long freshForMillis;

    /** @param freshFor as for the encoders ({@link SavePipeline#freshFor}): how recently a held chunk must have been written */
    ChunkWriter(BiConsumer<SaveJob, Integer> tierComplete, java.time.Duration freshFor) {
        this.tierComplete = tierComplete;
        this.freshForMillis = freshFor.toMillis();
    }

    @Override
    public void onEvent(ChunkEvent e, long sequence, boolean endOfBatch) {
        SaveJob job = e.job;
        long toWrite = job.failure == null ? e.tiersToWrite : 0;
        Slab slab = e.encoded;
        int length = e.encodedLength;
        int chunk = e.chunk;
        e.clear();
        if (toWrite == 0) {
            if (slab != null) {
                slab.release();
            }
            for (int t = 0; t < SaveJob.PIPELINE_TIERS; t++) {
                chunkDone(job, t);
            }
            return;
        }
        AtomicInteger writesLeft = new AtomicInteger(Long.bitCount(toWrite));
        for (int t = 0; t < SaveJob.PIPELINE_TIERS; t++) {
            if ((toWrite & (1L << t)) == 0) {
                chunkDone(job, t);
                continue;
            }
            int tier = t;
            try {
                job.tiers[t].io().execute(() -> write(job, tier, chunk, slab, length, writesLeft));
            } catch (RuntimeException rejected) {
                job.tierFailure.compareAndSet(t, null, rejected);
                if (writesLeft.decrementAndGet() == 0) {
                    slab.release();
                }
                chunkDone(job, t);
            }
        }
    }

    private void write(SaveJob job, int t, int chunk, Slab slab, int length, AtomicInteger writesLeft) {
        Tier tier = job.tiers[t];
        try {
            if (job.failure == null && job.tierFailure.get(t) == null) {
                String hash = job.hashOf[chunk];
                ByteBuffer bytes = slab.buffer().duplicate().position(0).limit(length);
                ChunkCatalog.Form held = ChunkForms.put(tier, hash, bytes, job.codecOf[chunk], job.basesOf[chunk],
                        System.currentTimeMillis() - freshForMillis);
                if (held != null) {
                    job.addPins(chunk, held.bases());
                    job.storedOf[t][chunk] = held.length();
                    job.codecOf[chunk] = held.codec();
                    job.basesOf[chunk] = held.bases();
                    return;
                }
                job.storedOf[t][chunk] = length;
                job.bytesWritten.addAndGet(t, length);
                job.chunksWritten.incrementAndGet(t);
            }
        } catch (Throwable failure) {
            job.tierFailure.compareAndSet(t, null, failure);
        } finally {
            if (writesLeft.decrementAndGet() == 0) {
                slab.release();
            }
            chunkDone(job, t);
        }
    }

    private void chunkDone(SaveJob job, int t) {
        if (job.notYetWritten[t].decrementAndGet() == 0) {
            tierComplete.accept(job, t);
        }
    }
}
