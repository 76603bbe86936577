package dev.cairn.tiers.pipeline;

import com.lmax.disruptor.EventHandler;
import dev.cairn.tiers.ChunkCatalog;
import dev.cairn.tiers.Tier;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

/**
 * The last handler of the ring: hands each encoded chunk to the I/O threads of every tier that lacks it, so
 * that slow stores write in parallel while the ring moves on. The encoded slab goes back to its pool when the
 * last tier has written it; the job's tier commits when its last chunk is in.
 *
 * <p>A differential chunk is put only where the tier does not hold its hash yet, under the catalog's lock for that
 * hash: two saves (or two positions of one save) that both encode the same new content may pick different chains,
 * and a delta that replaced stored bytes would leave a committed manifest naming bases that are no longer the ones
 * in the store. The one that finds the hash present adopts the stored chain (and pins it) instead. A whole chunk
 * depends on nothing and may replace any stored form.
 */
final class ChunkWriter implements EventHandler<ChunkEvent> {
    private final BiConsumer<SaveJob, Integer> tierComplete;

    ChunkWriter(BiConsumer<SaveJob, Integer> tierComplete) {
        this.tierComplete = tierComplete;
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
                ChunkCatalog catalog = tier.catalog();
                synchronized (catalog.writeLock(hash)) {
                    long held = catalog.sizeOf(hash);
                    java.util.List<String> chain = held < 0 ? null : catalog.basesOf(hash);
                    if (!job.basesOf[chunk].isEmpty() && chain != null) {
                        if (catalog.pinChain(chain)) {
                            job.addPins(chunk, chain);
                            job.storedOf[t][chunk] = held;
                            job.codecOf[chunk] = catalog.codecOf(hash);
                            job.basesOf[chunk] = chain;
                            return;
                        }
                        catalog.unpinAll(chain);
                    }
                    ByteBuffer bytes = slab.buffer().duplicate().position(0).limit(length);
                    tier.store().put(tier.layout().chunkKey(hash), bytes);
                    catalog.markPresent(hash, length, job.codecOf[chunk], job.basesOf[chunk]);
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
