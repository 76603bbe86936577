package dev.cairn;

import java.util.Objects;

/**
 * A store handed to {@link CheckpointAdmin}, with the two names it goes by.
 *
 * @param name     what reports that name tiers call it ({@link GcReport#tier()}, {@link CheckpointInfo#tier()}): a
 *                 tier name, one path segment
 * @param location where it is, as the operator gave it ({@code /ckpt/disk}, {@code s3://bucket/prefix}): what
 *                 messages and the admin's own reports call it
 * @param store    the open store; the admin reads and writes it but never closes it
 */
public record StoreRef(String name, String location, ObjectStore store) {
    public StoreRef {
        EntryNames.checkSegment("store name", name);
        Objects.requireNonNull(location, "location");
        Objects.requireNonNull(store, "store");
    }

    @Override
    public String toString() {
        return location;
    }
}
