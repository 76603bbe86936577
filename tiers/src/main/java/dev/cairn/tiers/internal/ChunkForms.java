package dev.cairn.tiers.internal;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.internal.ChunkCatalog.Form;
import dev.cairn.tiers.internal.codec.ContentHash;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.restore.ChunkReader;
import dev.cairn.tiers.internal.restore.StoredChunks;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;

/**
 * The one writer of chunk objects: a content key holds exactly one stored form per tier. The key names the raw bytes,
 * but one content can be stored in several forms (whole in one codec or another, or as the difference against one
 * base or another), and committed manifests record the form they found (codec, stored length, bases): a second form
 * put over the first would leave those manifests describing bytes that are no longer there (a promotion that reads the
 * recorded length stops short or copies a cut frame, and GC keeps bases the stored form does not need while it may
 * delete one it does). So a writer that finds the key held adopts the stored form instead of writing its own.
 *
 * <p>Two exceptions: a stored differential chunk whose chain lost a link (an orphan of a failed save whose base was
 * collected), and a stored object that is damaged. Neither can be read in this tier by anyone, so each is replaced. The
 * manifests that name a damaged one are intact again once it is, where the writer's form is the one they record; where
 * it is not, they stay as unreadable in this tier as they were, and are restored from another tier's copy. A chunk's
 * form does not follow from its content alone (the codec is chosen by the entry's element size, a differential tier
 * chooses bases from history), so the writer's form is often not the stored one, and putting it over an object that is
 * intact breaks every committed step that records the stored form. So a mark of damage ({@link ChunkCatalog#markDamaged},
 * a promotion's or a restore's verdict, which may be false or stale) only makes the writer read the stored object whole
 * again, by its own header and chain, and check its content hash ({@link #put}): it puts over it only where that check
 * fails on the stored bytes themselves. The same holds for a mark on a link of a stored differential chunk's chain,
 * which makes the link look gone to the catalog ({@link #pinWholeChain}): the chunk is put over only where its chain,
 * read again, fails.
 *
 * <p>Writers of one process meet on the catalog's lock for the hash; writers of different processes on the store's
 * create-only put of a key the catalog does not know ({@link dev.cairn.ObjectStore#putIfAbsentSyncingNameLater}):
 * the catalog starts from committed rows, not from a listing, so it does not know every key the tier holds. Differential
 * chunks are written only by single-rank runs, into a first tier in this process's memory, so no other process writes
 * those keys.
 */
public final class ChunkForms {
    private ChunkForms() {
    }

    /**
     * The form {@code tier} holds {@code hash} in, or null when it does not hold it as far as its catalog knows: from
     * the catalog, or, for a chunk the catalog knows present in a form not learned yet (found stored by a create,
     * {@link #put}), read from its stored headers (and learned by the catalog).
     */
    public static Form held(Tier tier, String hash) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        Form known = catalog.formOf(hash);
        if (known != null || catalog.sizeOf(hash) < 0) {
            return known;
        }
        synchronized (catalog.writeLock(hash)) {
            long size = catalog.sizeOf(hash);
            if (size < 0) {
                return null;
            }
            List<String> chain = new ArrayList<>();
            ByteBuffer head = ByteBuffer.allocate(StoredChunkHeader.MAX_LENGTH);
            String codec;
            try {
                codec = readHead(tier, hash, head);
            } catch (NoSuchFileException gone) {
                catalog.forget(hash);
                return null;
            }
            for (String h = baseIn(head); h != null && chain.size() < dev.cairn.CairnConfig.MAX_DIFFERENTIAL_FULL_EVERY; ) {
                chain.add(h);
                try {
                    readHead(tier, h, head);
                } catch (NoSuchFileException gone) {
                    break; // a link is gone: pinChain then finds it absent
                }
                h = baseIn(head);
            }
            catalog.learnForm(hash, size, codec, chain);
            Form learned = catalog.formOf(hash);
            return learned != null ? learned : new Form(size, codec, chain);
        }
    }

    /**
     * Puts {@code bytes}, chunk {@code hash} stored as {@code codec} against {@code bases}, into {@code tier} unless the
     * tier already holds the hash in a form whose chain is whole. Returns null when it wrote {@code bytes}; else the
     * form the tier holds, whose bases are then pinned (the caller releases them with its other pins) and which the
     * caller records in place of its own. A held form that is not {@link ChunkCatalog#reusable reusable} since
     * {@code freshSinceMillis} has its links written again, each with its own stored bytes, which restarts their age
     * without changing their form.
     *
     * <p>A hash whose stored object was found damaged ({@link ChunkCatalog#markDamaged}) is read whole first, by its
     * own header and chain (no recorded length is trusted), and checked against its content hash, as a chunk of
     * {@code rawLength} bytes hashed by {@code contentHash}: where it does not decode to it (a content hash that does not
     * match, bytes that do not decode, a link of its chain missing or damaged), {@code bytes} are put over it and the
     * hash is present again; where it is intact (the mark was false or stale: a read cut short, a codec failing for its
     * own reasons, the object written again or repaired since), the mark ends and its stored form is kept, as a create
     * that finds the key keeps it; where it is gone, it is created. Where the store fails to read it (the store's
     * trouble, which says nothing of the object), nothing is put and the write fails with that failure: the object may
     * be intact in a form committed steps record, and the next write of the hash checks it again.
     *
     * <p>A hash the catalog does not know (it was seeded from committed rows, not from a listing of the store) is
     * created, never put over: the tier may hold it all the same (another rank stored the same content,
     * an older step named it, a failed save left it), perhaps in another form, which committed manifests record. When the
     * create finds the key taken, the stored object is asked for its size and age and its headers are read, and that
     * form is kept as if the catalog had known it: two or three requests more, for content the tier held unknown to
     * this process only.
     */
    public static Form put(Tier tier, String hash, ByteBuffer bytes, String codec, List<String> bases, long rawLength,
                           ContentHash contentHash, long freshSinceMillis) throws IOException {
        return put(tier, hash, new ByteBuffer[] {bytes}, codec, bases, rawLength, contentHash, freshSinceMillis);
    }

    /**
     * As {@link #put(Tier, String, ByteBuffer, String, List, long, ContentHash, long)}, for stored bytes that are the
     * concatenation of {@code parts} (a chunk stored uncompressed straight from staging:
     * {@link ObjectStore#putIfAbsentGathered}).
     */
    public static Form put(Tier tier, String hash, ByteBuffer[] parts, String codec, List<String> bases, long rawLength,
                           ContentHash contentHash, long freshSinceMillis) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        Form held = null;
        List<String> chainPinned = List.of();
        try {
            synchronized (catalog.writeLock(hash)) {
                long length = 0;
                for (ByteBuffer p : parts) {
                    length += p.remaining();
                }
                if (catalog.damaged(hash)) {
                    AsStored found = asStored(tier, hash, rawLength, contentHash);
                    if (found == AsStored.DAMAGED) {
                        // Damaged as stored: put over it (a create would find it and keep it).
                        String key = tier.layout().chunkKey(hash);
                        tier.store().putSyncingNameLater(key,
                                parts.length == 1 ? parts[0].duplicate() : ObjectStore.gathered(key, parts));
                        catalog.markPresent(hash, length, codec, bases);
                        return null;
                    }
                    // Intact or gone: the mark was false or is stale. The catalog forgot the chunk when it was marked,
                    // so an intact one is learned as a create that finds the key learns it, and a gone one is created.
                    catalog.markIntact(hash);
                    if (found == AsStored.INTACT) {
                        held = foundStored(tier, hash);
                    }
                }
                if (held == null) {
                    held = held(tier, hash);
                }
                if (held == null && catalog.sizeOf(hash) < 0) {
                    // Its name is made durable by the commit that names it (CommitProtocol), with the save's other
                    // chunks.
                    String key = tier.layout().chunkKey(hash);
                    if (parts.length == 1 ? tier.store().putIfAbsentSyncingNameLater(key, parts[0].duplicate())
                            : tier.store().putIfAbsentGathered(key, parts)) {
                        catalog.markPresent(hash, length, codec, bases);
                        return null;
                    }
                    held = foundStored(tier, hash);
                }
                if (held != null && !pinWholeChain(tier, hash, held, rawLength, contentHash)) {
                    // A link of its chain is gone, or damaged as stored: no reader can rebuild it in this tier, so this
                    // form is replaced.
                    held = null;
                }
                if (held == null) {
                    // A form with a broken chain is replaced (a rare path: parts are gathered into one buffer for it).
                    tier.store().putSyncingNameLater(tier.layout().chunkKey(hash),
                            parts.length == 1 ? parts[0] : ObjectStore.gathered(hash, parts));
                    catalog.markPresent(hash, length, codec, bases);
                    return null;
                }
                chainPinned = held.bases();
                if (!catalog.reusable(List.of(hash), freshSinceMillis)) {
                    // Parts would be gathered into a copy: the stored bytes are read back instead (a rare path).
                    rewrite(tier, hash, held.length(), parts.length == 1 && held.codec().equals(codec)
                            && held.bases().equals(bases) && held.length() == length ? parts[0] : null);
                }
            }
            for (String base : held.bases()) {
                if (!catalog.reusable(List.of(base), freshSinceMillis)) {
                    synchronized (catalog.writeLock(base)) {
                        rewrite(tier, base, catalog.sizeOf(base), null);
                    }
                }
            }
            return held;
        } catch (IOException | RuntimeException e) {
            catalog.unpinAll(chainPinned); // a held form's chain, pinned above: the caller never learns of it
            throw e;
        }
    }

    /**
     * Pins the chain of {@code held}, the form {@code tier} holds {@code hash} in, and says whether it is whole; when it
     * is not, its pins are released. A link the catalog takes for absent because a promotion or a restore marked it
     * damaged ({@link ChunkCatalog#markDamaged}) is not taken for gone on that word alone: the mark may be false or
     * stale, as a mark on the chunk itself may be ({@link #put}), and putting the writer's form over a differential
     * chunk whose chain is intact breaks every committed step that records the stored form (a promotion of one then
     * finds more bytes than its manifest records, and the step never reaches the slower tiers). So where a link is
     * marked, the chunk is read whole again, by its own header and down its chain, each link decoded and checked by its
     * content hash ({@link #asStored}); where that proves the chain intact, the marks of its links end, the links the
     * catalog does not take for present are marked present as the store gives them (as a create that finds a chunk
     * learns its chain, {@link #foundStored}), and the chain is pinned again. Only a chain that really fails that
     * read (or a chunk gone) is replaced. Where no link is marked (a link a collection took), nothing more is read: the
     * rare read is the price of a mark only. Fails with the store's failure where it could not read the chunk or a
     * link, as {@link #asStored} does: nothing is then put over an object that may be intact.
     */
    private static boolean pinWholeChain(Tier tier, String hash, Form held, long rawLength, ContentHash contentHash)
            throws IOException {
        ChunkCatalog catalog = tier.catalog();
        if (catalog.pinChain(held.bases())) {
            return true;
        }
        catalog.unpinAll(held.bases());
        if (held.bases().stream().noneMatch(catalog::damaged)
                || asStored(tier, hash, rawLength, contentHash) != AsStored.INTACT) {
            return false;
        }
        for (String link : held.bases()) {
            if (catalog.sizeOf(link) < 0) {
                ObjectInfo o = statOrNull(tier, link);
                if (o == null) {
                    return false; // gone since it was read
                }
                catalog.markIntact(link);
                catalog.markPresent(link, o.size(), o.lastModified());
            }
        }
        if (catalog.pinChain(held.bases())) {
            return true;
        }
        catalog.unpinAll(held.bases());
        return false;
    }

    /** What a writer found of a stored object marked damaged, read whole again ({@link #asStored}). */
    private enum AsStored { INTACT, MISSING, DAMAGED }

    /**
     * What {@code tier} holds under {@code hash}, marked damaged ({@link ChunkCatalog#markDamaged}), read whole now: up
     * to the most a chunk of {@code rawLength} bytes can take stored, whatever length a manifest records, decoded by
     * its own header (and its chain in the tier, each link checked) and checked against its content hash ({@code
     * contentHash}). DAMAGED only for what the stored bytes themselves show: a content hash that does not match, bytes
     * that do not decode, a header no codec of this release has, a link of its chain missing or damaged, or what the
     * store itself finds unusable ({@link dev.cairn.UnusableObjectException}). Fails with the store's failure where the
     * store could not read it or a link ({@link ChunkReader.Status#UNREADABLE}: a disk's EIO, an S3 503 after the SDK's
     * retries), and with any other failure of the check (a buffer that could not be had): neither says anything of the
     * object, which may be intact in a form committed steps record. A reader of its own, which the rare damaged path
     * can afford: the callers' readers may hold the very bytes to be put.
     */
    private static AsStored asStored(Tier tier, String hash, long rawLength, ContentHash contentHash) throws IOException {
        String key = tier.layout().chunkKey(hash);
        try (ChunkReader reader = new ChunkReader()) {
            // The codec and length a row would record are not trusted: the read goes to the end of the object (or
            // the largest stored size of the chunk), and the decode follows the object's own header.
            ChunkRef whole = new ChunkRef(0, rawLength, hash, StoredChunkHeader.UNKNOWN_CODEC,
                    dev.cairn.tiers.internal.codec.ChunkCodec.maxStoredBytes(Math.toIntExact(rawLength)), List.of(), 0,
                    contentHash);
            ByteBuffer stored;
            try {
                stored = reader.readStored(tier.store(), tier.layout(), whole, false);
            } catch (NoSuchFileException gone) {
                return AsStored.MISSING;
            } catch (IOException e) {
                if (dev.cairn.UnusableObjectException.in(e)) {
                    return AsStored.DAMAGED; // the store's own verdict on the object (its record, not a file of its own)
                }
                throw unreadable(tier, key, e);
            }
            ChunkRef as = whole.storedAs(StoredChunkHeader.codecNameOf(stored, 0, stored.limit()), stored.remaining(),
                    List.of());
            if (StoredChunkHeader.UNKNOWN_CODEC.equals(as.codec())) {
                // A Cairn header with a codec id no codec of this release has, under a key this process's rows name
                // with one it knows (the row that led to the mark): its header bytes are damaged, or another release
                // wrote another form there, which no step of this release naming the key can read in this tier either.
                return AsStored.DAMAGED;
            }
            try {
                reader.verify(tier.store(), tier.layout(), stored, as);
                return AsStored.INTACT;
            } catch (IOException e) {
                if (reader.damaged(as, e) == null) {
                    throw unreadable(tier, key, e);
                }
                return AsStored.DAMAGED;
            }
        }
    }

    private static IOException unreadable(Tier tier, String key, IOException e) {
        return new IOException("chunk " + key + " in tier " + tier.name() + ", found damaged by an earlier read (it or"
                + " a link of its chain), could"
                + " not be read again to tell whether it still is (" + e.getMessage() + "): it is left as it is (it may"
                + " be intact, in a form committed steps record), and the next write of it reads it again", e);
    }

    /**
     * Keeps the form {@code held} that {@code tier} holds {@code hash} in, for a writer that records it instead of
     * writing its own (the copy of a step between stores, which found it there and checked it): as {@link #put} does
     * for a held form, the chunk and each link of its chain that is not {@link ChunkCatalog#reusable reusable} since
     * {@code freshSinceMillis} is written again as it is stored, which restarts its age without changing its form.
     * Returns whether anything was written again.
     */
    public static boolean keep(Tier tier, String hash, Form held, long freshSinceMillis) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        boolean rewritten = false;
        synchronized (catalog.writeLock(hash)) {
            if (!catalog.reusable(List.of(hash), freshSinceMillis)) {
                rewritten = rewrite(tier, hash, held.length(), null);
            }
        }
        for (String base : held.bases()) {
            if (!catalog.reusable(List.of(base), freshSinceMillis)) {
                synchronized (catalog.writeLock(base)) {
                    rewritten |= rewrite(tier, base, catalog.sizeOf(base), null);
                }
            }
        }
        return rewritten;
    }

    /**
     * The form of {@code hash}, which a create found stored although the catalog did not know it: its size and age
     * from the store, its codec and chain from its headers, and each base of the chain the catalog does not know asked
     * of the store too (so that a whole chain is not taken for a broken one); null when it is gone again (a collector
     * took it), and then the caller puts its own. Under the hash's lock.
     */
    private static Form foundStored(Tier tier, String hash) throws IOException {
        ChunkCatalog catalog = tier.catalog();
        ObjectInfo o = statOrNull(tier, hash);
        if (o == null) {
            return null;
        }
        catalog.markPresent(hash, o.size(), o.lastModified());
        Form form = held(tier, hash);
        if (form != null) {
            for (String base : form.bases()) {
                if (catalog.sizeOf(base) < 0) {
                    ObjectInfo b = statOrNull(tier, base);
                    if (b == null) {
                        break; // a link is gone: pinChain then finds it absent
                    }
                    catalog.markPresent(base, b.size(), b.lastModified());
                }
            }
        }
        return form;
    }

    private static ObjectInfo statOrNull(Tier tier, String hash) throws IOException {
        try {
            return tier.store().stat(tier.layout().chunkKey(hash));
        } catch (NoSuchFileException gone) {
            return null;
        }
    }

    /**
     * Writes the stored chunk {@code hash} of {@code length} bytes again as it is ({@code same}: bytes of the same form,
     * or null to read them back), so that a collector in another process sees it young; under the hash's lock. Returns
     * false, writing nothing, when it is gone or stored at another length (its bytes read back): for a save's write,
     * the commit's confirmation then finds it missing or changed and fails the step.
     */
    private static boolean rewrite(Tier tier, String hash, long length, ByteBuffer same) throws IOException {
        String key = tier.layout().chunkKey(hash);
        ByteBuffer bytes = same;
        if (bytes == null) {
            try {
                bytes = tier.store().readAll(key);
            } catch (NoSuchFileException gone) {
                return false;
            }
            if (bytes.remaining() != length) {
                return false; // not the form this process knows: left as it is
            }
        }
        tier.store().put(key, bytes); // an overwrite, which restarts its age (a create would find it and do nothing)
        tier.catalog().markRewritten(hash);
        return true;
    }

    /**
     * Writes the stored chunk {@code hash} again with the very bytes the tier holds ({@code length} of them), which
     * restarts its age for a collector in another process without changing its form: for a commit whose step names a
     * chunk it found stored and no longer may count on as it is ({@code ChunkConfirmation#refreshLapsed}). Returns
     * false, writing nothing, when the tier no longer holds it at that length.
     */
    public static boolean rewriteAsStored(Tier tier, String hash, long length) throws IOException {
        synchronized (tier.catalog().writeLock(hash)) {
            return rewrite(tier, hash, length, null);
        }
    }

    /** Reads the header of stored chunk {@code hash} into {@code head} (flipped); returns the codec it names. */
    private static String readHead(Tier tier, String hash, ByteBuffer head) throws IOException {
        StoredChunks.readHeader(tier.store(), tier.layout(), hash, head);
        return StoredChunkHeader.codecNameOf(head, 0, head.limit());
    }

    private static String baseIn(ByteBuffer head) throws IOException {
        return StoredChunkHeader.baseOrNull(head, 0, head.limit());
    }
}
