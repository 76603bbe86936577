package dev.cairn;

/** The rules every entry, run and tier name obeys, so that a name can never escape its folder in a store. */
final class EntryNames {
    static final int MAX_LENGTH = 1024;

    private EntryNames() {
    }

    /** Returns {@code name} if it is acceptable, else throws an INVALID_INPUT naming {@code what}. */
    static String check(String what, String name) {
        if (name == null || name.isEmpty()) {
            throw invalid(what, name, "is empty");
        }
        if (name.length() > MAX_LENGTH) {
            throw invalid(what, name.substring(0, 40) + "...", "is longer than " + MAX_LENGTH + " characters");
        }
        if (name.startsWith("/")) {
            throw invalid(what, name, "starts with '/'");
        }
        if (name.contains("..")) {
            throw invalid(what, name, "contains '..'");
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                throw invalid(what, name.replaceAll("\\p{Cntrl}", "?"), "contains control character 0x" + Integer.toHexString(c));
            }
        }
        return name;
    }

    /** Run and tier names become one path segment: stricter than entry names. */
    static String checkSegment(String what, String name) {
        check(what, name);
        if (!name.matches("[A-Za-z0-9._-]+")) {
            throw invalid(what, name, "may hold only letters, digits, '.', '_' and '-'");
        }
        if (name.equals(".")) {
            throw invalid(what, name, "is '.', which names no folder of its own"); // stores refuse a '.' segment
        }
        return name;
    }

    private static CheckpointException invalid(String what, String name, String problem) {
        return new CheckpointException(CheckpointException.Reason.INVALID_INPUT, what + " '" + name + "' " + problem);
    }
}
