package dev.cairn.cli.store;

import dev.cairn.ObjectStore;
import dev.cairn.backend.fs.FileSystemObjectStore;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Store URIs as operators type them, the same forms the configuration takes:
 * <pre>
 * /ckpt/disk, ./ckpt, ckpt          a directory (FileSystemObjectStore)
 * file:/ckpt/disk, file:///ckpt     the same, as a URI
 * s3://bucket, s3://bucket/prefix   S3 or an S3-compatible server (--s3-endpoint URL), credentials from the
 *                                   AWS SDK's default chain (environment variables first)
 * </pre>
 * A store that is only read must already exist: a typo must not quietly create an empty directory.
 */
public final class StoreUris {
    /** The S3 backend, loaded by name so that a build without it still serves disk stores. */
    static final String S3_STORE = "dev.cairn.backend.s3.S3ObjectStore";
    static final String S3_CONFIG = "dev.cairn.backend.s3.S3StoreConfig";

    private StoreUris() {
    }

    /** Whether {@code uri} names object storage. */
    public static boolean isS3(String uri) {
        return uri.toLowerCase(Locale.ROOT).startsWith("s3://");
    }

    /**
     * Opens the store {@code uri} names.
     *
     * @param s3Endpoint an S3-compatible server's URL, or null for AWS S3
     * @param create     whether a missing directory may be created (only for a store being written)
     */
    public static ObjectStore open(String uri, String s3Endpoint, boolean create) throws IOException {
        if (uri == null || uri.isBlank()) {
            throw new IllegalArgumentException("empty store URI: give a directory, a file: URI or s3://bucket/prefix");
        }
        if (isS3(uri)) {
            return openS3(uri, s3Endpoint);
        }
        if (s3Endpoint != null) {
            throw new IllegalArgumentException("--s3-endpoint applies to s3:// stores only, not to " + uri);
        }
        Path dir = directoryOf(uri);
        if (!create && !Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no store there");
        }
        return new FileSystemObjectStore(dir);
    }

    /** The directory of a path or {@code file:} URI. */
    static Path directoryOf(String uri) {
        if (uri.regionMatches(true, 0, "file:", 0, 5)) {
            try {
                URI parsed = new URI(uri);
                if (parsed.getPath() == null || parsed.getPath().isEmpty()) {
                    throw new IllegalArgumentException("file: URI without a path: " + uri);
                }
                return Path.of(parsed.getPath());
            } catch (java.net.URISyntaxException e) {
                throw new IllegalArgumentException("not a file: URI: " + uri + " (" + e.getReason() + ")");
            }
        }
        int colon = uri.indexOf("://");
        if (colon > 0) {
            throw new IllegalArgumentException("unknown store scheme '" + uri.substring(0, colon)
                    + "': use a directory, a file: URI or s3://bucket/prefix");
        }
        return Path.of(uri);
    }

    private static ObjectStore openS3(String uri, String endpoint) throws IOException {
        Class<?> configType;
        Class<?> storeType;
        try {
            configType = Class.forName(S3_CONFIG);
            storeType = Class.forName(S3_STORE);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("s3:// stores need the artifact dev.cairn:cairn-backend-s3 on the class path");
        }
        try {
            Object builder = configType.getMethod("fromUri", String.class).invoke(null, uri);
            if (endpoint != null) {
                builder.getClass().getMethod("endpoint", URI.class).invoke(builder, URI.create(endpoint));
            }
            Object config = builder.getClass().getMethod("build").invoke(builder);
            return (ObjectStore) storeType.getConstructor(configType).newInstance(config);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("cannot open " + uri + ": " + cause, cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("the S3 backend on the class path does not match this cairn: " + e, e);
        }
    }
}
