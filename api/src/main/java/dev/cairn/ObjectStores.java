package dev.cairn;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Store locations as users write them, the same in configuration and on the command line:
 * <pre>
 * /ckpt/disk, ./ckpt, ckpt          a directory                      (dev.cairn:cairn-backend-fs)
 * file:/ckpt/disk, file:///ckpt     the same, as a URI
 * s3://bucket, s3://bucket/prefix   S3 or an S3-compatible server     (dev.cairn:cairn-backend-s3)
 *                                   settings: s3.endpoint, s3.region; credentials from the AWS SDK's default chain
 * </pre>
 */
public final class ObjectStores {
    /** Setting: the URL of an S3-compatible server (path-style access), instead of AWS S3. */
    public static final String S3_ENDPOINT = "s3.endpoint";
    /** Setting: the region to sign requests for. */
    public static final String S3_REGION = "s3.region";

    private ObjectStores() {
    }

    /** The URI of a location: a path becomes an absolute {@code file:} URI. */
    public static URI toUri(String location) {
        if (location == null || location.isBlank()) {
            throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                    "empty store location: give a directory, a file: URI or s3://bucket/prefix");
        }
        int colon = location.indexOf(':');
        if (colon > 1 && location.substring(0, colon).matches("[A-Za-z][A-Za-z0-9+.-]*")) {
            try {
                URI uri = new URI(location);
                if ("file".equalsIgnoreCase(uri.getScheme()) && (uri.getPath() == null || uri.getPath().isEmpty())) {
                    throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, "file: URI without a path: " + location);
                }
                return uri;
            } catch (URISyntaxException e) {
                throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG,
                        "not a store URI: " + location + " (" + e.getReason() + ")");
            }
        }
        return Path.of(location).toAbsolutePath().toUri();
    }

    /** Opens the store at {@code location} with the backend that serves its scheme. */
    public static ObjectStore open(String location, Map<String, String> settings) throws IOException {
        URI uri = toUri(location);
        return provider(uri, location).open(uri, settings);
    }

    /**
     * Checks, opening nothing, that a backend on the class path serves {@code location}'s scheme: INVALID_CONFIG as
     * {@link #open} would fail, so that a configuration is refused before any of its stores is opened.
     */
    public static void checkServed(String location) {
        provider(toUri(location), location);
    }

    private static ObjectStoreProvider provider(URI uri, String location) {
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
        for (ObjectStoreProvider p : ServiceLoader.load(ObjectStoreProvider.class, ObjectStores.class.getClassLoader())) {
            if (p.schemes().contains(scheme)) {
                return p;
            }
        }
        String artifact = switch (scheme) {
            case "file" -> "dev.cairn:cairn-backend-fs";
            case "s3" -> "dev.cairn:cairn-backend-s3";
            default -> null;
        };
        throw new CheckpointException(CheckpointException.Reason.INVALID_CONFIG, artifact == null
                ? "unknown store scheme '" + scheme + "' in " + location + ": use a directory, a file: URI or s3://bucket/prefix"
                : scheme + ": stores need the artifact " + artifact + " on the class path");
    }
}
