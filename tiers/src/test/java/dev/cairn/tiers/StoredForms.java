package dev.cairn.tiers;

import dev.cairn.ObjectInfo;
import dev.cairn.ObjectStore;
import dev.cairn.tiers.internal.codec.StoredChunkHeader;
import dev.cairn.tiers.internal.layout.StoreLayout;
import dev.cairn.tiers.internal.manifest.ChunkRef;
import dev.cairn.tiers.internal.manifest.EntryRecord;
import dev.cairn.tiers.internal.manifest.Manifest;
import dev.cairn.tiers.internal.manifest.ManifestFormat;
import java.nio.ByteBuffer;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Assertions;

/**
 * What a store holds under each chunk key, compared with what the committed manifests say of it: one stored form per
 * key, and every manifest that names the key records that form (codec, stored length, and the bases its header
 * chain names, every one of them still in the store).
 */
final class StoredForms {
    private StoredForms() {
    }

    /** The form a stored object has: its codec, length and the chain of bases its headers name, nearest first. */
    record Form(String codec, long length, List<String> bases) {
    }

    /** The form {@code store} holds {@code hash} in; fails when a link of its chain is missing. */
    static Form of(ObjectStore store, StoreLayout layout, String hash) throws Exception {
        ByteBuffer b = store.readAll(layout.chunkKey(hash));
        String codec = StoredChunkHeader.codecNameOf(b, 0, b.remaining());
        List<String> bases = new ArrayList<>();
        ByteBuffer link = b;
        while (StoredChunkHeader.isDelta(link, 0, link.remaining())) {
            String base = StoredChunkHeader.baseOf(link, 0, link.remaining());
            Assertions.assertFalse(bases.contains(base) || base.equals(hash), "chain of " + hash + " loops");
            bases.add(base);
            try {
                link = store.readAll(layout.chunkKey(base));
            } catch (NoSuchFileException gone) {
                Assertions.fail("base " + base + " of stored chunk " + hash + " is gone (chain so far " + bases + ")");
            }
        }
        return new Form(codec, b.remaining(), bases);
    }

    /** Every chunk every committed manifest in {@code store} names agrees with the stored object under its key. */
    static void assertManifestsAgree(ObjectStore store, String run) throws Exception {
        StoreLayout layout = new StoreLayout(run);
        try (RootAllocator alloc = new RootAllocator()) {
            for (ObjectInfo o : store.list(layout.stepsPrefix())) {
                if (!layout.isManifestKey(o.key())) {
                    continue;
                }
                Manifest m = ManifestFormat.read(store.readAll(o.key()), o.key(), alloc);
                for (EntryRecord e : m.entries()) {
                    for (ChunkRef c : e.chunks()) {
                        Form stored = of(store, layout, c.hash());
                        String where = "chunk " + c.hash() + " of " + e.name() + " at " + c.offset() + " in step " + m.step()
                                + " (" + store.describe() + ")";
                        Assertions.assertEquals(new Form(c.codec(), c.storedLength(), c.bases()), stored,
                                where + ": the manifest records another form than the stored one");
                    }
                }
            }
        }
    }
}
