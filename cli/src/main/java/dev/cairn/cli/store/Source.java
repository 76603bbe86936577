package dev.cairn.cli.store;

import dev.cairn.ObjectStore;

/** One store given on the command line: the URI as the operator typed it (for messages) and the open store. */
public record Source(String uri, ObjectStore store) {
    @Override
    public String toString() {
        return uri;
    }
}
