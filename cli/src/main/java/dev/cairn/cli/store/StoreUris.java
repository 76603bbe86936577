package dev.cairn.cli.store;

import dev.cairn.ObjectStore;
import dev.cairn.ObjectStores;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Store locations as operators type them: the forms {@link ObjectStores} documents (a directory, a {@code file:}
 * URI, {@code s3://bucket/prefix} with {@code --s3-endpoint} for S3-compatible servers), opened by the backend
 * registered for the scheme. A store that is only read must already exist: a typo must not quietly create an empty
 * directory.
 */
public final class StoreUris {
    private StoreUris() {
    }

    /** Whether {@code uri} names object storage. */
    public static boolean isS3(String uri) {
        return uri.toLowerCase(Locale.ROOT).startsWith("s3://");
    }

    /**
     * {@code location} in one spelling per store, to tell whether two locations name the same store: a directory or
     * {@code file:} URI as its absolute, normalised path; any other URI with its scheme in lower case and no trailing
     * '/' (an s3:// prefix is the same with or without one). A location that is no store's comes back as given.
     */
    public static String normalised(String location) {
        if (location == null || location.isBlank()) {
            return location;
        }
        try {
            URI uri = ObjectStores.toUri(location).normalize();
            if ("file".equalsIgnoreCase(uri.getScheme())) {
                return Path.of(uri).toAbsolutePath().normalize().toString();
            }
            String s = uri.toString();
            int colon = s.indexOf(':');
            s = s.substring(0, colon).toLowerCase(Locale.ROOT) + s.substring(colon);
            while (s.endsWith("/") && !s.endsWith("://")) {
                s = s.substring(0, s.length() - 1);
            }
            return s;
        } catch (RuntimeException e) {
            return location; // opening it fails with the reason
        }
    }

    /**
     * Refuses an {@code --s3-endpoint} that no store of the command uses: it would be a typo or a forgotten
     * {@code s3://}.
     */
    public static void checkEndpointUsed(String s3Endpoint, Iterable<String> uris) {
        if (s3Endpoint == null) {
            return;
        }
        for (String uri : uris) {
            if (uri != null && isS3(uri)) {
                return;
            }
        }
        throw new IllegalArgumentException("--s3-endpoint applies to s3:// stores only, and this command names none");
    }

    /**
     * Opens the store {@code uri} names.
     *
     * @param s3Endpoint an S3-compatible server's URL, or null for AWS S3; ignored for a store that is not s3://
     *                   (one command may name both, such as a restore from S3 to local disk)
     * @param create     whether a missing directory may be created (only for a store being written)
     */
    public static ObjectStore open(String uri, String s3Endpoint, boolean create) throws IOException {
        if (uri == null || uri.isBlank()) {
            throw new IllegalArgumentException("empty store URI: give a directory, a file: URI or s3://bucket/prefix");
        }
        URI location = ObjectStores.toUri(uri);
        if ("file".equalsIgnoreCase(location.getScheme()) && !create && !Files.isDirectory(Path.of(location))) {
            throw new NoSuchFileException(Path.of(location).toString(), null, "no store there");
        }
        return ObjectStores.open(uri, s3Endpoint == null || !isS3(uri)
                ? Map.of() : Map.of(ObjectStores.S3_ENDPOINT, s3Endpoint));
    }
}
