package dev.cairn;

import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.Set;

/**
 * Opens stores from their URIs; each backend registers one through {@link java.util.ServiceLoader}, so that
 * configuration and the command line name stores the same way and only users of a backend pay for it.
 */
public interface ObjectStoreProvider {
    /** The URI schemes this provider opens, lower case: {@code file}, {@code s3}. */
    Set<String> schemes();

    /** Opens the store at {@code location}; {@code settings} holds backend options such as {@code s3.endpoint}. */
    ObjectStore open(URI location, Map<String, String> settings) throws IOException;
}
