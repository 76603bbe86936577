package dev.cairn;

import java.io.IOException;

/**
 * An object larger than its reader's limit, refused before its bytes were read ({@link ObjectStore#readAll(String,
 * long)}). {@link #atLeast} is its size as the store stated it, or a lower bound when the store only said that it is
 * larger than the limit.
 */
public final class ObjectTooLargeException extends IOException {
    private static final long serialVersionUID = 1L;
    private final String key;
    private final long atLeast;
    private final long limit;

    public ObjectTooLargeException(String key, long atLeast, long limit) {
        super("object " + key + " is " + (atLeast > limit + 1 ? "" : "more than ") + (atLeast > limit + 1 ? atLeast : limit)
                + " bytes, above the limit of " + limit + " for reading it whole");
        this.key = key;
        this.atLeast = atLeast;
        this.limit = limit;
    }

    public String key() {
        return key;
    }

    /** The object's size, or a lower bound of it. */
    public long atLeast() {
        return atLeast;
    }

    public long limit() {
        return limit;
    }
}
