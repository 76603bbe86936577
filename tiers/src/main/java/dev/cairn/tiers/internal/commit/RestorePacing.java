package dev.cairn.tiers.internal.commit;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * When one restoring rank of many sends its reads of a step's metadata (the MANIFEST, its directory pages, the rank
 * indexes of its sources), so that all the ranks of a restore stay under S3's rate of a prefix by themselves (issue
 * 15). Those reads all go to one prefix, {@code <run>/steps/<step>/}, where S3 serves 5,500 GET/HEAD a second and
 * answers the rest with 503 SlowDown; at 10,000 ranks the 5,000 ranks restoring at once send about 60,000 of them.
 *
 * <p>The schedule, fixed from the rank and the restoring world alone (no rank knows what the others have sent): the
 * restore's reads are slots at {@value #READS_PER_SECOND} a second for all its ranks, of which the first
 * {@value #BURST} are due at once (a world whose ranks' slots all fit in them, up to 125 ranks, is not paced at all).
 * Rank r owns the {@value #READS_PER_RANK} slots from {@code r x }{@value #READS_PER_RANK}, and its j-th read is not
 * sent before its slot; a rank that needs more reads than that takes slots after every rank's, one a rank in rank
 * order for each read more. Every read has a slot of its own, so no second has more reads due than the burst and the
 * rate, 5,500 with these figures, whatever the ranks' counts of reads (12 at 10,000 ranks, 8 at 1,000, the marks'
 * listing aside, which is spread over groups of 250 ranks and not paced): a rank with fewer leaves its slots unused,
 * a rank with more waits for the end of the ranks' slots, and the whole restore takes about as long either way. The
 * first two reads of every rank, the MANIFEST's HEAD and GET, come one rank every {@value #READS_PER_RANK} slots:
 * after the burst's ranks {@code 2 x }{@value #READS_PER_SECOND}{@code  / }{@value #READS_PER_RANK} a second on that
 * key, 918 in the first second, under issue 15's 1,000 for a key; the root page of the MANIFEST's directory, read by
 * every rank, half that. (A confirmation from the commit notices, spread over prefixes, would spare the MANIFEST's
 * HEAD, not its GET nor the root page, which every rank needs.)
 *
 * <p>A fixed schedule holds a large restore back whatever S3 serves (a partitioned prefix serves more), where retrying
 * SlowDowns finds the rate S3 gives; it replaces the SlowDown storm of the retries (35,386 refused of 100,386 at
 * 10,000 ranks) with reads spaced as S3 asks ("reduce your request rate"), and a restore of one rank, or of a store in
 * this process's memory, is not paced at all.
 */
final class RestorePacing {
    /** Reads a second of all the ranks of one restore, under S3's 5,500 GET/HEAD a second of a prefix. */
    static final int READS_PER_SECOND = 4_000;
    /** Reads served at once at the start, before the rate: with the rate, 5,500 in the first second. */
    static final int BURST = 1_500;
    /** Slots each rank owns: about the reads of a rank's restore plan (9-13 at 1,000 to 10,000 ranks). */
    static final int READS_PER_RANK = 12;
    private static final long SECOND_NANOS = 1_000_000_000L;

    private final WaitClock clock;
    private final long start;
    private final int rank;
    private final int world;
    private final AtomicLong sent = new AtomicLong();

    /** The pacing of rank {@code rank}'s restore in a restoring world of {@code world} ranks, starting now. */
    RestorePacing(WaitClock clock, int rank, int world) {
        this.clock = clock;
        this.start = clock.nanoTime();
        this.rank = rank;
        this.world = world;
    }

    /** Whether a restore on {@code world} ranks is paced: not when every rank's slots fit in the burst. */
    static boolean needed(int world) {
        return (long) world * READS_PER_RANK > BURST;
    }

    /**
     * Nanoseconds after the restore's start before which read {@code j} (from 0) of rank {@code rank} of
     * {@code world} is not sent.
     */
    static long dueNanos(int rank, int world, long j) {
        long slot = j < READS_PER_RANK ? (long) rank * READS_PER_RANK + j
                : (long) world * READS_PER_RANK + (j - READS_PER_RANK) * world + rank;
        return Math.max(0, slot - BURST) * SECOND_NANOS / READS_PER_SECOND;
    }

    /** Waits until this rank's next read may be sent. */
    void awaitSlot() {
        long wait = start + dueNanos(rank, world, sent.getAndIncrement()) - clock.nanoTime();
        if (wait > 0) {
            clock.pause(wait);
        }
    }

    /** {@code store} with its reads paced (writes pass as they are); {@code store} itself when it is in memory. */
    ObjectStore paced(ObjectStore store) {
        return store.inMemory() ? store : new PacedStore(store, this);
    }

    /**
     * A store whose reads (GET, HEAD, LIST, a listing of folders) each wait for a slot; {@code readAll} and {@code statAll} are the SPI's
     * defaults, a HEAD and GETs, each paced as S3 counts them.
     */
    private static final class PacedStore implements ObjectStore {
        private final ObjectStore store;
        private final RestorePacing pacing;

        PacedStore(ObjectStore store, RestorePacing pacing) {
            this.store = store;
            this.pacing = pacing;
        }

        @Override
        public int read(String key, long offset, ByteBuffer dst) throws IOException {
            pacing.awaitSlot();
            return store.read(key, offset, dst);
        }

        @Override
        public ObjectInfo stat(String key) throws IOException {
            pacing.awaitSlot();
            return store.stat(key);
        }

        @Override
        public List<ObjectInfo> list(String prefix) throws IOException {
            pacing.awaitSlot();
            return store.list(prefix);
        }

        @Override
        public List<ObjectInfo> listWhole(String prefix) throws IOException {
            pacing.awaitSlot();
            return store.listWhole(prefix);
        }

        @Override
        public int deleteAbandonedWrites(String prefix, java.time.Duration olderThan) throws IOException {
            return store.deleteAbandonedWrites(prefix, olderThan);
        }

        @Override
        public boolean listsMayBePartial() {
            return store.listsMayBePartial();
        }

        @Override
        public List<String> listFolders(String prefix) throws IOException {
            pacing.awaitSlot();
            return store.listFolders(prefix);
        }

        @Override
        public void put(String key, ByteBuffer data) throws IOException {
            store.put(key, data);
        }

        @Override
        public boolean putIfAbsent(String key, ByteBuffer data) throws IOException {
            return store.putIfAbsent(key, data);
        }

        @Override
        public void delete(String key) throws IOException {
            store.delete(key);
        }

        @Override
        public void deleteAll(java.util.Collection<String> keys) throws IOException {
            store.deleteAll(keys);
        }

        @Override
        public String describe() {
            return store.describe();
        }

        @Override
        public java.util.Optional<dev.cairn.Coordinator> coordinator() {
            return store.coordinator();
        }

        @Override
        public void close() {
            // the tier's store: its tier closes it
        }
    }
}
