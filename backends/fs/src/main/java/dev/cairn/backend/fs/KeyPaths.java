package dev.cairn.backend.fs;

import dev.cairn.ObjectKeys;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Maps keys to paths under a root, and refuses any key that could name something outside it.
 *
 * <p>The grammar is the one every Cairn store shares ('/'-separated non-empty segments, none "." or "..", no
 * backslash, no control characters), plus one rule of this store: no segment may start with {@link #TEMP_PREFIX},
 * which marks files being written.
 */
final class KeyPaths {
    /** Names of files still being written; never a key, skipped by listings, removed by GC when stale. */
    static final String TEMP_PREFIX = ".tmp-";

    private KeyPaths() {
    }

    /** The file for {@code key} under {@code root}. */
    static Path resolve(Path root, String key) throws IOException {
        check(key, false);
        return root.resolve(key);
    }

    /**
     * The deepest directory that {@code prefix} names in full: "a/b/c" and "a/b/" both give "a/b", so a listing
     * walks only there. The prefix follows the key grammar except that it may be empty or end in '/'.
     */
    static Path deepestDirectory(Path root, String prefix) throws IOException {
        int slash = prefix.lastIndexOf('/');
        if (slash < 0) {
            return root;
        }
        String directory = prefix.substring(0, slash);
        check(directory, true);
        return root.resolve(directory);
    }

    /** The key of {@code file}, a path under {@code root}. */
    static String keyOf(Path root, Path file) {
        String relative = root.relativize(file).toString();
        return file.getFileSystem().getSeparator().equals("/")
                ? relative
                : relative.replace(file.getFileSystem().getSeparator(), "/");
    }

    static boolean isTemporary(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().startsWith(TEMP_PREFIX);
    }

    private static void check(String key, boolean isPrefix) throws IOException {
        ObjectKeys.check(key);
        if (!isPrefix) {
            for (String segment : key.split("/")) {
                if (segment.startsWith(TEMP_PREFIX)) {
                    throw ObjectKeys.invalid(key, "segments starting with '" + TEMP_PREFIX + "' are reserved for files being written");
                }
            }
        }
    }
}
