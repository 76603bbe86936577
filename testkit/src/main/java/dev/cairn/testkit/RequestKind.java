package dev.cairn.testkit;

/**
 * The requests a {@link SimulatedObjectStore} counts, each in the S3 rate class it is limited by: per prefix, S3
 * serves 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second.
 */
public enum RequestKind {
    /** An object written, replacing any there. */
    PUT(true),
    /** A create-only write ({@code If-None-Match: *}); a PUT for S3's rates. */
    PUT_IF_ABSENT(true),
    /** A ranged read. */
    GET(false),
    /** A size and age lookup. */
    HEAD(false),
    /** One page of a listing (at most 1,000 keys); a GET on the bucket for S3's rates. */
    LIST(false),
    /**
     * One page of a listing of the folders directly under a prefix (ListObjectsV2 with delimiter '/': up to 1,000
     * folders and keys directly under it); a LIST for S3's rates, counted apart so that a listing of every key under a
     * prefix can be told from it.
     */
    LIST_FOLDERS(false),
    /** One key removed. */
    DELETE(true),
    /**
     * Up to {@value SimulatedObjectStore#KEYS_PER_DELETE_BATCH} keys removed in one request (S3's DeleteObjects, a
     * POST): counted once against the PUT/DELETE rate of the prefix its keys share.
     */
    DELETE_BATCH(true);

    private final boolean write;

    RequestKind(boolean write) {
        this.write = write;
    }

    /** Whether S3 limits this kind at the PUT/DELETE rate rather than the GET/HEAD rate. */
    public boolean isWrite() {
        return write;
    }
}
