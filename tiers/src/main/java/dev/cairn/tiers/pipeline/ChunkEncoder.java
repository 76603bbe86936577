package dev.cairn.tiers.pipeline;

import com.lmax.disruptor.EventHandler;
import com.lmax.disruptor.Sequence;
import dev.cairn.tiers.ChunkCatalog;
import dev.cairn.tiers.Tier;
import dev.cairn.tiers.codec.ChunkCodec;
import dev.cairn.tiers.codec.ChunkHash;
import dev.cairn.tiers.codec.StoredChunkFormat;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Encoder {@code k} of {@code n}: takes the events whose sequence is {@code k} modulo {@code n}, hashes the raw
 * bytes, asks each target tier whether it already holds that content (pinning it), and encodes the chunk only
 * when some tier needs it, in the codec that suits its bytes ({@link ChunkCodec#encodeChoosing}). Raw staging is
 * returned as soon as the chunk is encoded.
 *
 * <p>Each encoder owns its pool of output slabs. With one shared pool, an encoder that runs ahead could take every
 * slab while a slower one still waits for its first: the writer, which frees slabs in sequence order, would then
 * wait on the slow encoder forever.
 */
final class ChunkEncoder implements EventHandler<ChunkEvent> {
    private final int k;
    private final int n;
    private final ChunkCodec codec;
    private final SlabPool encodedPool;
    private final long slabWaitNanos;
    private final ByteBuffer head = ByteBuffer.allocate(StoredChunkFormat.HEADER_BYTES);
    private Sequence progress;

    ChunkEncoder(int k, int n, int level, SlabPool encodedPool, long slabWaitNanos) {
        this.k = k;
        this.n = n;
        this.codec = new ChunkCodec(level);
        this.encodedPool = encodedPool;
        this.slabWaitNanos = slabWaitNanos;
    }

    /**
     * The ring only learns a handler's progress at the end of a batch; an encoder waiting for an encoded slab in the
     * middle of a long batch would then hide the events it already finished from the writer, which is the one that
     * frees slabs. Reporting progress after every event breaks that cycle.
     */
    @Override
    public void setSequenceCallback(Sequence sequenceCallback) {
        this.progress = sequenceCallback;
    }

    @Override
    public void onEvent(ChunkEvent e, long sequence, boolean endOfBatch) {
        if (sequence % n != k) {
            progress.set(sequence);
            return;
        }
        SaveJob job = e.job;
        try {
            if (job.failure == null) {
                encode(e, job);
            }
        } catch (Throwable t) {
            job.fail(t);
        } finally {
            if (e.raw != null) {
                e.raw.release();
                e.raw = null;
            }
            if (job.notYetEncoded.decrementAndGet() == 0) {
                job.capturedFuture().complete(null);
            }
            progress.set(sequence);
        }
    }

    private void encode(ChunkEvent e, SaveJob job) throws Exception {
        int i = e.chunk;
        int len = job.lengthOf[i];
        String hash = ChunkHash.hex(e.source, e.sourcePosition, len);
        long toWrite = 0;
        long knownSize = -1;
        for (int t = 0; t < SaveJob.PIPELINE_TIERS; t++) {
            ChunkCatalog catalog = job.tiers[t].catalog();
            long size = catalog.pin(hash);
            if (size < 0) {
                toWrite |= 1L << t;
            } else {
                job.storedOf[t][i] = size;
                knownSize = size;
            }
        }
        job.hashOf[i] = hash;
        if (toWrite != 0) {
            e.encoded = encodedPool.acquire(slabWaitNanos);
            e.encodedLength = codec.encodeChoosing(e.source, e.sourcePosition, len, job.floatWidthOf(i), e.encoded.buffer());
            job.codecOf[i] = codec.lastCodec();
        } else {
            job.codecOf[i] = storedCodec(job.tiers[0], hash);
        }
        e.tiersToWrite = toWrite;
        assert knownSize >= 0 || toWrite != 0;
    }

    /**
     * The codec of a chunk the tier already holds. The catalog knows it for chunks written or promoted since start;
     * for one found by listing the store, the stored form names its codec in its first bytes, read once.
     */
    private String storedCodec(Tier tier, String hash) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        String known = catalog.codecOf(hash);
        if (known != null) {
            return known;
        }
        head.clear();
        while (head.hasRemaining()) {
            if (tier.store().read(tier.layout().chunkKey(hash), head.position(), head) <= 0) {
                break;
            }
        }
        String codec = StoredChunkFormat.codecOf(head, 0, head.position());
        catalog.learnCodec(hash, codec);
        return codec;
    }

    int slabsInUse() {
        return encodedPool.inUse();
    }

    void close() {
        codec.close();
        encodedPool.close();
    }
}
