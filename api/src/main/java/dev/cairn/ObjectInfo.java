package dev.cairn;

import java.time.Instant;

/** One object in an {@link ObjectStore} listing. */
public record ObjectInfo(String key, long size, Instant lastModified) {
}
