/**
 * The disk tier: objects as files under one root, on local disk or a shared file system. Writes are
 * temp-file, fsync, atomic rename (or hard link for create-if-absent), directory fsync, so a process killed at
 * any instant leaves either the old object or the new one, never a torn file. A checkpoint's chunks
 * ({@code putSyncingNameLater}) leave the directory fsync to {@code syncNames}, once per directory for all of them,
 * which the commit calls before it writes the index and MANIFEST. Depends on the API only.
 */
package dev.cairn.backend.fs;
