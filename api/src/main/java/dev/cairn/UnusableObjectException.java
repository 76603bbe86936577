package dev.cairn;

import java.io.IOException;

/**
 * The store holds something under the key that no reader can use as the object written there: bytes that do not
 * match the store's own record of them (the length and CRC32C an S3 store records with every put, found different
 * by every attempt), or something the store never writes (a symbolic link, a FIFO, a device where a file store keeps
 * its files). Unlike another failure of a read (a 503 after its retries, a disk's EIO), which says nothing of what
 * the store holds, this says the stored object is bad: a repair may put a good copy over it.
 */
public class UnusableObjectException extends IOException {
    private static final long serialVersionUID = 1L;

    public UnusableObjectException(String message) {
        super(message);
    }

    /** Whether {@code failure} or one of its causes is an {@link UnusableObjectException}. */
    public static boolean in(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof UnusableObjectException) {
                return true;
            }
        }
        return false;
    }
}
